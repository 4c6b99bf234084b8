#!/usr/bin/env bash
# Benchmark: SquashFS export of child images after their parent (OpenCHAMI's flow:
# `base`, then `compute` = base + packages, then `debug` = compute + one user), against a
# cold export of the same image (empty export cache).
#
# The images are made without network: the Debian rootfs tarball is imported as `base`;
# umoci adds a layer of "packages" (the first PKG_MB MB of host files under PKG_DIR, default
# 25 MB of /usr/lib/python3: a few packages' worth) for `compute`, then a layer with one more user (passwd, shadow, group, a
# home directory) for `debug`. Timed, medians of RUNS runs:
#   base cold             kiln image export base   (empty cache)
#   compute after base    kiln image export compute (base exported just before)
#   debug after compute   kiln image export debug   (compute exported just before)
#   compute cold, debug cold   the same with the export cache emptied first
# Ratios child/cold are printed (target <= 0.3). Kiln's gzip level: KILN_EXPORT_COMPRESSION_LEVEL (default 6).
#
# usage: bench/export-child.sh [rootfs.tar]   (default /tmp/kiln-bench/debian-rootfs.tar)
# env:   RUNS=3, KILN_BENCH_TMP=/tmp, PKG_DIR=/usr/lib/python3, PKG_MB=25; QUICK=1: the tiny
#        busybox root, a 1 MB packages layer, one run (the same code paths)
# result-line: ^compute-after +[0-9.]+$
# result-line: ^ratio compute after base / compute cold: [0-9.]+$
# result-line: ^ratio debug after compute / debug cold: [0-9.]+ +\(target
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

input=${1:-/tmp/kiln-bench/debian-rootfs.tar}
runs=${RUNS:-3}
pkg_dir=${PKG_DIR:-/usr/lib/python3}
pkg_mb=${PKG_MB:-25}
if quick; then
  input=$QUICK_ROOTFS runs=1 pkg_mb=1
fi
for tool in umoci unsquashfs; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
ensure_debian_rootfs "$input" systemd-sysv,openssh-server,busybox-static,iproute2

work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench-child.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

export KILN_HOME="$work/home" KILN_USER=bench KILN_CONFIG=
mkdir -p "$KILN_HOME"
echo "bench: making base, compute, debug (not timed)" >&2
run "$kiln" image import "$input" base:1 --label walt.node.models=pc-x86-64 --platform linux/amd64
run "$kiln" image export base:1 "$work/base.tar" --format oci-archive
mkdir "$work/oci" && tar -xf "$work/base.tar" -C "$work/oci"
tag=$(umoci ls --layout "$work/oci" | head -1)
run umoci unpack --image "$work/oci:$tag" "$work/bundle"
mkdir -p "$work/bundle/rootfs/opt/pkgs"
# Lists go through files: awk stopping early would fail the pipeline (SIGPIPE, pipefail).
(cd "$pkg_dir" && find . -type f -printf '%s %p\n' | sort -k2) >"$work/pkg-all"
awk -v max=$((pkg_mb << 20)) '{ t += $1; if (t > max) exit; print substr($0, index($0, " ") + 1) }' "$work/pkg-all" >"$work/pkg-list"
tar -C "$pkg_dir" -c --no-recursion -T "$work/pkg-list" | tar -x -C "$work/bundle/rootfs/opt/pkgs"
run umoci repack --image "$work/oci:compute" "$work/bundle"
r="$work/bundle/rootfs"
echo 'debug:x:1001:1001:debug:/home/debug:/bin/bash' >>"$r/etc/passwd"
echo 'debug:!:19000:0:99999:7:::' >>"$r/etc/shadow"
echo 'debug:x:1001:' >>"$r/etc/group"
mkdir -p "$r/home/debug" && cp "$r/etc/skel/.bashrc" "$r/home/debug/" 2>/dev/null || true
chown -R 1001:1001 "$r/home/debug"
run umoci repack --image "$work/oci:debug" "$work/bundle"
run "$kiln" image import "$work/oci" compute:1 --ref compute --label walt.node.models=pc-x86-64
run "$kiln" image import "$work/oci" debug:1 --ref debug --label walt.node.models=pc-x86-64
rm -rf "$work/bundle" "$work/oci" "$work/base.tar"

declare -A T
ex() { # ex NAME IMAGE: timed export to a fresh directory
  rm -rf "$work/out"
  local t0; t0=$(now)
  run "$kiln" image export "$2" "$work/out" --format squashfs --layout kiln
  T[$1]+=" $(elapsed "$t0")"
}
cold() { rm -rf "$KILN_HOME/cache/export"; }
for ((i = 1; i <= runs; i++)); do
  cold; ex base-cold base:1; ex compute-after compute:1; ex debug-after debug:1
  cold; ex compute-cold compute:1
  cold; ex debug-cold debug:1
  echo "  run $i/$runs done" >&2
done
unsquashfs -s "$(find "$work/out" -name rootfs.squashfs)" >/dev/null
m() { median ${T[$1]}; }
printf '\n%-28s %9s\n' 'squashfs export' 'median_s'
printf '%s\n' '----------------------------------------'
for k in base-cold compute-cold compute-after debug-cold debug-after; do printf '%-28s %9.3f\n' "$k" "$(m $k)"; done
printf '\nratio compute after base / compute cold: %.2f\nratio debug after compute / debug cold: %.2f   (target <= 0.3)\n' \
  "$(awk -v a="$(m compute-after)" -v b="$(m compute-cold)" 'BEGIN { print a / b }')" \
  "$(awk -v a="$(m debug-after)" -v b="$(m debug-cold)" 'BEGIN { print a / b }')"
