#!/usr/bin/env bash
# main.sh [ARGS…] — set up (packages, configure, build) and run destsim's main job.
#
# With no arguments: `destsim certify` — the conformance suite (CONFORMANCE.md)
# on every shipped destination, in virtual time on the embedded simulator; a
# per-destination × per-property verdict table; failing cases written as
# scenario files under certify-failures/; exit 0 when every shipped destination
# is certified, 1 when a property failed.
# `main.sh incidents` replays the incident library (every file under scenarios/)
# and prints one verdict line per incident. Other arguments run `destsim ARGS…`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh default >&2
bin=./build/default/tools/destsim
if [ $# -eq 0 ]; then exec "$bin" certify --report certify-report.json --junit certify-report.xml; fi
if [ "$1" != "incidents" ]; then exec "$bin" "$@"; fi

failed=0
total=0
start=$(date +%s.%N)
while IFS= read -r file; do
  total=$((total + 1))
  out=$("$bin" run "$file" 2>&1) && rc=0 || rc=$?
  hash=$(printf '%s\n' "$out" | sed -n 's/^trace-hash: //p')
  jobs=$(printf '%s\n' "$out" | sed -n 's/^jobs: //p')
  vt=$(printf '%s\n' "$out" | sed -n 's/^virtual time: \([^,]*\),.*/\1/p')
  if [ "$rc" -eq 0 ]; then
    printf 'PASS  %-55s virtual %-14s trace %s  (%s)\n' "$file" "$vt" "$hash" "$jobs"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s (exit %s)\n' "$file" "$rc"
    printf '%s\n' "$out" | sed -n 's/^  FAIL /        /p'
  fi
done < <(find scenarios -name '*.json' | sort)
end=$(date +%s.%N)
printf "%d scenarios, %d passed, %d failed in %s s of wall time\n" "$total" $((total - failed)) "$failed" \
  "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')"
[ "$failed" -eq 0 ]
