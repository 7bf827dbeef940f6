#!/usr/bin/env bash
# run_bad_input_test.sh DESTSIM — `destsim run` on bad input exits 2 with one
# clear line naming the file, the JSON path and what was expected; a failing
# expectation exits 1 naming the jobs; never a crash.
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "run_bad_input_test FAILED: $*" >&2; exit 1; }
check() {  # check WANT_EXIT PATTERN FILE
  "$bin" run "$3" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  [ "$got" -eq "$1" ] || fail "$3: exit $got, expected $1; stderr: $(cat "$tmp/err")"
  grep -qF -- "$2" "$tmp/err" "$tmp/out" || fail "$3: output lacks '$2': $(cat "$tmp/err" "$tmp/out")"
}
base='"scenario": 1, "name": "t", "destination": {"name": "iterable", "config": {"api_key": "k"}}'
printf '{%s, "input": {"records": []}, "faults": [{"respond": {"status": "500"}}]}' "$base" > "$tmp/a.json"
check 2 "$tmp/a.json: /faults/0/respond/status: expected an integer, got \"500\"" "$tmp/a.json"
printf '{%s, "input": {"records": []}, "expect": {"properties": ["A1", "Q7"]}}' "$base" > "$tmp/b.json"
check 2 "$tmp/b.json: /expect/properties/1: expected a property id" "$tmp/b.json"
printf '{"scenario": 1, "name": "t", "destination": {"name": "nope"}, "input": {"records": []}}' > "$tmp/c.json"
check 2 "$tmp/c.json: /destination/name: expected a registered destination" "$tmp/c.json"
printf '{"scenario": 1, "name": "t",' > "$tmp/d.json"
check 2 "$tmp/d.json: line 1" "$tmp/d.json"
check 2 "$tmp/missing.json: cannot read" "$tmp/missing.json"
printf '{%s, "input": {"records": [{"id": 1, "payload": {"type": "track", "email": "a@x.io", "eventName": "e"}}]}, "expect": {"job": {"1": "failed"}}}' "$base" > "$tmp/e.json"
check 1 "job 1: expected failed, got succeeded" "$tmp/e.json"
printf '{%s, "input": {"records": []}, "expect": {"properties": ["D1"]}}' "$base" > "$tmp/f.json"
"$bin" run "$tmp/f.json" > "$tmp/out" 2>&1
[ $? -eq 0 ] || fail "an n/a property failed the run: $(cat "$tmp/out")"
grep -q "property D1: n/a" "$tmp/out" || fail "D1 not reported n/a: $(cat "$tmp/out")"

# Hostile input (issue "Hardening"): each exits 2 at load with its location and
# limit; several of these once crashed (SIGSEGV, exit 3) or ran and failed later.
check_cmd() {  # check_cmd WANT_EXIT PATTERN ARGS...
  local want=$1 pat=$2; shift 2
  timeout 60 "$bin" "$@" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "$*: exit $got, expected $want; stderr: $(head -c 600 "$tmp/err")"
  grep -qF -- "$pat" "$tmp/err" "$tmp/out" || fail "$*: output lacks '$pat': $(head -c 600 "$tmp/err" "$tmp/out")"
}
deep=$(printf '%*s' 100000 '' | tr ' ' '['; printf '%*s' 100000 '' | tr ' ' ']')
ok_input='"input": {"records": [{"id": 1, "payload": {"type": "track", "email": "a@x.io", "eventName": "e"}}]}'
printf '{%s, "input": {"records": [{"payload": %s}]}}' "$base" "$deep" > "$tmp/deep.json"
check 2 "$tmp/deep.json: line 1, column" "$tmp/deep.json"
grep -qF "nested deeper than 128 levels (the limit on JSON nesting)" "$tmp/err" || fail "deep payload: $(cat "$tmp/err")"
printf '{%s, %s, "origin": %s}' "$base" "$ok_input" "$deep" > "$tmp/deep2.json"
check 2 "nested deeper than 128 levels" "$tmp/deep2.json"
printf '{"scenario": 1e400}' > "$tmp/num.json"
check 2 "$tmp/num.json: line 1, column 14: the number 1e400 is out of range" "$tmp/num.json"
printf '{%s, "input": {"generate": {"records": 2}, "pace": "106751d"}}' "$base" > "$tmp/pace.json"
check 2 "$tmp/pace.json: /input/pace: expected a duration string like \"250ms\", \"10s\", \"6h\" (whole nanoseconds, at most 3650d)" "$tmp/pace.json"
printf '{%s, "input": {"generate": {"records": 2}, "pace": "0.5ns"}}' "$base" > "$tmp/halfns.json"
check 2 "$tmp/halfns.json: /input/pace: expected a duration" "$tmp/halfns.json"
printf '{%s, "input": {"generate": {"records": 2, "payload_bytes": "9000000000GB"}}}' "$base" > "$tmp/pb.json"
check 2 "$tmp/pb.json: /input/generate/payload_bytes:" "$tmp/pb.json"
{ printf '{%s, %s}' "$base" "$ok_input"; printf '\0'; } > "$tmp/nul.json"
check 2 "a NUL byte" "$tmp/nul.json"
for key in '-1' ' 17' '1e3' '0'; do
  printf '{%s, %s, "expect": {"job": {"%s": "failed"}}}' "$base" "$ok_input" "$key" > "$tmp/job.json"
  check 2 "$tmp/job.json: /expect/job/$key: expected a job id (a positive integer, digits only)" "$tmp/job.json"
