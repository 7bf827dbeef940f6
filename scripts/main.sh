#!/usr/bin/env bash
# main.sh [ARGS…] — set up (packages, configure, build) and run destsim's main job.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh default >&2
if [ $# -eq 0 ]; then set -- list; fi
exec ./build/default/tools/destsim "$@"
