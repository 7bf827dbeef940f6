#!/usr/bin/env bash
# test.sh [PRESET] — set up (packages, configure, build) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}
bash scripts/setup.sh "$preset"
ctest --preset "$preset"
