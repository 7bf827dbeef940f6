#!/usr/bin/env bash
# import_har_test.sh DESTSIM [ROOT] — `destsim import-har`: the shipped recording
# (examples/har/) becomes a scenario that `destsim run` replays request for
# request — the trace's (method, path, status) sequence is the recording's, in
# order — with no credential of the recording in it; the shipped scenario is
# what import writes today, byte for byte; bad recordings exit 2 naming the file
# and the JSON path. The sequence check is shown to fail on a plan whose
# answers are out of order.
set -u
bin=$1
root=${2:-$(cd "$(dirname "$0")/.." && pwd)}
har=$root/examples/har/iterable_rate_limited.har
shipped=$root/examples/har/iterable_rate_limited.scenario.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "import_har_test FAILED: $*" >&2; exit 1; }
py=$(command -v python3) || fail "python3 is needed"
expect_exit() {  # expect_exit CODE ARGS...
  local want=$1; shift
  "$bin" "$@" > "$tmp/out" 2> "$tmp/err"
  local got=$?
  [ "$got" -eq "$want" ] || fail "destsim $* exited $got, expected $want; stderr: $(head -c 600 "$tmp/err")"
}
expect_err() {  # expect_err LITERAL: stderr holds it
  grep -qF -- "$1" "$tmp/err" || fail "stderr lacks '$1': $(head -c 600 "$tmp/err")"
}

expect_exit 0 --help
grep -q "import-har" "$tmp/out" || fail "--help does not list import-har"
expect_exit 0 import-har --help
grep -q -- "--destination" "$tmp/out" || fail "import-har --help does not show --destination"

# --- the shipped recording -------------------------------------------------------
expect_exit 0 import-har "$har" --destination iterable --out "$tmp/imported.json"
expect_err "skipped 1 of 6 entries"
expect_err "www.google-analytics.com"
grep -q "GENERATED" "$tmp/err" && fail "the iterable recording's records were not rebuilt: $(cat "$tmp/err")"
# To standard output, the same bytes; and the same again (deterministic).
expect_exit 0 import-har "$har" --destination iterable
cmp -s "$tmp/out" "$tmp/imported.json" || fail "stdout and --out differ"
cmp -s "$shipped" "$tmp/imported.json" ||
  fail "$shipped is not what import-har writes today (diff: $(diff "$shipped" "$tmp/imported.json" | head -20))"
expect_exit 0 validate "$tmp/imported.json"

# No credential of the recording reaches the scenario: the Api-Key, the cookies
# sent and the cookies set. The values are read from the HAR itself.
"$py" - "$har" > "$tmp/secrets" <<'EOF' || fail "could not read the recording's secrets"
import json, sys
log = json.load(open(sys.argv[1]))["log"]
secret = lambda n: n.lower() in ("authorization", "cookie", "set-cookie", "api-key", "x-api-key") or \
    any(p in n.lower() for p in ("token", "secret", "key", "auth"))
values = set()
for e in log["entries"]:
    for side in ("request", "response"):
        m = e.get(side) or {}
        for h in m.get("headers", []):
            if secret(h["name"]):
                values.add(h["value"])
                # A cookie's value alone, too ("AWSALB=<value>; Path=/").
                for part in h["value"].split(";"):
                    if "=" in part: values.add(part.split("=", 1)[1].strip())
        for c in m.get("cookies", []):
            values.add(c["value"])
for v in sorted(values):
    if len(v) >= 8: print(v)
EOF
[ "$(wc -l < "$tmp/secrets")" -ge 3 ] || fail "the recording should hold an Api-Key and cookies: $(cat "$tmp/secrets")"
while IFS= read -r s; do
  grep -qF -- "$s" "$tmp/imported.json" && fail "a secret of the recording is in the scenario: $s"
done < "$tmp/secrets"
grep -q '"Set-Cookie": "\*\*\*"' "$tmp/imported.json" || fail "Set-Cookie not kept redacted"
grep -q '"Retry-After": "2"' "$tmp/imported.json" || fail "Retry-After not kept"
grep -q '"Date"' "$tmp/imported.json" && fail "the recorded Date header was kept"

# --- the replay ---------------------------------------------------------------------
"$bin" run "$tmp/imported.json" --trace "$tmp/trace.jsonl" > "$tmp/run.out" 2> "$tmp/run.err" ||
  fail "destsim run of the imported scenario exited $?: $(tail -20 "$tmp/run.out" "$tmp/run.err")"

