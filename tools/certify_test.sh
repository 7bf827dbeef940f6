#!/usr/bin/env bash
# certify_test.sh DESTSIM MODE — `destsim certify` against the built binary.
#   shipped  every shipped destination is certified on a CI budget of cases (exit 0)
#   canary   the canary fails (exit 1), names what it broke, and each written
#            failing case replays with `destsim run` to the same failure
#   shards   the shards 0/3, 1/3, 2/3 together run exactly the cases of one run
#   input    bad input exits 2 and names it
set -u
bin=$1
mode=$2
cases=${DESTSIM_CERTIFY_CASES:-200}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "certify_test ($mode) FAILED: $*" >&2; exit 1; }

case "$mode" in
shipped)
  "$bin" certify --cases "$cases" --report "$tmp/r.json" --junit "$tmp/r.xml" --out "$tmp/failures" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  cat "$tmp/out"
  [ "$rc" -eq 0 ] || fail "certify of the shipped destinations exited $rc"
  grep -q '"certified": true' "$tmp/r.json" || fail "the JSON report does not say certified"
  grep -q '<testsuites' "$tmp/r.xml" || fail "no JUnit report"
  grep -q 'canary' "$tmp/out" && fail "the canary is not shipped, yet certify ran it"
  for d in iterable marketo_bulk_upload klaviyo_bulk_upload declarative; do
    grep -qE "^$d .* certified$" "$tmp/out" || fail "$d is not in the verdict table as certified"
  done
  grep -q '^seed: ' "$tmp/out" || fail "no seed printed"
  ;;
canary)
  "$bin" certify canary --cases "$cases" --out "$tmp/failures" --report "$tmp/r.json" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  cat "$tmp/out"
  [ "$rc" -eq 1 ] || fail "certify canary exited $rc, expected 1"
  for p in I1 C5; do
    grep -qE "^canary $p .*FAIL" "$tmp/out" || fail "the canary's broken property $p is not named"
  done
  n=0
  for f in "$tmp"/failures/*.json; do
    [ -e "$f" ] || fail "no failing case written under --out"
    n=$((n + 1))
    "$bin" run "$f" > "$tmp/replay" 2>&1
    rrc=$?
    prop=$(sed -n 's/.*"property": "\([A-Z][0-9]\)".*/\1/p' "$f" | head -1)
    [ "$rrc" -eq 1 ] || fail "destsim run $f exited $rrc, expected 1 (the same failure): $(cat "$tmp/replay")"
    grep -q "property $prop: FAIL" "$tmp/replay" || fail "destsim run $f does not fail $prop again: $(cat "$tmp/replay")"
    # Minimal after shrinking: a handful of records and fault rules.
    records=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['input']['generate']['records'])" "$f" 2>/dev/null || echo 0)
    [ "$records" -le 20 ] || fail "$f keeps $records records after shrinking (target <= 20)"
  done
  echo "canary: $n failing cases written, each replays to its failure"
  ;;
