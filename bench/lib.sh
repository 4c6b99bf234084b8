# Shared by the benchmarks: source it, then call ensure_debian_rootfs.

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
