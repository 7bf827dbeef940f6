#!/usr/bin/env bash
# main.sh [ARGS…] — set up (packages, configure, build) and run destsim's main job.
#
# With no arguments: replay the whole incident library (every scenario under
# scenarios/) in virtual time and report each verdict; exit 1 if any fails.
# (`destsim certify` of every shipped destination becomes the main job when the
# conformance suite lands.) With arguments: run `destsim ARGS…`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh default >&2
bin=./build/default/tools/destsim
if [ $# -gt 0 ]; then exec "$bin" "$@"; fi

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
