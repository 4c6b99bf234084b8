#!/usr/bin/env bash
# Benchmark: start-up time and memory of the kiln command against the container tools'.
#
# A scratch store holds two small node images (a busybox root filesystem, imported twice);
# a private podman root (vfs) holds the same two. Then each command runs RUNS times
# (default 20) and the median wall time and median peak RSS (GNU time) are printed:
#   kiln --version, kiln image show             (the compile cache warm: bin/kiln's default)
#   kiln image show, no compile cache           (NODE_DISABLE_COMPILE_CACHE=1: every file stripped)
#   skopeo --version, podman --version, podman images (private root)
# with the ratios other/kiln (>1: Kiln starts faster). Targets: kiln --version and kiln
# image show under 100 ms and 60 MB.
#
# usage: bench/startup.sh     env: RUNS=20, KILN_BENCH_TMP=/tmp (where scratch dirs go)
# result-line: ^ratio podman images / kiln image show: [0-9.]+x wall, [0-9.]+x RSS$
# result-line: ^ratio skopeo --version / kiln --version: [0-9.]+x wall, [0-9.]+x RSS$
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

runs=${RUNS:-20}
if quick; then runs=1; fi
gnutime=/usr/bin/time
"$gnutime" -f %M true >/dev/null 2>&1 || { echo "bench: GNU time (/usr/bin/time) is required" >&2; exit 1; }
for tool in podman skopeo; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench-startup.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export KILN_HOME="$work/home" KILN_USER=bench KILN_CONFIG= NODE_COMPILE_CACHE="$work/compile-cache"
P=(podman --root "$work/podman-root" --runroot "$work/podman-run" --storage-driver vfs)

ensure_quick_rootfs "$work/rootfs.tar"
for name in one two; do
  "$kiln" image import "$work/rootfs.tar" "$name" --label walt.node.models=pc-x86-64 -q
  "${P[@]}" import -q "$work/rootfs.tar" "localhost/$name:latest" >/dev/null
done
"$kiln" --version >/dev/null # fills the compile cache, as any first run of bin/kiln does

declare -A WALL RSS
# measure KEY CMD...: RUNS runs of CMD; wall time in ms (from the shell's clock: GNU time's
# is in 10 ms steps) and peak RSS in MB, medians into WALL[KEY] and RSS[KEY]
measure() {
  local key=$1 i t0 t1 walls=() rsss=()
  shift
  for ((i = 1; i <= runs; i++)); do
    t0=$(date +%s%N)
    "$gnutime" -f %M -o "$work/rss" "$@" >"$work/out" 2>&1 || { echo "bench: FAILED: $*" >&2; cat "$work/out" >&2; exit 1; }
    t1=$(date +%s%N)
    walls+=("$(((t1 - t0) / 1000))")
    rsss+=("$(tail -n1 "$work/rss")")
  done
  WALL[$key]=$(awk -v us="$(median "${walls[@]}")" 'BEGIN { printf "%.1f", us / 1000 }')
  RSS[$key]=$(awk -v kb="$(median "${rsss[@]}")" 'BEGIN { printf "%.1f", kb / 1024 }')
  printf '%-44s %9s %8s\n' "$key" "${WALL[$key]}" "${RSS[$key]}"
}

grep -q '^one ' <<<"$("$kiln" image show)" || { echo "bench: kiln image show does not list the images" >&2; exit 1; }
echo "bench: $runs runs each, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)" >&2
printf '%-44s %9s %8s\n' command wall_ms rss_MB
measure 'kiln --version' "$kiln" --version
measure 'kiln image show' "$kiln" image show
measure 'kiln image show (no compile cache)' env NODE_DISABLE_COMPILE_CACHE=1 "$kiln" image show
measure 'skopeo --version' skopeo --version
measure 'podman --version' podman --version
measure 'podman images (private root, 2 images)' "${P[@]}" images
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "ratio skopeo --version / kiln --version: $(ratio "${WALL[skopeo --version]}" "${WALL[kiln --version]}")x wall, $(ratio "${RSS[skopeo --version]}" "${RSS[kiln --version]}")x RSS"
echo "ratio podman --version / kiln --version: $(ratio "${WALL[podman --version]}" "${WALL[kiln --version]}")x wall, $(ratio "${RSS[podman --version]}" "${RSS[kiln --version]}")x RSS"
echo "ratio podman images / kiln image show: $(ratio "${WALL[podman images (private root, 2 images)]}" "${WALL[kiln image show]}")x wall, $(ratio "${RSS[podman images (private root, 2 images)]}" "${RSS[kiln image show]}")x RSS"
echo "targets: kiln --version and kiln image show under 100 ms and 60 MB" >&2
