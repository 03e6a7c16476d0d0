#!/usr/bin/env bash
# `make demo`: shows vsr on this machine. Until the replica daemon lands this creates a
# cluster configuration in a temporary directory and prints what it wrote.
set -euo pipefail
vsr=${1:-build/release/vsr}
dir=$(mktemp -d /tmp/vsr-demo.XXXXXX)
trap 'rm -rf "$dir"' EXIT

echo "\$ vsr --cluster-dir $dir init-cluster"
"$vsr" --cluster-dir "$dir" init-cluster
echo
echo "\$ ls -l $dir"
ls -l "$dir"
for f in cluster.tnet client.tnet; do
  echo
  echo "--- $f ($(stat -c %a "$dir/$f"), $(stat -c %s "$dir/$f") bytes; keys elided)"
  # Print the structure without the binary key material.
  head -c 400 "$dir/$f" | tr -c '[:print:]\n' '.'
  echo
done
