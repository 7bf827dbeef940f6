#!/usr/bin/env bash
# case_costs_test.sh CASE_COSTS DESTSIM — the per-case tool prints a line per
# case, the trace hashes are the same on a second run (deterministic), a
# dumped case replays with destsim run, and bad arguments exit 2.
set -u
bin=$1
destsim=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "case_costs_test FAILED: $*" >&2; exit 1; }

"$bin" iterable 6 3 > "$tmp/a" || fail "case_costs iterable 6 3 exited $?"
"$bin" iterable 6 3 > "$tmp/b" || fail "second run exited $?"
[ "$(grep -c '^[0-9]' "$tmp/a")" -eq 6 ] || fail "expected 6 case lines: $(cat "$tmp/a")"
grep -q '^total ' "$tmp/a" || fail "no total line"
awk '/^[0-9]/ { if (NF != 4 || $3 < 1 || length($4) < 8) exit 1 }' "$tmp/a" || fail "a malformed line: $(cat "$tmp/a")"
[ "$(awk '/^[0-9]/ {print $4}' "$tmp/a")" = "$(awk '/^[0-9]/ {print $4}' "$tmp/b")" ] || fail "trace hashes differ between runs"
"$bin" marketo_bulk_upload --dump 2 "$tmp/case.json" 3 || fail "--dump exited $?"
"$destsim" run "$tmp/case.json" > "$tmp/run" 2>&1
rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "destsim run of the dumped case exited $rc: $(cat "$tmp/run")"
grep -q '"marketo_bulk_upload"' "$tmp/case.json" || fail "the dumped case names no destination"
"$bin" no_such_destination > /dev/null 2>&1
[ $? -eq 2 ] || fail "an unknown destination must exit 2"
"$bin" iterable many > /dev/null 2>&1
[ $? -eq 2 ] || fail "a count that is not a number must exit 2"
echo "case_costs_test: passed"
