#!/usr/bin/env bash
# connector_test.sh BIN ROOT WHAT — black-box certification of the example
# connectors (examples/connectors/), run as ctest tests named connector.WHAT:
#   certified      the Python Airbyte destination is certified (report and JUnit written)
#   retry_after    the variant that ignores Retry-After fails I1
#   early_state    the variant that echoes STATE early fails E2, and its written
#                  case reruns with --case (failing again; the good one passes it)
#   generic        the generic-mode connector (JSON lines, DESTSIM_BASE_URL) is certified
#   bad_input      bad flags and files exit 2 naming what is wrong
#   checkers       C1, B4, B1, F1, G1 each seen failing on a connector built to break it
#   selftest       the example's own stdlib test suite
set -u
bin=$1 root=$2 what=$3
py=/usr/bin/python3
ex="$root/examples/connectors"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "connector_test $what: $*" >&2; exit 1; }
certify() { "$bin" certify --fake iterable --cases 8 --seed 3 --out "$tmp/failures" "$@"; }
airbyte() { certify --connector "$py $ex/iterable_py/$1" --config-template "$ex/iterable_py/config.template.json" "${@:2}"; }
cd "$tmp" || exit 1

case "$what" in
  certified)
    airbyte destination.py --report "$tmp/r.json" --junit "$tmp/r.xml" --html "$tmp/r.html" > "$tmp/out" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { cat "$tmp/out"; fail "the example connector was not certified (exit $rc)"; }
    grep -q "certified" "$tmp/out" || fail "no verdict printed"
    "$py" -c "import json,sys; r=json.load(open(sys.argv[1])); assert r['verdict']=='certified', r; \
assert all(v['verdict']=='pass' for v in r['properties'].values()), r; assert 'kill' in r['reached'], r" "$tmp/r.json" \
      || fail "report: $(cat "$tmp/r.json")"
    grep -q '<testcase classname="connector" name="E2">' "$tmp/r.xml" || fail "junit: $(cat "$tmp/r.xml")"
    grep -q "certified" "$tmp/r.html" || fail "html report"
    ;;
  retry_after)
    airbyte broken_ignores_retry_after.py > "$tmp/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] || { cat "$tmp/out"; fail "expected exit 1, got $rc"; }
    grep -q "^I1: FAIL" "$tmp/out" || { cat "$tmp/out"; fail "I1 did not fail"; }
    ls "$tmp"/failures/connector-I1-case-*.json > /dev/null || fail "no failing case written"
    ;;
  early_state)
    airbyte broken_early_state.py > "$tmp/out" 2>&1
    rc=$?
    [ $rc -eq 1 ] || { cat "$tmp/out"; fail "expected exit 1, got $rc"; }
    grep -q "^E2: FAIL" "$tmp/out" || { cat "$tmp/out"; fail "E2 did not fail"; }
    case_file=$(ls "$tmp"/failures/connector-E2-case-*.json | head -1)
    [ -f "$case_file" ] || fail "no failing case written"
    grep -q "not in timing" "$case_file" || fail "the case does not say real time reproduces in plan and input only"
    # The written case reruns: against the same broken command it fails again …
    airbyte broken_early_state.py --case "$case_file" > "$tmp/rerun" 2>&1
    rc=$?
    [ $rc -eq 1 ] && grep -q "^E2: FAIL" "$tmp/rerun" || { cat "$tmp/rerun"; fail "--case did not fail E2 again ($rc)"; }
    # … and the good connector passes it.
    airbyte destination.py --case "$case_file" > "$tmp/good" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { cat "$tmp/good"; fail "the good connector failed the written case ($rc)"; }
    ;;
  generic)
    certify --connector "$py $ex/generic_py/deliver.py" --mode generic > "$tmp/out" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { cat "$tmp/out"; fail "the generic connector was not certified (exit $rc)"; }
    ;;
  bad_input)
    "$bin" certify --connector "true" --fake no_such_fake > "$tmp/o1" 2>&1
    [ $? -eq 2 ] && grep -q 'unknown fake "no_such_fake"' "$tmp/o1" || fail "unknown fake: $(cat "$tmp/o1")"
    "$bin" certify --connector "true" --fake iterable > "$tmp/o2" 2>&1
    [ $? -eq 2 ] && grep -q -- "--config-template: required" "$tmp/o2" || fail "no template: $(cat "$tmp/o2")"
    echo '{"base_url": "x"}' > "$tmp/t.json"
    "$bin" certify --connector "true" --fake iterable --config-template "$tmp/t.json" > "$tmp/o3" 2>&1
    [ $? -eq 2 ] && grep -q "no {{base_url}} placeholder" "$tmp/o3" || fail "template without base_url: $(cat "$tmp/o3")"
    echo '{"case": {"messages": 3}}' > "$tmp/c.json"
    echo '{"base_url": "{{base_url}}"}' > "$tmp/t2.json"
    "$bin" certify --connector "true" --fake iterable --config-template "$tmp/t2.json" --case "$tmp/c.json" > "$tmp/o4" 2>&1
    [ $? -eq 2 ] && grep -q "/case: expected a written connector case" "$tmp/o4" || fail "bad case: $(cat "$tmp/o4")"
    "$bin" certify --connector "true" --fake iterable --mode other > "$tmp/o5" 2>&1
    [ $? -eq 2 ] && grep -q -- "--mode: expected airbyte or generic" "$tmp/o5" || fail "bad mode: $(cat "$tmp/o5")"
    # A connector that exits at once, reading nothing: not certified (A3, no STATE), not a crash of destsim.
    "$bin" certify --connector "true" --fake iterable --config-template "$tmp/t2.json" --cases 2 > "$tmp/o6" 2>&1
    [ $? -eq 1 ] || fail "a connector that does nothing was not refused: $(cat "$tmp/o6")"
    ;;
  checkers)
    # Each black-box check seen failing on a connector built to break it, on a
    # hand-written case: three records, a STATE, one 400 to the first POST.
    "$py" - "$tmp/case.json" <<'PY'
