#!/usr/bin/env bash
# out_of_tree_test.sh BUILD_DIR CXX_COMPILER [CXX_FLAGS [LINKER_FLAGS]] — out-of-tree
# certification, end to end. The flags are the installed build's (a sanitizer
# build's libraries need the consumer built with the same sanitizers).
#
# Installs destsim from BUILD_DIR into a temporary prefix, copies
# examples/out_of_tree to a directory of its own (a repository of its own: it
# sees destsim only through the install), builds it against the prefix with
# CXX_COMPILER, and runs its ctest: the destination must be certified (exit 0)
# and its canary caught (exit 1). Bad certify arguments must exit 2.
set -u
build=$(cd "${1:?usage: out_of_tree_test.sh BUILD_DIR CXX_COMPILER}" && pwd) || exit 1
cxx=${2:?usage: out_of_tree_test.sh BUILD_DIR CXX_COMPILER}
cxx_flags=${3:-}
ld_flags=${4:-}
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "out_of_tree_test FAILED: $*" >&2; exit 1; }
step() { echo "== $*"; }

# Installing needs the six libraries built (as every ctest needs its targets
# built): `cmake --build BUILD_DIR --target destsim_conformance destsim_doors` builds them.
for lib in framework framework/real fakes fakes/doors destinations conformance; do
  [ -e "$build/$lib/libdestsim_${lib##*/}.a" ] \
    || fail "$build/$lib/libdestsim_${lib##*/}.a is not built: run cmake --build $build --target destsim_conformance destsim_doors first"
done

step "cmake --install $build --prefix <tmp>/prefix"
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log"; fail "cmake --install failed"; }
for f in include/destsim/framework/loop.h include/destsim/framework/router.h \
         include/destsim/destinations/destination.h include/destsim/fakes/catalog.h \
         include/destsim/conformance/certify.h include/destsim/framework/real/real_clock.h \
         include/destsim/fakes/doors/http_door.h \
         include/destsim/fakes/fake_options.h include/destsim/fakes/fake_api.h \
         lib/libdestsim_framework.a lib/libdestsim_fakes.a lib/libdestsim_destinations.a \
         lib/libdestsim_conformance.a lib/libdestsim_real.a lib/libdestsim_doors.a \
         lib/cmake/destsim/destsimConfig.cmake lib/cmake/destsim/destsimConfigVersion.cmake \
         lib/cmake/destsim/destsimTargets.cmake lib/cmake/destsim/DestsimCertify.cmake; do
  [ -e "$prefix/$f" ] || fail "the install lacks $f (installed: $(cd "$prefix" && find . -maxdepth 3 | sort | head -40 | tr '\n' ' '))"
done
# The exported targets point into the prefix, never back into the source tree.
grep -q "$src" "$prefix"/lib/cmake/destsim/destsimTargets*.cmake \
  && fail "destsimTargets.cmake refers to the source tree $src"
find "$prefix/include" -name '*_test.*' | grep -q . && fail "test sources were installed as headers"

step "configure examples/out_of_tree against the install"
repo=$tmp/repo
cp -r "$src/examples/out_of_tree" "$repo"
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$repo" -B "$tmp/build" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_EXE_LINKER_FLAGS="$ld_flags" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON > "$tmp/configure.log" 2>&1 \
  || { cat "$tmp/configure.log"; fail "configuring the example against the install failed"; }
grep -q "$src" "$tmp/build/compile_commands.json" \
  && fail "the example compiles against destsim's source tree, not the install: $(grep -o "[^ \"]*$src[^ \"]*" "$tmp/build/compile_commands.json" | head -3)"
grep -q "$prefix/include/destsim" "$tmp/build/compile_commands.json" \
  || fail "the example does not take destsim's headers from the install"

step "build the example"
cmake --build "$tmp/build" -j2 > "$tmp/build.log" 2>&1 \
  || { tail -60 "$tmp/build.log"; fail "building the example against the install failed"; }
bin=$tmp/build/certify_iterable_events
[ -x "$bin" ] || fail "no certify_iterable_events was built"

step "bad certify input exits 2"
"$bin" nosuch > "$tmp/out" 2> "$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "certify nosuch exited $rc, expected 2"
grep -q 'unknown destination "nosuch"' "$tmp/err" || fail "the unknown destination is not named: $(cat "$tmp/err")"
grep -q 'iterable_events' "$tmp/err" || fail "the known destinations are not listed: $(cat "$tmp/err")"
"$bin" --cases 0 > "$tmp/out" 2> "$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "certify --cases 0 exited $rc, expected 2"
grep -q -- '--cases' "$tmp/err" || fail "the bad --cases is not named: $(cat "$tmp/err")"
"$bin" --shard 2/2 > "$tmp/out" 2> "$tmp/err"; rc=$?
[ "$rc" -eq 2 ] || fail "certify --shard 2/2 exited $rc, expected 2"
grep -q -- '--shard' "$tmp/err" || fail "the bad --shard is not named: $(cat "$tmp/err")"

step "ctest of the example: certification and canary"
(cd "$tmp/build" && ctest --output-on-failure -V) > "$tmp/ctest.log" 2>&1; rc=$?
cat "$tmp/ctest.log"
[ "$rc" -eq 0 ] || fail "the example's ctest failed (exit $rc)"
grep -q 'iterable_events.certify .*Passed' "$tmp/ctest.log" || fail "iterable_events.certify did not run and pass"
grep -q 'iterable_events.canary .*Passed' "$tmp/ctest.log" || fail "iterable_events.canary did not run and pass"
grep -qE 'iterable_events +.* certified$' "$tmp/ctest.log" || fail "iterable_events is not in the verdict table as certified"
grep -qE 'iterable_events_canary +.* NOT certified$' "$tmp/ctest.log" || fail "the canary is not in the verdict table as NOT certified"
junit=$tmp/build/iterable_events.certify.junit.xml
[ -s "$junit" ] || fail "no JUnit report at $junit"
grep -q '<testsuite name="iterable_events" tests="[0-9]*" failures="0"' "$junit" \
  || fail "the JUnit report does not show iterable_events without failures: $(head -5 "$junit")"
echo "out_of_tree_test: ok"
