#!/usr/bin/env bash
# `make demo`: runs `vsr demo`, which starts a 3-node cluster on free loopback ports in a
# temporary directory, runs a bank + inventory session, kills the primary, shows the new
# view and that no acknowledged write was lost, then stops its nodes and cleans up.
set -euo pipefail
vsr=${1:-build/release/vsr}
exec "$vsr" demo