import json, sys
recs = [{"type": "RECORD", "record": {"stream": "users", "emitted_at": 1,
         "data": {"email": "c%d@example.com" % i, "destsim_id": "dsm-check-%d" % i}}} for i in (1, 2, 3)]
state = {"type": "STATE", "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"},
                                                                   "stream_state": {"cursor": 3}}}}
case = {"index": 0, "seed": 5, "messages": recs + [state], "kill_after_ms": -1,
        "faults": [{"match": {"method": "POST"}, "times": 1, "respond": {"status": 400}}]}
json.dump({"connector": "hand-written", "fake": "iterable", "case": case}, open(sys.argv[1], "w"))
PY
    cat > "$tmp/resend.py" <<'PY'
import json, os, sys, urllib.request, urllib.error
# C1: sends each record until it is taken, whatever the answer (a 400 too).
for line in sys.stdin:
    d = json.loads(line)
    body = json.dumps({"users": [{"email": d["email"], "dataFields": d}]}).encode()
    for _ in range(3):
        req = urllib.request.Request(os.environ["DESTSIM_BASE_URL"] + "/api/users/bulkUpdate", data=body,
                                     headers={"Api-Key": os.environ["DESTSIM_API_KEY"], "Content-Type": "application/json"})
        try:
            urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=5).read()
            break
        except urllib.error.HTTPError:
            pass
PY
    cat > "$tmp/parallel.py" <<'PY'
import json, os, sys, threading, urllib.request
# B4: every record in a request of its own, all at once.
def post(d):
    body = json.dumps({"users": [{"email": d["email"], "dataFields": d}]}).encode()
    req = urllib.request.Request(os.environ["DESTSIM_BASE_URL"] + "/api/users/bulkUpdate", data=body,
                                 headers={"Api-Key": os.environ["DESTSIM_API_KEY"], "Content-Type": "application/json"})
    try:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=5).read()
    except Exception:
        pass
ts = [threading.Thread(target=post, args=(json.loads(l),)) for l in sys.stdin]
[t.start() for t in ts]
[t.join() for t in ts]
PY
    expect_fail() {  # PROPERTY ARGS… — the run exits 1 naming PROPERTY
      "$bin" certify --fake iterable --case "$tmp/case.json" --out "$tmp/failures" "${@:2}" > "$tmp/o" 2>&1
      local rc=$?
      [ $rc -eq 1 ] && grep -q "^$1: FAIL" "$tmp/o" || { cat "$tmp/o"; fail "$1 was not seen failing (exit $rc)"; }
    }
    expect_fail C1 --connector "$py $tmp/resend.py" --mode generic
    expect_fail B4 --connector "$py $tmp/parallel.py" --mode generic --concurrency-max 1
    expect_fail B1 --connector "$py $ex/iterable_py/destination.py" --config-template "$ex/iterable_py/config.template.json" \
      --records-max 2 --fake-options '{"latency": "1ms"}'
    expect_fail F1 --connector "sh -c 'cat > /dev/null; exit 3'" --config-template "$ex/iterable_py/config.template.json"
    expect_fail G1 --connector "sh -c 'sleep 30'" --config-template "$ex/iterable_py/config.template.json" --case-timeout-ms 1000
    ;;
  selftest)
    "$py" "$ex/iterable_py/test_destination.py" > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "the example's self-test failed"; }
    ;;
  *) fail "unknown test" ;;
esac
echo "connector_test $what: ok"
