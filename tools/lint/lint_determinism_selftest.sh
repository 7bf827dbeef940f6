#!/usr/bin/env bash
# Proves the determinism lint can fail: a planted sleep, a planted wall-clock read
# and a planted unordered_map are caught with file and line; a marked real-mode
# line, a test file and the real-I/O folders (framework/real/, fakes/doors/) pass;
# a clean tree passes. The seam: httplib/libssh/sqlite3 or framework/real/
# included from framework/ outside real/ or from destinations/ is caught.
set -u
lint="$(dirname "$0")/lint_determinism.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "selftest FAILED: $*" >&2; exit 1; }

mkdir -p "$tmp/framework/real" "$tmp/fakes/doors" "$tmp/fakes/sftp" "$tmp/destinations/x"
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
# The real-I/O folders: threads, clocks and their libraries, unmarked.
cat > "$tmp/framework/real/real_clock.cpp" <<'CPP'
#include <httplib.h>
#include <libssh/sftp.h>
#include <sqlite3.h>
#include <thread>
auto t = std::chrono::steady_clock::now();
std::thread worker;
CPP
cat > "$tmp/fakes/doors/door.cpp" <<'CPP'
#include <httplib.h>
#include "framework/real/real_clock.h"
void serve() { std::this_thread::sleep_for(d); std::mutex mu; }
CPP
# A sim-side fake may use libssh's key functions (not a seam violation).
cat > "$tmp/fakes/sftp/keys.cpp" <<'CPP'
#include <libssh/libssh.h>
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
# The seam: real I/O included from the core, a core test, or a destination.
cat > "$tmp/framework/bulk.cpp" <<'CPP'
#include "framework/bulk.h"
#include <sqlite3.h>
CPP
cat > "$tmp/framework/bulk_test.cpp" <<'CPP'
#include "framework/real/real_clock.h"
CPP
cat > "$tmp/destinations/x/files.cpp" <<'CPP'
#include <libssh/sftp.h>
  #  include <httplib.h>
#include "framework/real/libssh_file_transport.h"
CPP
# A destination's own test may wire a real transport (its real mode), as the CLI does.
cat > "$tmp/destinations/x/files_test.cpp" <<'CPP'
#include "framework/real/libssh_file_transport.h"
CPP
if bash "$lint" "$tmp" > "$tmp/out" 2>&1; then fail "planted violations passed"; fi
if grep -q '^destinations/x/files_test.cpp' "$tmp/out"; then fail "a destination test's real transport was reported: $(cat "$tmp/out")"; fi
grep -q '^framework/bulk.cpp:2: real I/O include' "$tmp/out" || fail "sqlite3.h in the core not reported: $(cat "$tmp/out")"
grep -q '^framework/bulk_test.cpp:1: real I/O include' "$tmp/out" || fail "framework/real/ in a core test not reported: $(cat "$tmp/out")"
grep -q '^destinations/x/files.cpp:1: real I/O include' "$tmp/out" || fail "libssh in a destination not reported: $(cat "$tmp/out")"
grep -q '^destinations/x/files.cpp:2: real I/O include' "$tmp/out" || fail "httplib in a destination not reported: $(cat "$tmp/out")"
grep -q '^destinations/x/files.cpp:3: real I/O include' "$tmp/out" || fail "framework/real/ in a destination not reported: $(cat "$tmp/out")"
grep -qE '^(framework/real|fakes/doors|fakes/sftp)/' "$tmp/out" && fail "an exempt folder or the sim-side key use was reported: $(cat "$tmp/out")"
grep -q '^framework/planted.cpp:3: sleep:' "$tmp/out" || fail "sleep not reported with file:line: $(cat "$tmp/out")"
grep -q '^destinations/x/handler.cpp:1: wall clock:' "$tmp/out" || fail "wall clock not reported: $(cat "$tmp/out")"
grep -q '^destinations/x/handler.cpp:2: unordered container:' "$tmp/out" || fail "unordered_map not reported"
grep -q 'real_door' "$tmp/out" && fail "a determinism-ok line was reported"
echo "lint selftest passed"