# The recording's (method, path, status) in start order (status 0: no answer),
# against the trace's requests in the order they were sent.
sequences() {  # sequences HAR TRACE -> "recorded | replayed" lines; exit 1 when they differ
  "$py" - "$1" "$2" <<'EOF'
import json, sys
from datetime import datetime
from urllib.parse import urlsplit
log = json.load(open(sys.argv[1]))["log"]
def started(e):
    return datetime.fromisoformat(e["startedDateTime"].replace("Z", "+00:00")).timestamp()
recorded = []
for e in sorted(log["entries"], key=started):  # sorted() is stable: ties keep file order
    u = urlsplit(e["request"]["url"])
    if u.hostname != "api.iterable.com": continue
    recorded.append((e["request"]["method"], u.path or "/", (e.get("response") or {}).get("status", 0)))
order, method_path, status = [], {}, {}
for line in open(sys.argv[2]):
    ev = json.loads(line)
    k = ev.get("kind")
    if k == "http.request":
        order.append(ev["req"]); method_path[ev["req"]] = (ev["method"], ev["path"].split("?")[0])
    elif k == "http.response": status[ev["req"]] = ev["status"]
    elif k == "http.error": status[ev["req"]] = 0
replayed = [method_path[r] + (status.get(r, -1),) for r in order]
for i in range(max(len(recorded), len(replayed))):
    a = recorded[i] if i < len(recorded) else None
    b = replayed[i] if i < len(replayed) else None
    print("%s | %s%s" % (a, b, "" if a == b else "   <-- differs"))
sys.exit(0 if recorded == replayed and recorded else 1)
EOF
}
sequences "$har" "$tmp/trace.jsonl" > "$tmp/seq" || fail "the replay's requests are not the recording's:
$(cat "$tmp/seq")"
[ "$(wc -l < "$tmp/seq")" -eq 5 ] || fail "expected 5 recorded requests: $(cat "$tmp/seq")"

# The check can fail: the same plan with the first two trackBulk answers
# swapped (502 before 429) replays another sequence.
"$py" - "$tmp/imported.json" > "$tmp/swapped.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
answers = [i for i, r in enumerate(s["faults"]) if "respond" in r and r["match"]["path"] == "/api/events/trackBulk"]
a, b = answers[0], answers[1]
s["faults"][a], s["faults"][b] = s["faults"][b], s["faults"][a]
print(json.dumps(s, indent=2))
EOF
"$bin" run "$tmp/swapped.json" --trace "$tmp/swapped.jsonl" > /dev/null 2>&1
[ -s "$tmp/swapped.jsonl" ] || fail "the swapped plan left no trace"
sequences "$har" "$tmp/swapped.jsonl" > "$tmp/seq2" && fail "the sequence check passed a plan with its answers out of order"

# A Chrome DevTools recording: a request that got no answer (status 0, the
# reset it became), header names in lower case, waits not recorded (-1).
"$py" - "$tmp/chrome.har" <<'EOF'
import json, sys
body = json.dumps({"events": [{"email": "a@x.io", "eventName": "buy", "id": "events:1"}]}, separators=(",", ":"))
def entry(t, status, headers, text):
    response = {"status": status, "statusText": "", "httpVersion": "h2", "headers": headers, "cookies": [],
                "content": {"size": len(text), "mimeType": "application/json", "text": text} if text else
                           {"size": 0, "mimeType": "x-unknown"},
                "redirectURL": "", "headersSize": -1, "bodySize": -1, "_transferSize": 0}
    if status == 0: response["_error"] = "net::ERR_CONNECTION_RESET"
    return {"startedDateTime": t, "time": 12.5,
            "request": {"method": "POST", "url": "https://api.iterable.com/api/events/trackBulk?x=1", "httpVersion": "h2",
                        "headers": [{"name": "api-key", "value": "chrome-secret-key-0001"}],
                        "queryString": [{"name": "x", "value": "1"}], "cookies": [], "headersSize": -1,
                        "bodySize": len(body), "postData": {"mimeType": "application/json", "text": body}},
            "response": response, "cache": {},
            "timings": {"blocked": -1, "dns": -1, "ssl": -1, "connect": -1, "send": 0, "wait": -1, "receive": 0}}
ok = json.dumps({"successCount": 1, "failCount": 0})
json.dump({"log": {"version": "1.2", "creator": {"name": "WebInspector", "version": "537.36"}, "pages": [], "entries": [
    entry("2024-05-01T10:00:00.000Z", 0, [], ""),
    entry("2024-05-01T10:00:01.500Z", 200, [{"name": "content-type", "value": "application/json"},
                                            {"name": "x-auth-token", "value": "chrome-secret-token-0002"}], ok)]}},
          open(sys.argv[1], "w"), indent=1)
EOF
expect_exit 0 import-har "$tmp/chrome.har" --destination iterable --out "$tmp/chrome.json"
grep -q '"reset": "before"' "$tmp/chrome.json" || fail "the unanswered request did not become a reset: $(cat "$tmp/chrome.json")"
grep -q '"content-type": "application/json"' "$tmp/chrome.json" || fail "content-type (lower case) not kept"
grep -q '"x-auth-token": "\*\*\*"' "$tmp/chrome.json" || fail "x-auth-token not redacted"
grep -q 'chrome-secret' "$tmp/chrome.json" && fail "a secret of the Chrome recording is in the scenario"
"$bin" run "$tmp/chrome.json" --trace "$tmp/chrome.jsonl" > "$tmp/run.out" 2>&1 ||
  fail "the Chrome recording's replay failed: $(tail -20 "$tmp/run.out")"
