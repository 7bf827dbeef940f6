#!/usr/bin/env bash
# lint_determinism.sh ROOT — the determinism law, enforced.
#
# framework/, destinations/ and fakes/ must not read the wall clock, sleep, start
# threads, use unseeded or library-distribution randomness, or use unordered
# containers (whose iteration order can leak into output). Real I/O lives in
# folders of its own, exempt as a whole: framework/real/ (RealClock, the HTTP
# client, the libssh file transport, the SQLite job store) and fakes/doors/ (the
# HTTP door, the SFTP server). The few real-mode lines elsewhere that must carry
# `// determinism-ok: <why>` on the same line. Tests (*_test.cpp) are exempt.
#
# The seam, enforced too: no file in framework/ outside real/ (its tests
# included), and none in destinations/, includes httplib, libssh or sqlite3
# headers, or anything from framework/real/ (destinations get their transports
# injected). A destination's own tests may: like the CLI, they wire a real
# transport into the destination to test its real mode.
# Exit 0 when clean; 1 with one "file:line: <rule>: <text>" per violation.
set -u
root=${1:-.}
cd "$root" || { echo "lint_determinism: cannot enter $root" >&2; exit 2; }

dirs=()
for d in framework destinations fakes; do [ -d "$d" ] && dirs+=("$d"); done
[ ${#dirs[@]} -eq 0 ] && { echo "lint_determinism: no framework/, destinations/ or fakes/ under $root" >&2; exit 2; }

# rule name | extended regex
rules=(
  'wall clock|system_clock|steady_clock|high_resolution_clock|gettimeofday|clock_gettime|[^_[:alnum:]]time\((nullptr|NULL|0)\)|localtime|gmtime'
  'sleep|this_thread|usleep\(|nanosleep\(|::sleep\(|[^_.>[:alnum:]]sleep\([0-9]'
  'threads|std::thread|std::jthread|std::async|pthread_create|std::mutex|std::condition_variable'
  'unseeded or library randomness|random_device|[^_[:alnum:]]s?rand\(|mt19937|minstd_rand|default_random_engine|_distribution<|std::shuffle|std::sample'
  'unordered container|unordered_map|unordered_set|unordered_multimap|unordered_multiset'
)

# Folders of real I/O, exempt from the rules above.
exempt_dirs=(framework/real fakes/doors)

# The seam: what the deterministic core and the destinations must not include.
seam_regex='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](httplib\.h|libssh/|sqlite3\.h|framework/real/)'

status=0
while IFS= read -r -d '' file; do
  case "$file" in
    framework/real/*) ;;
    destinations/*_test.cpp) ;;
    framework/*|destinations/*)
      while IFS= read -r hit; do
        [ -z "$hit" ] && continue
        printf '%s:%s: real I/O include outside framework/real/: %s\n' "$file" "${hit%%:*}" "${hit#*:}"
        status=1
      done < <(grep -nE -- "$seam_regex" "$file" || true)
      ;;
  esac
  case "$file" in *_test.cpp|*_test.cc) continue ;; esac
  exempt=0
  for d in "${exempt_dirs[@]}"; do case "$file" in "$d"/*) exempt=1 ;; esac; done
  [ $exempt -eq 1 ] && continue
  for rule in "${rules[@]}"; do
    name=${rule%%|*}
    regex=${rule#*|}
    while IFS= read -r hit; do
      [ -z "$hit" ] && continue
      line=${hit%%:*}
      text=${hit#*:}
      case "$text" in *"determinism-ok"*) continue ;; esac
      # Skip comment-only lines.
      trimmed=$(printf '%s' "$text" | sed -E 's/^[[:space:]]+//')
      case "$trimmed" in //*|\**|/\**) continue ;; esac
      printf '%s:%s: %s: %s\n' "$file" "$line" "$name" "$trimmed"
      status=1
    done < <(grep -nE -- "$regex" "$file" || true)
  done
done < <(find "${dirs[@]}" -type f \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cc' \) -print0 | sort -z)

if [ $status -ne 0 ]; then
  echo "lint_determinism: the lines above break the determinism law (see DESIGN.md); real I/O belongs in framework/real/ or fakes/doors/ (a rare real-mode line elsewhere may be marked '// determinism-ok: <why>')." >&2
fi
exit $status
