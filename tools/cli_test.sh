#!/usr/bin/env bash
# cli_test.sh DESTSIM — the command line's contract: exit codes, bad input named,
# and `serve` answering real HTTP on loopback, stopping by itself and on SIGTERM.
set -u
bin=$1
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "cli_test FAILED: $*" >&2; exit 1; }
expect_exit() {  # expect_exit CODE ARGS...
  local want=$1; shift
  "$bin" "$@" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "destsim $* exited $got, expected $want; stderr: $(cat "$tmp/err")"
}

expect_exit 0 --help
grep -q "serve" "$tmp/out" || fail "--help does not list serve"
expect_exit 0 --version
grep -qE '^destsim [0-9]+\.[0-9]+\.[0-9]+' "$tmp/out" || fail "--version printed: $(cat "$tmp/out")"
expect_exit 2 --no-such-flag
expect_exit 2
expect_exit 2 serve
expect_exit 0 list
grep -q "scripted" "$tmp/out" || fail "list does not show the scripted fake"
expect_exit 2 serve nosuchfake
grep -q 'unknown fake "nosuchfake"' "$tmp/err" || fail "unknown fake not named: $(cat "$tmp/err")"
printf '[{"respond": {"status": "500"}}]' > "$tmp/bad.json"
expect_exit 2 serve scripted --faults "$tmp/bad.json"
grep -q "$tmp/bad.json: /0/respond/status: expected an integer" "$tmp/err" || fail "bad plan not named: $(cat "$tmp/err")"
expect_exit 2 serve scripted --options '{"fail_cnt": 1}'
grep -q 'unknown key "fail_cnt"' "$tmp/err" || fail "bad options not named: $(cat "$tmp/err")"

# http GET/POST over bash's /dev/tcp (no curl on a fresh machine): prints the status code.
http() {  # http PORT METHOD PATH [BODY]
  local port=$1 method=$2 path=$3 body=${4:-}
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf '%s %s HTTP/1.1\r\nHost: api.iterable.com\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$method" "$path" "${#body}" "$body" >&3
  local status_line
  IFS= read -r -t 10 status_line <&3
  exec 3<&- 3>&-
  echo "$status_line" | awk '{print $2}'
}
wait_for_url() {  # wait_for_url LOGFILE -> prints port
  for _ in $(seq 1 100); do
    local url
    url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$1" | head -1)
    [ -n "$url" ] && { echo "${url##*:}"; return 0; }
    sleep 0.1
  done
  return 1
}

# A bounded server: one 500 then successes; a rate-limit rule from a fault plan; stops after 4 requests.
printf '[{"match": {"path": "/api/users/*"}, "times": 1, "rate_limit": {"retry_after": "30s"}}]' > "$tmp/plan.json"
"$bin" serve scripted --port 0 --options '{"fail_count": 1}' --faults "$tmp/plan.json" --max-requests 4 \
  --max-lifetime 60s > "$tmp/serve.log" 2>&1 &
pid=$!; pids+=("$pid")
port=$(wait_for_url "$tmp/serve.log") || fail "serve printed no URL: $(cat "$tmp/serve.log")"
grep -q '^seed=1 ' "$tmp/serve.log" || fail "serve does not print its seed first"
s1=$(http "$port" POST /api/events/trackBulk '{"events":[]}')
s2=$(http "$port" POST /api/users/bulkUpdate '{"users":[]}')
s3=$(http "$port" POST /api/users/bulkUpdate '{"users":[]}')
s4=$(http "$port" GET /_destsim/health)
s5=$(http "$port" POST /api/events/trackBulk '{"events":[]}')
[ "$s1 $s2 $s3 $s4 $s5" = "500 429 200 200 200" ] || fail "statuses were: $s1 $s2 $s3 $s4 $s5"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "serve did not stop after --max-requests"
wait "$pid"; rc=$?
[ "$rc" -eq 0 ] || fail "bounded serve exited $rc"
grep -q "stopped after 4 requests" "$tmp/serve.log" || fail "no stop line: $(cat "$tmp/serve.log")"

