#!/usr/bin/env bash
# Benchmark: Kiln vs Podman on a real root filesystem tarball (Debian 12 by default).
#
# For the given rootfs tarball and for a gzip copy of it (.tar.gz), measures wall time of:
#   import         kiln image import <tar> <name>           vs  podman import <tar> (vfs storage)
#   oci-archive    kiln image export --format oci-archive    vs  podman save --format oci-archive
#   docker-archive kiln image export --format docker-archive vs  podman save --format docker-archive
# Each timing is repeated RUNS times (default 3) with fresh, empty stores (a temporary
# KILN_HOME, and a podman --root/--runroot of its own); the median is reported, with the
# ratio podman/kiln (>1 means Kiln is faster) and the median peak RSS of `kiln image import`
# (needs GNU time; skipped without it). Podman's vfs driver also unpacks the layer on import,
# and its oci-archive output is gzip-compressed, so the two tools don't do identical work.
#
# usage: bench/import-rootfs.sh [rootfs.tar]   (default /tmp/kiln-bench/debian-rootfs.tar;
#        built with mmdebstrap when missing -- the only network use of this script)
# env:   RUNS=3, KILN_BENCH_TMP=/tmp (where scratch dirs go); QUICK=1: the tiny busybox root, one run
# result-line: ^tar +import .*x$
# result-line: ^tar\.gz +docker-archive .*x$
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

input=${1:-/tmp/kiln-bench/debian-rootfs.tar}
runs=${RUNS:-3}
if [ -n "${QUICK:-}" ]; then
  input=$QUICK_ROOTFS runs=1
fi
label=walt.node.models=pc-x86-64

command -v podman >/dev/null || { echo "bench: podman is required" >&2; exit 1; }
gnutime=$(type -P time || true)
if [ -n "$gnutime" ] && ! "$gnutime" -f %M true >/dev/null 2>&1; then gnutime=; fi

ensure_debian_rootfs "$input" systemd-sysv,openssh-server,busybox-static,iproute2
case "$input" in *.gz) echo "bench: give the uncompressed .tar (the .tar.gz is derived)" >&2; exit 1 ;; esac
gz="$input.gz"
[ -f "$gz" ] && [ ! "$input" -nt "$gz" ] || gzip -c -6 "$input" >"$gz"

work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM


declare -A T # T[input,op,tool] = space-separated times
RSS=()       # peak RSS (KB) of kiln import, per input: "name:kb kb kb"

bench_one() { # bench_one NAME FILE
  local name=$1 file=$2 i t0 kh pr out rss=""
  for ((i = 1; i <= runs; i++)); do
    kh="$work/kiln-$name-$i"; pr="$work/podman-$name-$i"; out="$work/out"
    rm -rf "$out"; mkdir -p "$kh" "$pr" "$out"
    export KILN_HOME="$kh" KILN_USER=bench
    # --- kiln ---
    t0=$(now)
    if [ -n "$gnutime" ]; then
      run "$gnutime" -f %M -o "$work/rss" "$kiln" image import "$file" rootfs --label "$label"
      rss+=" $(tail -n1 "$work/rss")"
    else
      run "$kiln" image import "$file" rootfs --label "$label"
    fi
    T[$name,import,kiln]+=" $(elapsed "$t0")"
    for fmt in oci-archive docker-archive; do
      t0=$(now); run "$kiln" image export rootfs "$out/kiln-$fmt.tar" --format "$fmt"
      T[$name,$fmt,kiln]+=" $(elapsed "$t0")"
    done
    # --- podman (isolated storage) ---
    local P=(podman --root "$pr/root" --runroot "$pr/runroot" --storage-driver vfs)
    t0=$(now); run "${P[@]}" import "$file" localhost/bench:1
    T[$name,import,podman]+=" $(elapsed "$t0")"
    for fmt in oci-archive docker-archive; do
      t0=$(now); run "${P[@]}" save --format "$fmt" -o "$out/podman-$fmt.tar" localhost/bench:1
      T[$name,$fmt,podman]+=" $(elapsed "$t0")"
    done
    if [ "$i" = 1 ]; then
      echo "  sizes: $(cd "$out" && for f in *.tar; do printf '%s=%s ' "$f" "$(du -m "$f" | cut -f1)M"; done)" >&2
    fi
    rm -rf "$kh" "$pr" "$out"
    echo "  $name run $i/$runs done" >&2
  done
  RSS+=("$name:$rss")
}

echo "bench: input $input ($(du -m "$input" | cut -f1) MB), $gz ($(du -m "$gz" | cut -f1) MB), $runs runs each" >&2
bench_one tar "$input"
bench_one tar.gz "$gz"

printf '\n%-7s %-15s %10s %10s %14s\n' input operation kiln_s podman_s podman/kiln
printf '%s\n' "-------------------------------------------------------------"
for name in tar tar.gz; do
  for op in import oci-archive docker-archive; do
    # shellcheck disable=SC2086
    k=$(median ${T[$name,$op,kiln]}); p=$(median ${T[$name,$op,podman]})
    printf '%-7s %-15s %10.3f %10.3f %13.2fx\n' "$name" "$op" "$k" "$p" "$(awk -v k="$k" -v p="$p" 'BEGIN { print p / k }')"
  done
done
if [ -n "$gnutime" ]; then
  echo
  for entry in "${RSS[@]}"; do
    # shellcheck disable=SC2086
    printf 'kiln import peak RSS (%s): median %s MB (runs: %s KB)\n' "${entry%%:*}" \
      "$(awk -v k="$(median ${entry#*:})" 'BEGIN { printf "%.1f", k / 1024 }')" "${entry#*:}"
  done
else
  echo "(GNU time not installed: peak RSS skipped)"
fi
