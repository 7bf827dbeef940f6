#!/usr/bin/env bash
# Proves the determinism lint can fail: a planted sleep, a planted wall-clock read
# and a planted unordered_map are caught with file and line; a marked real-mode
# line and a test file pass; a clean tree passes.
set -u
lint="$(dirname "$0")/lint_determinism.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "selftest FAILED: $*" >&2; exit 1; }

mkdir -p "$tmp/framework" "$tmp/fakes" "$tmp/destinations/x"
cat > "$tmp/framework/clean.cpp" <<'CPP'
// A comment that mentions std::this_thread::sleep_for is fine.
int f() { return 1; }
CPP
cat > "$tmp/fakes/real_door.cpp" <<'CPP'
void serve() { std::this_thread::sleep_for(d);  // determinism-ok: real-mode latency
}
CPP
cat > "$tmp/framework/loop_test.cpp" <<'CPP'
auto t = std::chrono::system_clock::now();
CPP
bash "$lint" "$tmp" > "$tmp/out" 2>&1 || fail "clean tree reported: $(cat "$tmp/out")"

cat > "$tmp/framework/planted.cpp" <<'CPP'
#include <thread>
void nap() {
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
}
CPP
cat > "$tmp/destinations/x/handler.cpp" <<'CPP'
auto now = std::chrono::system_clock::now();
std::unordered_map<int, int> m;
CPP
if bash "$lint" "$tmp" > "$tmp/out" 2>&1; then fail "planted violations passed"; fi
grep -q '^framework/planted.cpp:3: sleep:' "$tmp/out" || fail "sleep not reported with file:line: $(cat "$tmp/out")"
grep -q '^destinations/x/handler.cpp:1: wall clock:' "$tmp/out" || fail "wall clock not reported: $(cat "$tmp/out")"
grep -q '^destinations/x/handler.cpp:2: unordered container:' "$tmp/out" || fail "unordered_map not reported"
grep -q 'real_door' "$tmp/out" && fail "a determinism-ok line was reported"
echo "lint selftest passed"
