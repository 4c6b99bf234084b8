# Shared by the benchmarks: source it, then call what you need (ensure_debian_rootfs,
# buildah_workspace, the timing helpers).

# The benchmarks' folder, and the kiln command of this checkout.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kiln="$here/../bin/kiln"

# ensure_debian_rootfs FILE PACKAGES [MMDEBSTRAP-ARGS...]
# Builds a Debian 12 (bookworm) minbase root filesystem tarball at FILE with mmdebstrap,
# including the comma-separated PACKAGES, unless FILE exists. Man pages and locales are
# left out to keep it near the size a node image has. Only the main archive is used (no
# security mirror), so a mirror caught mid-sync does not break the build.
# In quick mode, builds the tiny root of ensure_quick_rootfs instead.
ensure_debian_rootfs() {
  local file=$1 packages=$2
  shift 2
  if quick; then ensure_quick_rootfs "$file"; return 0; fi
  [ -f "$file" ] && return 0
  command -v mmdebstrap >/dev/null || { echo "bench: $file missing and mmdebstrap not installed" >&2; exit 1; }
  echo "bench: building $file with mmdebstrap (Debian 12 bookworm)..." >&2
  mkdir -p "$(dirname "$file")"
  # mmdebstrap picks the output format from the name's extension: keep it on the temporary name.
  local tmp
  tmp="$(dirname "$file")/.building-$(basename "$file")"
  rm -rf "$tmp"
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' "$@" bookworm "$tmp" \
    "deb http://deb.debian.org/debian bookworm main"
  mv "$tmp" "$file"
}

# Quick mode (QUICK=1), which every benchmark has: tiny input, one run, the same code paths.
# The test suite runs each benchmark so (test/integration/bench-quick.test.ts) to keep them
# working; its timings mean nothing. Each script also names its result lines in a
# "# result-line: <regex>" header comment, which that test expects in the output.
quick() { [ -n "${QUICK:-}" ]; }

# The tiny root filesystem tarball quick mode uses instead of a Debian one (no network):
# busybox-static with its applet links and as /sbin/init, an os-release, and stub boot files
# for pc-x86-64 (a kernel and an initrd that are not real, and a start.ipxe).
QUICK_ROOTFS=${KILN_BENCH_TMP:-/tmp}/kiln-bench-quick/rootfs.tar

# ensure_quick_rootfs FILE: builds that tarball at FILE unless it exists.
ensure_quick_rootfs() {
  local file=$1 root busybox
  [ -f "$file" ] && return 0
  busybox=$(command -v busybox) || { echo "bench: busybox (busybox-static) is required in quick mode" >&2; exit 1; }
  mkdir -p "$(dirname "$file")"
  root=$(mktemp -d "$(dirname "$file")/.root.XXXXXX")
  mkdir -p "$root"/{bin,sbin,etc,root,tmp,usr/bin,usr/sbin,boot/pc-x86-64}
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"; done
  ln -s ../bin/busybox "$root/sbin/init"
  printf 'ID=debian\nVERSION_ID="12"\n' >"$root/etc/os-release"
  echo 'not a kernel' >"$root/boot/vmlinuz-6.1.0-1-amd64"
  echo 'not an initrd' >"$root/boot/initrd.img-6.1.0-1-amd64"
  ln -s ../vmlinuz-6.1.0-1-amd64 "$root/boot/pc-x86-64/kernel"
  ln -s ../initrd.img-6.1.0-1-amd64 "$root/boot/pc-x86-64/initrd"
  printf '#!ipxe\nkernel kernel ip=dhcp\ninitrd initrd\nboot\n' >"$root/boot/pc-x86-64/start.ipxe"
  tar -C "$root" --numeric-owner -cf "$file.tmp.$$" .
  mv "$file.tmp.$$" "$file"
  rm -rf "$root"
}

# Timing: t0=$(now); ...; seconds=$(elapsed "$t0"); ratio A B prints A/B.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# median X...: the median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# buildah_workspace NAME
# Makes the scratch directory $work (under $KILN_BENCH_TMP, default /tmp) and B, a buildah
# command with private storage in it (--root, --runroot, vfs driver); on exit, buildah's
# containers are unmounted and removed and $work is deleted. `run CMD...` then runs CMD with
# its output appended to $work/log, and on failure prints the log's tail and exits.
buildah_workspace() {
  work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench-$1.XXXXXX")
  B=(buildah --root "$work/buildah/root" --runroot "$work/buildah/run" --storage-driver vfs)
  trap buildah_workspace_cleanup EXIT INT TERM
}
buildah_workspace_cleanup() {
  "${B[@]}" umount --all >/dev/null 2>&1 || true
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
run() {
  local rc=0
  "$@" >>"$work/log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then echo "bench: FAILED (exit $rc): $*" >&2; tail -30 "$work/log" >&2; exit 1; fi
}