sequences "$tmp/chrome.har" "$tmp/chrome.jsonl" > "$tmp/seq3" || fail "the Chrome recording's replay differs:
$(cat "$tmp/seq3")"

# A destination that cannot read its records back: the input is generated, and said so.
expect_exit 0 import-har "$har" --destination marketo_bulk_upload --host api.iterable.com --out "$tmp/generated.json"
expect_err "input GENERATED, not reconstructed: 5 records"
grep -q '"generate": {' "$tmp/generated.json" || fail "no generated input: $(head -c 600 "$tmp/generated.json")"
expect_exit 0 validate "$tmp/generated.json"

# The JSON Schema (schemas/) agrees, when Debian's python3-jsonschema is there
# to ask (ctest schema.shipped needs it anyway).
if /usr/bin/python3 -c 'import jsonschema' 2> /dev/null; then
  /usr/bin/python3 - "$root/schemas" "$tmp/imported.json" "$tmp/chrome.json" "$tmp/generated.json" > "$tmp/schema.out" <<'EOF' ||
import glob, json, os, sys
import jsonschema
schemas = {}
for p in glob.glob(os.path.join(sys.argv[1], "*.schema.json")):
    s = json.load(open(p))
    schemas[s["$id"]] = s
sc = schemas["https://destsim.dev/schemas/scenario.schema.json"]
v = jsonschema.Draft202012Validator(sc, resolver=jsonschema.RefResolver.from_schema(sc, store=schemas))
bad = [(f, e.message) for f in sys.argv[2:] for e in v.iter_errors(json.load(open(f)))]
for f, m in bad: print(f + ": " + m)
sys.exit(1 if bad else 0)
EOF
    fail "an imported scenario breaks the JSON Schema: $(head -c 600 "$tmp/schema.out")"
else
  echo "import_har_test: note: /usr/bin/python3 has no jsonschema; the schema check was skipped"
fi

# --- bad input: exit 2, the file and the JSON path named ---------------------------
printf '{"log": {"entries": [' > "$tmp/notjson.har"
expect_exit 2 import-har "$tmp/notjson.har" --destination iterable
expect_err "$tmp/notjson.har: line 1"
printf '{"version": "1.2"}' > "$tmp/nolog.har"
expect_exit 2 import-har "$tmp/nolog.har" --destination iterable
expect_err "$tmp/nolog.har: /"
expect_err '"log"'
printf '{"log": {"entries": [{"startedDateTime": "2024-05-01T10:00:00Z", "request": {"method": "GET", "url": "https://api.iterable.com/x"}}, {"startedDateTime": "2024-05-01T10:00:01Z", "request": {"method": "POST"}}]}}' > "$tmp/nourl.har"
expect_exit 2 import-har "$tmp/nourl.har" --destination iterable
expect_err "$tmp/nourl.har: /log/entries/1/request"
expect_err '"url"'
printf '{"log": {"entries": [{"startedDateTime": "2024-05-01T10:00:00Z", "request": {"method": "GET", "url": "api.iterable.com/x"}}]}}' > "$tmp/badurl.har"
expect_exit 2 import-har "$tmp/badurl.har" --destination iterable
expect_err "$tmp/badurl.har: /log/entries/0/request/url: expected an absolute http(s) URL"
"$py" - "$tmp/big.har" <<'EOF'
import json, sys
big = "x" * 1_000_001
json.dump({"log": {"entries": [{"startedDateTime": "2024-05-01T10:00:00Z",
    "request": {"method": "POST", "url": "https://api.iterable.com/api/events/trackBulk"},
    "response": {"status": 200, "headers": [], "content": {"text": big}}}]}}, open(sys.argv[1], "w"))
EOF
expect_exit 2 import-har "$tmp/big.har" --destination iterable
expect_err "$tmp/big.har: /log/entries/0/response/content/text: the answer's body is 1000001 bytes, over the limit"
"$py" -c 'import sys; open(sys.argv[1], "w").write("{\"log\": {\"entries\": [" + ",".join(["{}"] * 100001) + "]}}")' "$tmp/many.har"
expect_exit 2 import-har "$tmp/many.har" --destination iterable
expect_err "$tmp/many.har: /log/entries: holds 100001 entries"
expect_exit 2 import-har "$har" --destination nosuch
expect_err 'unknown destination "nosuch"'
expect_err "iterable"
expect_exit 2 import-har "$tmp/missing.har" --destination iterable
expect_err "$tmp/missing.har"
expect_exit 2 import-har "$har"
[ -e "$tmp/never.json" ] && fail "unexpected file"
expect_exit 2 import-har "$tmp/badurl.har" --destination iterable --out "$tmp/never.json"
[ -e "$tmp/never.json" ] && fail "a failed import wrote its --out file"
# Only other hosts: nothing to replay.
expect_exit 2 import-har "$har" --destination iterable --host api.eu.iterable.com
expect_err "no entry is a request to api.eu.iterable.com"

echo "import_har_test: ok"
