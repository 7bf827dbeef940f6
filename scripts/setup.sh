#!/usr/bin/env bash
# setup.sh [PRESET] — install missing Debian packages, configure and build.
# Idempotent: a second run installs nothing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-default}

packages=(build-essential clang libclang-rt-14-dev cmake ninja-build pkg-config
          libgtest-dev libgmock-dev librapidcheck-dev libcpp-httplib-dev nlohmann-json3-dev
          libssh-dev libbenchmark-dev libcli11-dev libsqlite3-dev zlib1g-dev libxxhash-dev libsimdjson-dev libzip-dev libpugixml-dev libssl-dev openssh-client curl
          chromium python3 python3-jsonschema)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

extra=()
# CI treats warnings as errors.
[ "${CI:-}" = "true" ] && extra+=(-DDESTSIM_WERROR=ON)
cmake --preset "$preset" "${extra[@]}" > /dev/null
cmake --build --preset "$preset" -j "$(nproc)"
