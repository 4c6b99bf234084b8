#!/usr/bin/env bash
# Event-loop stall during `store gc` with a concurrent writer process, before and after.
# Usage: bench/event-loop.sh [BASE-REVISION] [blobs] [blob-bytes] [hold-ms] [gap-ms]
# BASE-REVISION (a git revision of this repository) is measured too when given: its src/
# is unpacked into a temporary folder and the same benchmark runs against its store.
# QUICK=1: one run of 50 blobs of 4 KiB (unless given).
# result-line: ^after: \{.*\}$
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root="$here/.."
export PATH="$root/node_modules/.bin:$PATH"
base=${1:-}
shift || true
runs=${RUNS:-3}
if [ -n "${QUICK:-}" ]; then
  runs=1
  [ $# -gt 0 ] || set -- 50 4096 20 5
fi
if [ -n "$base" ]; then
  old=$(mktemp -d)
  trap 'rm -rf "$old"' EXIT
  git -C "$root" archive "$base" src | tar -x -C "$old"
  ln -s "$root/node_modules" "$old/node_modules"
  for _ in $(seq "$runs"); do echo "before ($base): $(node "$here/event-loop.ts" "$old/src/store/index.ts" "$@")"; done
fi
for _ in $(seq "$runs"); do echo "after: $(node "$here/event-loop.ts" "$root/src/store/index.ts" "$@")"; done
