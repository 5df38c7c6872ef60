#!/usr/bin/env bash
# Runs a TypeScript entry point on the project's Node 24 (see setup.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_bin="node"
[ -f "$root/.tools/node-path" ] && node_bin="$(cat "$root/.tools/node-path")"
exec "$node_bin" --disable-warning=ExperimentalWarning "$@"
