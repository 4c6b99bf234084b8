#!/usr/bin/env bash
# Benchmark: importing a root filesystem of millions of empty files, in bounded memory.
#
# Generates a gzip rootfs tarball of COUNT members (directories of 1000 empty files; the
# generator streams tar headers into gzip, nothing is created on disk but the tarball),
# then measures `kiln image import` (which indexes the layer and prints the bootability
# verdict) and a second `kiln image check` (from the cached layer index): wall time and
# peak RSS (GNU time), and the size of the layer index per entry.
#
# usage: bench/many-entries.sh [COUNT]   (default 8000000)
# env:   KILN_BENCH_TMP=/tmp (where scratch dirs go); QUICK=1: 5000 entries
# result-line: ^import +[0-9.]+ s, peak RSS
# result-line: ^index +[0-9]+ bytes, [0-9.]+ bytes per entry$
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count=${1:-8000000}
if [ -n "${QUICK:-}" ]; then
  count=${1:-5000}
fi
gnutime=/usr/bin/time
"$gnutime" -f %M true >/dev/null 2>&1 || { echo "bench: GNU time (/usr/bin/time) is required" >&2; exit 1; }
node="$here/../node_modules/.bin/node"
[ -x "$node" ] || node=node

work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export KILN_HOME="$work/home" KILN_USER=bench KILN_CONFIG=

start=$(date +%s.%N)
"$node" "$here/../test/many-entries.ts" "$count" "$work/many.tar.gz"
printf 'generate   %d entries: %.1f s, %s bytes gzip\n' "$count" "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$(stat -c %s "$work/many.tar.gz")"

# measure NAME CMD...: runs CMD under GNU time, prints wall time and peak RSS
measure() {
  local name=$1
  shift
  "$gnutime" -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>&1 || [ "$name" = check ] || { cat "$work/out" >&2; exit 1; }
  read -r secs kib < <(tail -n 1 "$work/time")  # GNU time first notes a non-zero exit
  printf '%-10s %.1f s, peak RSS %d MiB\n' "$name" "$secs" $((kib / 1024))
}

measure import "$kiln" image import "$work/many.tar.gz" many --label walt.node.models=rpi-3-b
measure check "$kiln" image check many
index=$(find "$KILN_HOME/cache/tree" -name '*.index.db')
size=$(stat -c %s "$index")
printf 'index      %d bytes, %.1f bytes per entry\n' "$size" "$(awk -v s="$size" -v n="$count" 'BEGIN { print s / n }')"
