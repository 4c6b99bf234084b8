#!/usr/bin/env bash
# Benchmark: `kiln image export --format squashfs` vs the OpenCHAMI way (buildah mount +
# mksquashfs with default options) on a real root filesystem (Debian 12 by default).
#
# Each run starts from fresh, private stores: the rootfs tarball is imported into a
# temporary KILN_HOME (not timed), exported as oci-archive and loaded with `buildah from`
# into a buildah --root/--runroot of its own (vfs driver; `from` timed apart, since an
# OpenCHAMI build already has its working container). Then, timed:
#   kiln        kiln image export <img> <dir> --format squashfs --layout kiln   (gzip at Kiln's level,
#               KILN_EXPORT_COMPRESSION_LEVEL, default 6)
#   kiln-again  the same export again: unchanged image, served from the export cache
#   openchami   buildah mount <ctr> && mksquashfs <mnt> <out> -noappend          (defaults: gzip level 9, all cores)
#   openchami-L the same with -Xcompression-level <Kiln's level>                 (like for like)
# and, for reference, the tools alone on the tarball:
#   tar2sqfs    tar2sqfs -c gzip -j <cores> < rootfs.tar
#   untar+mksq  tar -x (owners, xattrs) then mksquashfs <dir> -comp gzip
# Medians of RUNS runs (default 3) are printed with the ratios kiln/openchami for both mksquashfs
# rows (<1: Kiln faster), and the sizes.
#
# usage: bench/export.sh [rootfs.tar]   (default /tmp/kiln-bench/debian-rootfs.tar, built with
#        mmdebstrap when missing -- the only network use of this script)
# env:   RUNS=3, KILN_BENCH_TMP=/tmp (where scratch dirs go); QUICK=1: the tiny busybox root, one run
# result-line: ^kiln/openchami time: [0-9.]+x vs mksquashfs defaults \(level 9\), [0-9.]+x like for like
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

input=${1:-/tmp/kiln-bench/debian-rootfs.tar}
runs=${RUNS:-3}
if [ -n "${QUICK:-}" ]; then
  input=$QUICK_ROOTFS runs=1
fi
cores=$(nproc)
level=${KILN_EXPORT_COMPRESSION_LEVEL:-6}

for tool in buildah mksquashfs tar2sqfs; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
ensure_debian_rootfs "$input" systemd-sysv,openssh-server,busybox-static,iproute2

work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench-export.XXXXXX")
B=()
cleanup() {
  if [ ${#B[@]} -gt 0 ]; then "${B[@]}" rm --all >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM


declare -A T
S_K=0; S_O=0; S_L=0
echo "bench: input $input ($(du -m "$input" | cut -f1) MB), $runs runs, $cores cores" >&2
for ((i = 1; i <= runs; i++)); do
  kh="$work/kiln-home"; out="$work/out"; br="$work/buildah"
  rm -rf "$kh" "$out" "$br" "$work/bench.oci.tar"; mkdir -p "$kh" "$out" "$br"
  export KILN_HOME="$kh" KILN_USER=bench KILN_CONFIG= KILN_EXPORT_COMPRESSION_LEVEL="$level"
  run "$kiln" image import "$input" bench:1 --label walt.node.models=pc-x86-64 --platform linux/amd64
  run "$kiln" image export bench:1 "$work/bench.oci.tar" --format oci-archive

  t0=$(now); run "$kiln" image export bench:1 "$out/kiln" --format squashfs --layout kiln
  T[kiln]+=" $(elapsed "$t0")"
  t0=$(now); run "$kiln" image export bench:1 "$out/kiln" --format squashfs --layout kiln
  T[kiln-again]+=" $(elapsed "$t0")"

  B=(buildah --root "$br/root" --runroot "$br/run" --storage-driver vfs)
  t0=$(now); ctr=$("${B[@]}" from --quiet "oci-archive:$work/bench.oci.tar")
  T[buildah-from]+=" $(elapsed "$t0")"
  t0=$(now)
  mnt=$("${B[@]}" mount "$ctr")
  run mksquashfs "$mnt" "$out/openchami.squashfs" -noappend
  T[openchami]+=" $(elapsed "$t0")"
  t0=$(now)
  run mksquashfs "$mnt" "$out/openchami-l.squashfs" -noappend -Xcompression-level "$level"
  T[openchami-l]+=" $(elapsed "$t0")"
  "${B[@]}" umount "$ctr" >/dev/null
  "${B[@]}" rm --all >/dev/null

  t0=$(now); run sh -c "tar2sqfs -q -f -c gzip -j $cores '$out/t2s.squashfs' < '$input'"
  T[tar2sqfs]+=" $(elapsed "$t0")"
  t0=$(now)
  mkdir "$work/untar"
  run tar -x -f "$input" -C "$work/untar" --numeric-owner --xattrs '--xattrs-include=*' --same-owner --same-permissions
  run mksquashfs "$work/untar" "$out/m.squashfs" -noappend -comp gzip -processors "$cores"
  T[untar+mksq]+=" $(elapsed "$t0")"
  rm -rf "$work/untar"
  if [ "$i" = 1 ]; then
    sz() { stat -c %s "$1"; }
    S_K=$(sz "$out/kiln/bench/1/amd64/rootfs.squashfs"); S_O=$(sz "$out/openchami.squashfs"); S_L=$(sz "$out/openchami-l.squashfs")
  fi
  echo "  run $i/$runs done" >&2
done

k=$(median ${T[kiln]}); o=$(median ${T[openchami]}); l=$(median ${T[openchami-l]})
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '\n%-44s %9s %9s %8s\n' 'squashfs export' 'median_s' 'size_MB' 'kiln/it'
printf '%s\n' '-------------------------------------------------------------------------'
printf '%-44s %9.3f %9s %8s\n' "kiln export (gzip level $level)" "$k" "$(mb "$S_K")" ''
printf '%-44s %9.3f %9s %8s\n' 'openchami: mount + mksquashfs (level 9)' "$o" "$(mb "$S_O")" "$(ratio "$k" "$o")"
printf '%-44s %9.3f %9s %8s\n' "openchami: mount + mksquashfs (level $level)" "$l" "$(mb "$S_L")" "$(ratio "$k" "$l")"
printf '%-44s %9.3f\n' 'kiln export again (cached)' "$(median ${T[kiln-again]})"
printf '%-44s %9.3f\n' '(buildah from, not counted)' "$(median ${T[buildah-from]})"
printf '%-44s %9.3f\n' 'tool alone: tar2sqfs' "$(median ${T[tar2sqfs]})"
printf '%-44s %9.3f\n' 'tool alone: untar + mksquashfs' "$(median ${T[untar+mksq]})"
printf '\nkiln/openchami time: %s vs mksquashfs defaults (level 9), %s like for like (level %s); <1: Kiln faster\n' "$(ratio "$k" "$o")" "$(ratio "$k" "$l")" "$level"
printf 'size kiln/mksquashfs: %s vs level 9, %s vs level %s\n' "$(ratio "$S_K" "$S_O")" "$(ratio "$S_K" "$S_L")" "$level"
