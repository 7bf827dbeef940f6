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
echo "run_bad_input_test passed"
