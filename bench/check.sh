#!/usr/bin/env bash
# Benchmark: `kiln image check` vs checking an image by hand the way users can today.
#
# Input: a real Debian 12 root filesystem tarball of about 300 MB (busybox-static,
# openssh-server, systemd, the cloud kernel and its initrd, /boot/pc-x86-64/start.ipxe),
# built with mmdebstrap when not given. It is imported once (not timed), then:
#   kiln (cold)  kiln image check, first run: reads every layer header, writes the layer
#                index cache under $KILN_HOME/cache/tree/, reads the few files rules need
#   kiln (warm)  kiln image check again: layer index from the cache
#   by hand      umoci unpack of the same image from Kiln's OCI store (what a user does to
#                look inside an image without running it), then the file inspections a
#                person would do for the main requirements: boot directory and links, the
#                kernel options in /boot/config-*, /sbin/init, applet names grepped out of
#                /bin/busybox, commands in PATH, PermitRootLogin in sshd_config and drop-ins;
#                then removing the unpacked bundle. It checks less than Kiln does (no
#                initrd/IKCONFIG, no include/Match semantics, symlinks resolved against the
#                host root), so the ratio flatters the manual way.
# Each is run RUNS times (default 5); medians are printed with the ratio by-hand/kiln.
#
# usage: bench/check.sh [rootfs.tar]   (default /tmp/kiln-bench/check-debian.tar, built with
#        mmdebstrap when missing -- the only network use of this script)
# env:   RUNS=5, KILN_BENCH_TMP=/tmp (where scratch dirs go); QUICK=1: the tiny busybox root
#        (which fails the check: its verdict is then not an error), one run
# result-line: ^by-hand/kiln: .*x \(cold\), .*x \(warm\)$
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

input=${1:-/tmp/kiln-bench/check-debian.tar}
runs=${RUNS:-5}
verdict_ok=
if [ -n "${QUICK:-}" ]; then
  input=$QUICK_ROOTFS runs=1 verdict_ok=1
fi

command -v umoci >/dev/null || { echo "bench: umoci is required" >&2; exit 1; }
ensure_debian_rootfs "$input" busybox-static,openssh-server,linux-image-cloud-amd64,systemd-sysv,iproute2 \
  --customize-hook='cd "$1/boot" && v=$(ls vmlinuz-* | sed s/^vmlinuz-//) && mkdir pc-x86-64 && ln -s /boot/vmlinuz-$v pc-x86-64/kernel && ln -s ../initrd.img-$v pc-x86-64/initrd && printf "#!ipxe\nkernel kernel ip=dhcp\ninitrd initrd\nboot\n" > pc-x86-64/start.ipxe'

work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench-check.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
export KILN_HOME="$work/home" KILN_USER=bench KILN_CONFIG=


# The manual inspection, on an unpacked root filesystem (prints what it finds to a log).
by_hand() {
  local root=$1 m=pc-x86-64 c
  ls -l "$root/boot/$m"
  for l in "$root/boot/$m"/*; do [ -L "$l" ] && readlink -f "$l"; done
  grep -E '^CONFIG_(OVERLAY_FS|NFS_FS|NFS_V3|ROOT_NFS|IP_PNP|IP_PNP_DHCP)=' "$root"/boot/config-* || true
  ls -l "$root/sbin/init"
  for a in awk cat chroot ls mktemp mkfifo nc realpath reboot rm sed sh sleep timeout uname; do
    grep -q -a -F "$(printf '\0%s\0' "$a")" "$root/bin/busybox" 2>/dev/null || grep -c -a -x "$a" "$root/bin/busybox" || true
  done
  for c in chmod chroot cp date echo grep head ln mkdir mount reboot sed setsid sh timeout tr umount; do
    ls "$root"/usr/local/sbin/$c "$root"/usr/local/bin/$c "$root"/usr/sbin/$c "$root"/usr/bin/$c "$root"/sbin/$c "$root"/bin/$c 2>/dev/null | head -n1
  done
  grep -i -h -E '^\s*(PermitRootLogin|Port|Include)' "$root"/etc/ssh/sshd_config "$root"/etc/ssh/sshd_config.d/* 2>/dev/null || true
}

echo "bench: input $input ($(du -m "$input" | cut -f1) MB), $runs runs each" >&2
"$kiln" image import "$input" img --label walt.node.models=pc-x86-64 >/dev/null
K_COLD=() K_WARM=() H=()
for ((i = 1; i <= runs; i++)); do
  rm -rf "$KILN_HOME/cache"
  t0=$(now); "$kiln" image check img >"$work/kiln.log" 2>&1 || [ -n "$verdict_ok" ] || { cat "$work/kiln.log"; exit 1; }; K_COLD+=("$(elapsed "$t0")")
  t0=$(now); "$kiln" image check img >/dev/null 2>&1 || [ -n "$verdict_ok" ]; K_WARM+=("$(elapsed "$t0")")
  t0=$(now)
  umoci unpack --image "$KILN_HOME/store:bench/img:latest" "$work/bundle" >/dev/null
  by_hand "$work/bundle/rootfs" >"$work/hand.log" 2>&1 || true # a missing file is a finding, not an error
  rm -rf "$work/bundle"
  H+=("$(elapsed "$t0")")
  echo "  run $i/$runs done" >&2
done
kc=$(median "${K_COLD[@]}"); kw=$(median "${K_WARM[@]}"); h=$(median "${H[@]}")
printf '\n%-34s %8s\n' 'method' 'median_s'
printf '%s\n' '-------------------------------------------'
printf '%-34s %8.3f\n' 'kiln image check (cold cache)' "$kc" 'kiln image check (warm cache)' "$kw" 'umoci unpack + inspection by hand' "$h"
printf '\nby-hand/kiln: %.1fx (cold), %.1fx (warm)\n' "$(awk -v a="$h" -v b="$kc" 'BEGIN { print a / b }')" "$(awk -v a="$h" -v b="$kw" 'BEGIN { print a / b }')"
tail -n1 "$work/kiln.log"
