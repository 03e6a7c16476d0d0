#!/usr/bin/env bash
# Installs the Debian packages vsr needs to build, test and fuzz, when any is missing.
# Runs as root on a fresh Debian 12 machine (apt-get update first); elsewhere prints
# the command to run.
set -euo pipefail

packages=(
  g++ make cmake ninja-build pkg-config git
  clang clang-format libclang-rt-14-dev
  libasio-dev libfmt-dev libcli11-dev libspdlog-dev
  libsodium-dev libxxhash-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: not root; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 4
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
