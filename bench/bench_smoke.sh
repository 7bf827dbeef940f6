#!/usr/bin/env bash
# bench_smoke.sh BENCH FILTER — the bench runs its cases once and none errors.
set -u
out=$("$1" --benchmark_filter="$2" --benchmark_min_time=0 2>&1)
rc=$?
echo "$out" | grep -E "^BM_|^[A-Z][A-Za-z]+/" | head -20
[ "$rc" -eq 0 ] || { echo "bench_smoke: $1 exited $rc"; exit 1; }
if echo "$out" | grep -q "ERROR OCCURRED"; then
  echo "bench_smoke: $1 reported an error:"
  echo "$out" | grep "ERROR OCCURRED"
  exit 1
fi
echo "bench_smoke: $1 ($2) ran"
