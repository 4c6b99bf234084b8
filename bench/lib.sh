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
ensure_debian_rootfs() {
  local file=$1 packages=$2
  shift 2
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

# Timing: t0=$(now); ...; seconds=$(elapsed "$t0"); ratio A B prints A/B.
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

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