done
for key in '429abc' '4.29e2' '-5' '4XX' '6xx'; do
  printf '{%s, %s, "expect": {"requests": {"by_status": {"%s": 1}}}}' "$base" "$ok_input" "$key" > "$tmp/bs.json"
  check 2 "$tmp/bs.json: /expect/requests/by_status/$key: expected an HTTP status" "$tmp/bs.json"
done
printf '{%s, %s, "expect": {"requests": {"min": 10, "max": 1}}}' "$base" "$ok_input" > "$tmp/req.json"
check 2 "$tmp/req.json: /expect/requests: min (10) is over max (1)" "$tmp/req.json"
printf '{%s, %s, "expect": {"fake": {"/~2": 1}}}' "$base" "$ok_input" > "$tmp/ptr.json"
check 2 "$tmp/ptr.json: /expect/fake/~1~02: expected a JSON pointer" "$tmp/ptr.json"
printf '{%s, %s, "faults": [{"respond": {"status": 100}}]}' "$base" "$ok_input" > "$tmp/r100.json"
check 2 "$tmp/r100.json: /faults/0/respond/status: expected an HTTP status 200-599 or an SFTP status 1-31, got 100" "$tmp/r100.json"
printf '{%s, %s, "faults": [{"respond": {"status": 200, "headers": {"X-A": "1\\r\\nSet-Cookie: a=b"}}}]}' "$base" "$ok_input" > "$tmp/crlf.json"
check 2 "$tmp/crlf.json: /faults/0/respond/headers/X-A: a header value holds no CR, LF or NUL" "$tmp/crlf.json"
printf '{%s, %s, "faults": [{"outage": {"status": 200}}]}' "$base" "$ok_input" > "$tmp/o200.json"
check 2 "$tmp/o200.json: /faults/0/outage/status: expected an integer in [400, 599], got 200" "$tmp/o200.json"
printf '{%s, "input": {"generate": {"records": 4}}, "sync": {"streams": ["a"], "messages": [{"after": 1, "end": "zzz"}]}}' "$base" > "$tmp/sync.json"
check 2 "$tmp/sync.json: /sync/messages/0/end: names stream \"zzz\", which /sync/streams does not declare" "$tmp/sync.json"
check 2 "$tmp: is a directory, expected a JSON file" "$tmp"
mkfifo "$tmp/fifo" && check 2 "$tmp/fifo: is not a regular file" "$tmp/fifo"
check 2 "/dev/zero: is not a regular file" /dev/zero
check_cmd 2 'expected a seed: an unsigned 64-bit integer (digits only), got "-1"' run "$tmp/e.json" --seed -1
check_cmd 2 "/dev/full: writing the trace failed" run "$tmp/e.json" --trace /dev/full
# An inline declarative spec's errors name the scenario file and the path into it.
printf '{"scenario": 1, "name": "t", "destination": {"name": "declarative", "config": {"api_key": "k", "spec": {"spec": 1, "name": "x", "bogus": 1}}}, "input": {"records": []}}' > "$tmp/inline.json"
check 2 "$tmp/inline.json: /destination/config/spec/bogus: unknown key \"bogus\"" "$tmp/inline.json"
# certify --spec and serve --faults read files through the same limits.
printf '{"spec": 1e400}' > "$tmp/spec.json"
check_cmd 2 "$tmp/spec.json: line 1, column 10: the number 1e400 is out of range" certify --spec "$tmp/spec.json" --cases 1
check_cmd 2 "$tmp/num.json: line 1, column 14: the number 1e400 is out of range" serve iterable --faults "$tmp/num.json" --max-lifetime 5s
# A spec named like a registered destination never certifies the built-in instead.
sed 's/"name": *"record_results_import"/"name": "iterable"/' \
  "$(dirname "$0")/../destinations/declarative/specs/record_results_import.json" > "$tmp/named.json"
check_cmd 2 "$tmp/named.json: /name: \"iterable\" is already a registered destination" certify --spec "$tmp/named.json" --cases 1
echo "run_bad_input_test passed"