# An unbounded-count server stops on SIGTERM with exit 0.
"$bin" serve scripted --port 0 --max-lifetime 60s > "$tmp/serve2.log" 2>&1 &
pid=$!; pids+=("$pid")
port=$(wait_for_url "$tmp/serve2.log") || fail "serve printed no URL"
[ "$(http "$port" POST /api/events/trackBulk '{}')" = "200" ] || fail "second server did not answer"
kill -TERM "$pid"
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "serve ignored SIGTERM"
wait "$pid"; rc=$?
[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM"
# The admin surface: the token from DESTSIM_ADMIN_TOKEN, no Origin, a loopback Host.
admin() {  # admin PORT PATH EXTRA_HEADER_LINES -> status
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n%sConnection: close\r\n\r\n' "$2" "$1" "$3" >&3
  local status_line
  IFS= read -r -t 10 status_line <&3
  exec 3<&- 3>&-
  echo "$status_line" | awk '{print $2}'
}
DESTSIM_ADMIN_TOKEN=s3cret "$bin" serve scripted --port 0 --max-lifetime 60s > "$tmp/serve3.log" 2>&1 &
pid=$!; pids+=("$pid")
port=$(wait_for_url "$tmp/serve3.log") || fail "serve printed no URL"
grep -q "admin token: s3cret (header X-Destsim-Token" "$tmp/serve3.log" || fail "token not printed: $(cat "$tmp/serve3.log")"
a1=$(admin "$port" /_destsim/accepted "")
a2=$(admin "$port" /_destsim/accepted $'X-Destsim-Token: wrong\r\n')
a3=$(admin "$port" /_destsim/accepted $'X-Destsim-Token: s3cret\r\n')
a4=$(admin "$port" /_destsim/accepted $'X-Destsim-Token: s3cret\r\nOrigin: http://evil.example\r\n')
a5=$(admin "$port" /_destsim/health "")
[ "$a1 $a2 $a3 $a4 $a5" = "403 403 200 403 200" ] || fail "admin statuses were: $a1 $a2 $a3 $a4 $a5"
kill -TERM "$pid"; wait "$pid"
expect_exit 2 serve scripted --host 0.0.0.0 --max-lifetime 1s
grep -q -- "--host 0.0.0.0: binding beyond loopback" "$tmp/err" || fail "remote bind not refused: $(cat "$tmp/err")"

# serve's bounds: SFTP flags refused for an HTTP fake, and not given twice.
expect_exit 2 serve iterable --quota 1MB --max-lifetime 1s
grep -q -- "--max-sessions and --quota bound an SFTP server" "$tmp/err" || fail "--quota on HTTP: $(cat "$tmp/err")"
expect_exit 2 serve sftp --max-sessions 3 --options '{"root": "/tmp", "user": "u", "max_sessions": 2}' --max-lifetime 1s
grep -q -- '--max-sessions: --options also sets "max_sessions"' "$tmp/err" || fail "twice: $(cat "$tmp/err")"
expect_exit 2 serve iterable --max-state 12parsecs --max-lifetime 1s
grep -q -- "--max-state:" "$tmp/err" || fail "--max-state not named: $(cat "$tmp/err")"

# deliver: bad input named (exit 2), then a real delivery to `serve`, resumed from its store.
expect_exit 2 deliver iterable --generate 10
expect_exit 2 deliver iterable --generate 10 --store "$tmp/d.db"
grep -q -- "--url BASE_URL" "$tmp/err" || fail "deliver without --url: $(cat "$tmp/err")"
printf '{"api_key": "test-key", "flush_interval": "50ms"}' > "$tmp/cfg.json"
printf '{"id": 1, "payload": {"type": "track"}}\n{"id": 1, "payload": {}}\n' > "$tmp/dup.jsonl"
expect_exit 2 deliver iterable --input "$tmp/dup.jsonl" --config "$tmp/cfg.json" --store "$tmp/d.db" --url http://127.0.0.1:9
grep -q "dup.jsonl: line 2: /id: id 1 is already the id of line 1" "$tmp/err" || fail "dup id: $(cat "$tmp/err")"
printf '{"id": 1, "payload": {}}\n{"id": 2, "payload": [1,\n' > "$tmp/cut.jsonl"
expect_exit 2 deliver iterable --input "$tmp/cut.jsonl" --config "$tmp/cfg.json" --store "$tmp/d.db" --url http://127.0.0.1:9
grep -q "cut.jsonl: line 2" "$tmp/err" || fail "cut line not named: $(cat "$tmp/err")"
printf '{"api_key": 5}' > "$tmp/badcfg.json"
expect_exit 2 deliver iterable --generate 5 --config "$tmp/badcfg.json" --store "$tmp/d.db" --url http://127.0.0.1:9
grep -q "badcfg.json" "$tmp/err" || fail "bad config not named: $(cat "$tmp/err")"
"$bin" serve iterable --port 0 --options '{"api_key": "test-key"}' --max-lifetime 60s > "$tmp/serve4.log" 2>&1 &
pid=$!; pids+=("$pid")
port=$(wait_for_url "$tmp/serve4.log") || fail "serve printed no URL"
expect_exit 0 deliver iterable --generate 200 --config "$tmp/cfg.json" --store "$tmp/d.db" \
  --url "http://127.0.0.1:$port" --outcomes "$tmp/outcomes.jsonl"
grep -q "^200 succeeded" "$tmp/out" || fail "deliver summary: $(cat "$tmp/out")"
[ "$(grep -c '"state":"succeeded"' "$tmp/outcomes.jsonl")" -eq 200 ] || fail "outcomes: $(head -3 "$tmp/outcomes.jsonl")"
expect_exit 0 deliver iterable --generate 200 --config "$tmp/cfg.json" --store "$tmp/d.db" --url "http://127.0.0.1:$port"
grep -q "200 jobs already, 200 terminal" "$tmp/out" || fail "rerun did not read the store: $(cat "$tmp/out")"
grep -q '"batches":0' "$tmp/out" || fail "rerun sent again: $(cat "$tmp/out")"
expect_exit 2 deliver iterable --generate 201 --config "$tmp/cfg.json" --store "$tmp/d.db" --url "http://127.0.0.1:$port"
grep -q "written by a delivery of another destination or input" "$tmp/err" || fail "other input: $(cat "$tmp/err")"
kill -TERM "$pid"; wait "$pid"
# deliver under a Sync (a staging destination: streams committed whole) and
# over real SFTP sessions (libssh) to `serve sftp`, the password from the environment.
"$bin" serve warehouse --port 0 --max-lifetime 60s > "$tmp/serve5.log" 2>&1 &
pid=$!; pids+=("$pid")
port=$(wait_for_url "$tmp/serve5.log") || fail "serve warehouse printed no URL"
printf '{"api_key": "k"}' > "$tmp/wcfg.json"
expect_exit 0 deliver staged_table --generate 120 --config "$tmp/wcfg.json" --store "$tmp/w.db" --url "http://127.0.0.1:$port"
grep -q '^120 succeeded' "$tmp/out" && grep -q '"commits":2' "$tmp/out" || fail "staged_table deliver: $(cat "$tmp/out")"
kill -TERM "$pid"; wait "$pid"
mkdir -p "$tmp/sftp-root"
DESTSIM_SFTP_PASSWORD=pw "$bin" serve sftp --port 0 --options "{\"root\": \"$tmp/sftp-root\", \"user\": \"u\"}" \
  --max-lifetime 60s > "$tmp/serve6.log" 2>&1 &
pid=$!; pids+=("$pid")
sport=""
for _ in $(seq 1 100); do
  sport=$(sed -n 's/^listening on 127\.0\.0\.1://p' "$tmp/serve6.log"); [ -n "$sport" ] && break; sleep 0.1
done
[ -n "$sport" ] || fail "serve sftp printed no port: $(cat "$tmp/serve6.log")"
grep -q "password" "$tmp/serve6.log" && grep -q "warning" "$tmp/serve6.log" && fail "an env password must not warn"
printf '{"host": "127.0.0.1", "port": %s, "username": "u", "password": "pw", "host_key_policy": "accept_new", "known_hosts": "%s", "destination_id": "d", "job_run_id": "r", "file_path": "/out/{destinationID}/{jobRunID}/rows.csv"}' \
  "$sport" "$tmp/known_hosts" > "$tmp/scfg.json"
expect_exit 0 deliver sftp --generate 50 --config "$tmp/scfg.json" --store "$tmp/s.db"
grep -q '^50 succeeded' "$tmp/out" || fail "sftp deliver: $(cat "$tmp/out") $(cat "$tmp/err")"
csv=$(cat "$tmp"/sftp-root/out/d/r/rows*.csv 2>/dev/null)
{ [ "${csv%%,*}" = job_id ] && echo "$csv" | grep -q "^50,"; } || fail "the CSV on the server: $(ls -R "$tmp/sftp-root")"
kill -TERM "$pid"; wait "$pid"

# validate: every shipped scenario, spec and fault plan is valid (0); a bad one
# exits 2 naming file and path, and the good ones beside it are still listed.
src_dir=$(cd "$(dirname "$0")/.." && pwd)
expect_exit 0 validate "$src_dir"/scenarios/*/*.json "$src_dir"/destinations/declarative/specs/*.json \
  "$src_dir"/examples/fault_plans/*.json
[ "$(grep -c ': ok (' "$tmp/out")" -ge 60 ] || fail "validate listed: $(head -3 "$tmp/out")"
printf '{"scenario": 1, "name": "x", "destination": {"name": "iterable", "config": {"api_key": "k"}}, "input": {"generate": {"records": "5"}}}' > "$tmp/badv.json"
expect_exit 2 validate "$tmp/badv.json" "$src_dir/examples/fault_plans/flaky-api.json"
grep -q "badv.json: /input/generate/records: expected an integer" "$tmp/err" || fail "validate: $(cat "$tmp/err")"
grep -q "flaky-api.json: ok" "$tmp/out" || fail "validate stopped at the bad file"
printf '{"hello": 1}' > "$tmp/what.json"
expect_exit 2 validate "$tmp/what.json"
grep -q "expected a scenario" "$tmp/err" || fail "validate of an unknown kind: $(cat "$tmp/err")"
expect_exit 0 schema
grep -q '"title": "destsim scenario' "$tmp/out" || fail "schema printed: $(head -3 "$tmp/out")"
expect_exit 0 schema fault_plan
expect_exit 0 schema spec
grep -q '"title": "destsim declarative spec' "$tmp/out" || fail "schema spec printed: $(head -3 "$tmp/out")"
expect_exit 2 schema nope

# must_reject: a file that must be refused at load passes run and validate (0)
# only when refused at its path with its words; when it loads, run exits 1.
mr="$src_dir/scenarios/iterable/must-reject-records-max-over-the-api-limit.json"
expect_exit 0 run "$mr"
grep -q "rejected at load as it declares (/destination/config/records_max)" "$tmp/out" || fail "run must_reject: $(cat "$tmp/out")"
expect_exit 0 validate "$mr"
sed 's/"records_max": 5000/"records_max": 50/' "$mr" > "$tmp/mr-loads.json"
expect_exit 1 run "$tmp/mr-loads.json"
grep -q "must be rejected at /destination/config/records_max, but it loaded" "$tmp/err" || fail "run of a must_reject that loads: $(cat "$tmp/err")"
expect_exit 2 validate "$tmp/mr-loads.json"
sed 's|"path": "/destination/config/records_max"|"path": "/input"|' "$mr" > "$tmp/mr-elsewhere.json"
expect_exit 1 run "$tmp/mr-elsewhere.json"
grep -q "but the loader said: .*records_max" "$tmp/err" || fail "run of a must_reject refused elsewhere: $(cat "$tmp/err")"

# migrate: a version 1 file becomes version 2 in place (crashes → crash events),
# means the same scenario (same trace hash), and --check then finds nothing to do.
cp "$src_dir/scenarios/marketo/crash-at-time.json" "$tmp/m2.json"
python3 - "$tmp/m2.json" "$tmp/m1.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["scenario"] = 1
d["crashes"] = [dict({k: v for k, v in e.items() if k != "crash"}, **e["crash"]) for e in d.pop("events")]
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
expect_exit 1 migrate --check "$tmp/m1.json"
grep -q "m1.json: version 1, needs migrating" "$tmp/out" || fail "migrate --check: $(cat "$tmp/out")"
"$bin" run "$tmp/m1.json" > "$tmp/run-v1" 2>&1 || fail "a version 1 file does not run: $(cat "$tmp/run-v1")"
expect_exit 0 migrate "$tmp/m1.json"
grep -q "m1.json: migrated to version 2" "$tmp/out" || fail "migrate: $(cat "$tmp/out")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["scenario"] == 2 and "crashes" not in d and d["events"][0]["crash"], d' "$tmp/m1.json" || fail "migrated file: $(head -c 400 "$tmp/m1.json")"
"$bin" run "$tmp/m1.json" > "$tmp/run-v2" 2>&1 || fail "the migrated file does not run: $(cat "$tmp/run-v2")"
[ "$(tail -1 "$tmp/run-v1")" = "$(tail -1 "$tmp/run-v2")" ] || fail "migrating changed the run: $(tail -1 "$tmp/run-v1") vs $(tail -1 "$tmp/run-v2")"
expect_exit 0 migrate --check "$tmp/m1.json"
grep -q "already version 2" "$tmp/out" || fail "migrate --check after: $(cat "$tmp/out")"
expect_exit 2 migrate "$tmp/badv.json"
grep -q "badv.json: /input/generate/records" "$tmp/err" || fail "migrate of a bad file: $(cat "$tmp/err")"
expect_exit 0 migrate --check "$src_dir"/scenarios/*/*.json  # --check: never rewrite the source tree
[ "$(grep -c 'already version 2' "$tmp/out")" -ge 70 ] || fail "the shipped library is not all version 2: $(grep -v already "$tmp/out" | head -3)"

# run: same file and seed → same trace hash; --trace writes the JSONL it hashed; no secret in it.
src=$(cd "$(dirname "$0")/.." && pwd)
scenario="$src/scenarios/iterable/5xx-then-recovery.json"
"$bin" run "$scenario" --trace "$tmp/t1.jsonl" > "$tmp/r1" 2>&1 || fail "run failed: $(cat "$tmp/r1")"
"$bin" run "$scenario" > "$tmp/r2" 2>&1 || fail "second run failed"
h1=$(sed -n 's/^trace-hash: //p' "$tmp/r1"); h2=$(sed -n 's/^trace-hash: //p' "$tmp/r2")
[ -n "$h1" ] && [ "$h1" = "$h2" ] || fail "trace hashes differ: $h1 vs $h2"
[ "$(tail -1 "$tmp/r1")" = "trace-hash: $h1" ] || fail "trace-hash is not the last line"
[ "$(wc -l < "$tmp/t1.jsonl")" -gt 100 ] || fail "trace file too short"
grep -q "test-key" "$tmp/t1.jsonl" && fail "the API key leaked into the trace"
"$bin" run "$scenario" --seed 99 > "$tmp/r3" 2>&1 || fail "run --seed failed"
h3=$(sed -n 's/^trace-hash: //p' "$tmp/r3")
[ "$h3" != "$h1" ] || fail "--seed did not change the run"
grep -q '^seed=99 ' "$tmp/r3" || fail "run does not print the seed it used"

# diff: the same trace is the same (0); another seed parts at its first event (1), naming the key.
"$bin" run "$scenario" --trace "$tmp/t2.jsonl" > /dev/null 2>&1 || fail "second traced run failed"
"$bin" run "$scenario" --seed 99 --trace "$tmp/t3.jsonl" > /dev/null 2>&1 || fail "third traced run failed"
expect_exit 0 diff "$tmp/t1.jsonl" "$tmp/t2.jsonl"
grep -q "the traces are the same" "$tmp/out" || fail "diff of equal traces: $(cat "$tmp/out")"
expect_exit 1 diff "$tmp/t1.jsonl" "$tmp/t3.jsonl"
grep -q "at event 1 " "$tmp/out" && grep -q "  seed: " "$tmp/out" || fail "diff of seeds: $(cat "$tmp/out")"
expect_exit 1 diff "$tmp/t1.jsonl" "$tmp/t3.jsonl" --ignore seed --context 1
grep -q "at event 2 " "$tmp/out" && grep -q "before it, the same in both" "$tmp/out" || fail "diff --ignore: $(cat "$tmp/out")"
head -20 "$tmp/t1.jsonl" > "$tmp/t4.jsonl"
expect_exit 1 diff "$tmp/t1.jsonl" "$tmp/t4.jsonl"
grep -q "t4.jsonl ends after line 20" "$tmp/out" || fail "diff of a cut trace: $(cat "$tmp/out")"
{ head -1 "$tmp/t1.jsonl"; echo '[1]'; } > "$tmp/bad.jsonl"
expect_exit 2 diff "$tmp/t1.jsonl" "$tmp/bad.jsonl"
grep -q "bad.jsonl: line 2: expected a trace event" "$tmp/err" || fail "diff of a bad trace: $(cat "$tmp/err")"
echo "cli_test passed"
