#!/usr/bin/env bash
# Benchmark: `kiln image export --format squashfs` vs the OpenCHAMI way (buildah mount +
# mksquashfs with default options) on a real root filesystem (Debian 12 by default).
#
# Each run starts from fresh, private stores: the rootfs tarball is imported into a
# temporary KILN_HOME (not timed), exported as oci-archive and loaded with `buildah from`
# into a buildah --root/--runroot of its own (vfs driver; `from` timed apart, since an
# OpenCHAMI build already has its working container). Then, timed:
#   kiln        kiln image export <img> <dir> --format squashfs --layout kiln   (gzip, as mksquashfs)
#   kiln-again  the same export again: unchanged image, served from the export cache
#   openchami   buildah mount <ctr> && mksquashfs <mnt> <out> -noappend          (defaults: gzip, all cores)
# and, for reference, the tools alone on the tarball:
#   tar2sqfs    tar2sqfs -c gzip -j <cores> < rootfs.tar
#   untar+mksq  tar -x (owners, xattrs) then mksquashfs <dir> -comp gzip
# Medians of RUNS runs (default 3) are printed with the ratio openchami/kiln (>1: Kiln faster).
#
# usage: bench/export.sh [rootfs.tar]   (default /tmp/kiln-bench/debian-rootfs.tar, built with
#        mmdebstrap when missing -- the only network use of this script)
# env:   RUNS=3, KILN_BENCH_TMP=/tmp (where scratch dirs go); QUICK=1: the tiny busybox root, one run
# result-line: ^ratio openchami/kiln: .*x
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

input=${1:-/tmp/kiln-bench/debian-rootfs.tar}
runs=${RUNS:-3}
if [ -n "${QUICK:-}" ]; then
  input=$QUICK_ROOTFS runs=1
fi
cores=$(nproc)

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

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run() { # run LOG CMD...: output to LOG; on failure print it and exit
  local log=$1; shift
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then echo "bench: FAILED (exit $rc): $*" >&2; cat "$log" >&2; exit 1; fi
}

declare -A T
SIZES=""
echo "bench: input $input ($(du -m "$input" | cut -f1) MB), $runs runs, $cores cores" >&2
for ((i = 1; i <= runs; i++)); do
  kh="$work/kiln-home"; out="$work/out"; br="$work/buildah"
  rm -rf "$kh" "$out" "$br" "$work/bench.oci.tar"; mkdir -p "$kh" "$out" "$br"
  export KILN_HOME="$kh" KILN_USER=bench KILN_CONFIG=
  run "$work/log" "$kiln" image import "$input" bench:1 --label walt.node.models=pc-x86-64 --platform linux/amd64
  run "$work/log" "$kiln" image export bench:1 "$work/bench.oci.tar" --format oci-archive

  t0=$(now); run "$work/log" "$kiln" image export bench:1 "$out/kiln" --format squashfs --layout kiln
  T[kiln]+=" $(elapsed "$t0")"
  t0=$(now); run "$work/log" "$kiln" image export bench:1 "$out/kiln" --format squashfs --layout kiln
  T[kiln-again]+=" $(elapsed "$t0")"

  B=(buildah --root "$br/root" --runroot "$br/run" --storage-driver vfs)
  t0=$(now); ctr=$("${B[@]}" from --quiet "oci-archive:$work/bench.oci.tar")
  T[buildah-from]+=" $(elapsed "$t0")"
  t0=$(now)
  mnt=$("${B[@]}" mount "$ctr")
  run "$work/log" mksquashfs "$mnt" "$out/openchami.squashfs" -noappend
  T[openchami]+=" $(elapsed "$t0")"
  "${B[@]}" umount "$ctr" >/dev/null
  "${B[@]}" rm --all >/dev/null

  t0=$(now); run "$work/log" sh -c "tar2sqfs -q -f -c gzip -j $cores '$out/t2s.squashfs' < '$input'"
  T[tar2sqfs]+=" $(elapsed "$t0")"
  t0=$(now)
  mkdir "$work/untar"
  run "$work/log" tar -x -f "$input" -C "$work/untar" --numeric-owner --xattrs '--xattrs-include=*' --same-owner --same-permissions
  run "$work/log" mksquashfs "$work/untar" "$out/m.squashfs" -noappend -comp gzip -processors "$cores"
  T[untar+mksq]+=" $(elapsed "$t0")"
  rm -rf "$work/untar"
  if [ "$i" = 1 ]; then
    SIZES="kiln $(du -m "$out/kiln/bench/1/amd64/rootfs.squashfs" | cut -f1) MB, openchami $(du -m "$out/openchami.squashfs" | cut -f1) MB"
  fi
  echo "  run $i/$runs done" >&2
done

k=$(median ${T[kiln]}); o=$(median ${T[openchami]})
printf '\n%-30s %9s\n' 'squashfs export' 'median_s'
printf '%s\n' '------------------------------------------'
printf '%-30s %9.3f\n' 'kiln export' "$k"
printf '%-30s %9.3f\n' 'kiln export again (cached)' "$(median ${T[kiln-again]})"
printf '%-30s %9.3f\n' 'openchami: mount + mksquashfs' "$o"
printf '%-30s %9.3f\n' '(buildah from, not counted)' "$(median ${T[buildah-from]})"
printf '%-30s %9.3f\n' 'tool alone: tar2sqfs' "$(median ${T[tar2sqfs]})"
printf '%-30s %9.3f\n' 'tool alone: untar + mksquashfs' "$(median ${T[untar+mksq]})"
printf '\nratio openchami/kiln: %.2fx (>1: Kiln faster)\nsizes: %s\n' "$(awk -v k="$k" -v o="$o" 'BEGIN { print o / k }')" "$SIZES"