broken_batch | broken_bulk | broken_bulk_d2)
  # The deliberately broken destinations (destinations/broken): a default
  # certify fails each on the property its bug breaks, and writes that case.
  # Three tests so ctest runs them side by side: the batch path's (on
  # Iterable), the bulk path's (on Klaviyo), and no_poll_timeout alone (it
  # polls hostile imports to their end: 38 s of the bulk six's 62 s, and the
  # sanitizer build took 1,100 s of the 1,200 s limit for all six together).
  if [ "$mode" = broken_batch ]; then
    pairs="broken_ignores_retry_after:I1 broken_retries_400:C1 broken_resends_partial:C5
           broken_retries_413_whole:C4 broken_record_limit_off_by_one:B1 broken_never_flushes_on_interval:B2
           broken_uncapped_backoff:C3 broken_concurrency_off_by_one:B4"
  elif [ "$mode" = broken_bulk_d2 ]; then
    pairs="broken_no_poll_timeout:D2"
  else
    pairs="broken_polls_without_waiting:D1 broken_import_concurrency_off_by_one:B4 broken_reuploads_after_restart:E1
           broken_counts_missing_as_succeeded:D4 broken_aborts_overflow:B5"
  fi
  for pair in $pairs; do
    name=${pair%%:*}
    prop=${pair##*:}
    rm -rf "$tmp/failures"
    "$bin" certify "$name" --out "$tmp/failures" > "$tmp/out" 2> "$tmp/err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "certify $name exited $rc, expected 1: $(cat "$tmp/out" "$tmp/err")"
    grep -qE "^$name $prop .*FAIL" "$tmp/out" || fail "certify $name does not fail $prop: $(cat "$tmp/out")"
    f="$tmp/failures/$name-$prop-case-"*.json
    # shellcheck disable=SC2086
    set -- $f
    [ -e "$1" ] || fail "certify $name wrote no $prop case"
    size=$(wc -c < "$1")
    echo "$name: $prop, written case $(basename "$1") ($size bytes)"
  done
  ;;
shards)
  # Three shards merged, and one run on one thread and on three, all give the
  # same report, JUnit file, verdict table and written cases (a broken
  # destination among them, so failures, details and shrinking are compared too).
  set -- iterable declarative broken_retries_400
  certify_set() {  # certify_set NAME ARGS… — exit 1: the broken one fails
    local name=$1; shift
    "$bin" certify "$@" --cases 40 > "$tmp/$name.txt" 2> "$tmp/$name.err"
    local rc=$?
    [ "$rc" -eq 1 ] || fail "certify $name exited $rc, expected 1: $(cat "$tmp/$name.err")"
  }
  certify_set all "$@" --jobs 1 --report "$tmp/all.json" --junit "$tmp/all.xml" --out "$tmp/cases"
  mv "$tmp/cases" "$tmp/cases1"
  certify_set jobs3 "$@" --jobs 3 --report "$tmp/jobs3.json" --junit "$tmp/jobs3.xml" --out "$tmp/cases"
  cmp "$tmp/all.json" "$tmp/jobs3.json" || fail "--jobs 3 wrote another report than --jobs 1"
  cmp "$tmp/all.xml" "$tmp/jobs3.xml" || fail "--jobs 3 wrote another JUnit file than --jobs 1"
  diff "$tmp/all.txt" "$tmp/jobs3.txt" || fail "--jobs 3 printed another verdict table than --jobs 1"
  diff -r "$tmp/cases1" "$tmp/cases" || fail "--jobs 3 wrote other failing cases than --jobs 1"
  [ "$(ls "$tmp/cases" | wc -l)" -ge 1 ] || fail "the broken destination wrote no case"
  for i in 0 1 2; do
    certify_set "s$i" "$@" --shard "$i/3" --report "$tmp/s$i.json" --out "$tmp/cases"
  done
  "$bin" certify --merge "$tmp/s0.json" "$tmp/s1.json" "$tmp/s2.json" --report "$tmp/merged.json" \
    --junit "$tmp/merged.xml" > "$tmp/merged.txt" 2> "$tmp/merged.err"
  rc=$?
  [ "$rc" -eq 1 ] || fail "certify --merge exited $rc, expected 1 (a broken destination): $(cat "$tmp/merged.err")"
  cmp "$tmp/all.json" "$tmp/merged.json" || fail "the merged shards' report differs from the unsharded run's"
  cmp "$tmp/all.xml" "$tmp/merged.xml" || fail "the merged shards' JUnit file differs from the unsharded run's"
  diff "$tmp/all.txt" "$tmp/merged.txt" || fail "the merged shards' verdict table differs from the unsharded run's"
  # A merge needs every shard of one run, once.
  "$bin" certify --merge "$tmp/s0.json" "$tmp/s1.json" > /dev/null 2> "$tmp/m.err"
  [ $? -eq 2 ] && grep -q "lack shard 2/3" "$tmp/m.err" || fail "a missing shard: $(cat "$tmp/m.err")"
  "$bin" certify --merge "$tmp/s0.json" "$tmp/s0.json" "$tmp/s2.json" > /dev/null 2> "$tmp/m.err"
  [ $? -eq 2 ] && grep -q "shard 0/3 again" "$tmp/m.err" || fail "a shard twice: $(cat "$tmp/m.err")"
  python3 - "$tmp" <<'PY' || fail "the shards do not partition the cases"
import json, sys
t = sys.argv[1]
whole = json.load(open(f"{t}/all.json"))
shards = [json.load(open(f"{t}/s{i}.json")) for i in range(3)]
for di, d in enumerate(whole["destinations"]):
    total = sum(s["destinations"][di]["cases"] for s in shards)
    assert total == d["cases"], (d["name"], total, d["cases"])
    assert all(s["destinations"][di]["cases"] > 0 for s in shards), d["name"]
    for pid, p in d["properties"].items():
        counts = [s["destinations"][di]["properties"][pid] for s in shards]
        for k in ("pass", "fail", "n/a"):
            assert sum(c[k] for c in counts) == p[k], (d["name"], pid, k)
    # Reachability counts add up too: the shards ran exactly the whole run's cases.
    for k, v in d["reached"].items():
        assert sum(s["destinations"][di]["reached"].get(k, 0) for s in shards) == v, (d["name"], k)
print("shards partition the cases; merged, --jobs 1 and --jobs 3 agree byte for byte")
PY
  ;;
input)
  "$bin" certify nosuch > "$tmp/out" 2> "$tmp/err"; rc=$?
  [ "$rc" -eq 2 ] || fail "unknown destination exited $rc"
  grep -q 'unknown destination "nosuch"' "$tmp/err" || fail "unknown destination not named: $(cat "$tmp/err")"
  "$bin" certify --shard 3/3 > "$tmp/out" 2> "$tmp/err"; rc=$?
  [ "$rc" -eq 2 ] || fail "--shard 3/3 exited $rc"
  grep -q -- '--shard' "$tmp/err" || fail "bad shard not named: $(cat "$tmp/err")"
  printf '{"name": "x", "creation": 5}' > "$tmp/spec.json"
  "$bin" certify --spec "$tmp/spec.json" > "$tmp/out" 2> "$tmp/err"; rc=$?
  [ "$rc" -eq 2 ] || fail "a bad spec exited $rc"
  grep -q "$tmp/spec.json" "$tmp/err" || fail "bad spec file not named: $(cat "$tmp/err")"
  # A good spec certifies straight from the file (60 cases: each of its three hostile variants is met).
  "$bin" certify --spec "$(dirname "$0")/../destinations/declarative/specs/record_results_import.json" --cases 60 \
    > "$tmp/out" 2> "$tmp/err"; rc=$?
  [ "$rc" -eq 0 ] || fail "certify --spec of a shipped spec exited $rc: $(cat "$tmp/out" "$tmp/err")"
  ;;
*) fail "unknown mode" ;;
esac
echo "certify_test ($mode): ok"
