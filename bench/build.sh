#!/usr/bin/env bash
# Benchmark: `kiln image build` vs the OpenCHAMI image-builder pipeline (buildah) on the same
# two-layer Debian spec: base (scratch + mmdebstrap, packages, a command) and compute (parent
# base, packages, two commands). In one run, from fresh private stores:
#   cold       both layers built from nothing (each side runs mmdebstrap and apt-get, from the
#              same mirror, one after the other)
#   unchanged  the same specs again: Kiln's step cache; OpenCHAMI rebuilds (buildah has no cache)
#   last-cmd   the last command of compute edited: Kiln re-runs that command only; OpenCHAMI
#              rebuilds the compute layer from the base image ("compute only") -- the whole
#              pipeline is the "unchanged" figure
# The buildah side is what image-builder does: `buildah from scratch` + mount + the package
# manager's bootstrap into the mount, `buildah run` per package set and per command,
# `buildah commit`; the child does `buildah from <base>`. Storage is private (--root, --runroot,
# vfs driver); `buildah run --isolation chroot`, because the OCI runtime (crun) cannot set up
# its namespaces and rlimits inside this kind of sandbox.
#
# usage: bench/build.sh
# env:   MIRROR=http://deb.debian.org/debian, KILN_BENCH_TMP=/tmp (where scratch dirs go)
#        QUICK=1: no network: the base layer starts from the tiny busybox root (Kiln: that
#        root imported as the parent image; buildah: unpacked into the scratch container,
#        instead of mmdebstrap), no packages, the same commands
# result-line: ^cold \(base \+ compute\) +[0-9.]+ +[0-9.]+ +[0-9.]+$
# result-line: ^last command edited \(full rebuild\) +[0-9.]+ +[0-9.]+ +[0-9.]+$
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mirror=${MIRROR:-http://deb.debian.org/debian}
for tool in buildah mmdebstrap; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

buildah_workspace build

BASE_PKGS=(iproute2 procps less)
COMPUTE_PKGS=(jq curl)
base_parent=scratch
if [ -n "${QUICK:-}" ]; then
  BASE_PKGS=() COMPUTE_PKGS=() base_parent=bench-root:1
  ensure_quick_rootfs "$QUICK_ROOTFS"
fi
APT='apt-get update -q && apt-get install -y -q --no-install-recommends "$@" && apt-get clean && rm -rf /var/lib/apt/lists/*'

write_specs() { # write_specs LAST-COMMAND
  cat >"$work/base.yaml" <<EOF
options:
  layer_type: 'base'
  name: 'bench-base'
  publish_tags: '1'
  pkg_manager: 'apt'
  parent: '$base_parent'
apt: {mirror: '$mirror'}
${BASE_PKGS[*]:+packages: [$(IFS=,; echo "${BASE_PKGS[*]}")]}
cmds:
  - cmd: 'echo base > /etc/bench-base'
EOF
  cat >"$work/compute.yaml" <<EOF
options:
  layer_type: 'base'
  name: 'bench-compute'
  publish_tags: '1'
  pkg_manager: 'apt'
  parent: 'bench-base:1'
${COMPUTE_PKGS[*]:+packages: [$(IFS=,; echo "${COMPUTE_PKGS[*]}")]}
cmds:
  - cmd: 'echo compute > /etc/motd'
  - cmd: '$1'
EOF
}

kiln_build() {
  run env KILN_HOME="$work/kiln" KILN_USER=bench KILN_CONFIG= "$kiln" image build "$work/base.yaml" "$work/compute.yaml"
}

openchami_base() {
  local ctr mnt
  ctr=$("${B[@]}" from --quiet scratch)
  mnt=$("${B[@]}" mount "$ctr")
  if [ "$base_parent" = scratch ]; then run mmdebstrap --variant=minbase --mode=root bookworm "$mnt" "$mirror"; else run tar -x -f "$QUICK_ROOTFS" -C "$mnt"; fi
  run "${B[@]}" umount "$ctr"
  [ ${#BASE_PKGS[@]} = 0 ] || run "${B[@]}" run --isolation chroot "$ctr" -- sh -c "$APT" sh "${BASE_PKGS[@]}"
  run "${B[@]}" run --isolation chroot "$ctr" -- sh -c 'echo base > /etc/bench-base'
  run "${B[@]}" commit --quiet --rm "$ctr" localhost/bench-base:1
}

openchami_compute() { # openchami_compute LAST-COMMAND
  local ctr
  ctr=$("${B[@]}" from --quiet localhost/bench-base:1)
  [ ${#COMPUTE_PKGS[@]} = 0 ] || run "${B[@]}" run --isolation chroot "$ctr" -- sh -c "$APT" sh "${COMPUTE_PKGS[@]}"
  run "${B[@]}" run --isolation chroot "$ctr" -- sh -c 'echo compute > /etc/motd'
  run "${B[@]}" run --isolation chroot "$ctr" -- sh -c "$1"
  run "${B[@]}" commit --quiet --rm "$ctr" localhost/bench-compute:1
}

mkdir -p "$work/kiln" "$work/buildah"
[ "$base_parent" = scratch ] || run env KILN_HOME="$work/kiln" KILN_USER=bench KILN_CONFIG= "$kiln" image import "$QUICK_ROOTFS" "$base_parent" --label walt.node.models=pc-x86-64
echo "bench: two-layer Debian 12 spec from $mirror, $(nproc) cores; log in $work/log" >&2
write_specs 'echo v1 > /etc/compute-version'

t0=$(now); kiln_build; kiln_cold=$(elapsed "$t0")
t0=$(now); openchami_base; openchami_compute 'echo v1 > /etc/compute-version'; oc_cold=$(elapsed "$t0")
t0=$(now); kiln_build; kiln_same=$(elapsed "$t0")
t0=$(now); openchami_base; openchami_compute 'echo v1 > /etc/compute-version'; oc_same=$(elapsed "$t0")

write_specs 'echo v2 > /etc/compute-version'
t0=$(now); kiln_build; kiln_edit=$(elapsed "$t0")
t0=$(now); openchami_compute 'echo v2 > /etc/compute-version'; oc_edit=$(elapsed "$t0")

printf '%-34s %10s %10s %8s\n' '' 'kiln (s)' 'buildah (s)' 'ratio'
printf '%-34s %10s %10s %8s\n' 'cold (base + compute)' "$kiln_cold" "$oc_cold" "$(ratio "$kiln_cold" "$oc_cold")"
printf '%-34s %10s %10s %8s\n' 'unchanged rebuild' "$kiln_same" "$oc_same" "$(ratio "$oc_same" "$kiln_same")"
printf '%-34s %10s %10s %8s\n' 'last command edited (compute only)' "$kiln_edit" "$oc_edit" "$(ratio "$oc_edit" "$kiln_edit")"
printf '%-34s %10s %10s %8s\n' 'last command edited (full rebuild)' "$kiln_edit" "$oc_same" "$(ratio "$oc_same" "$kiln_edit")"
echo "targets: cold kiln/buildah <= 1.10; unchanged kiln < 1 s; last command: buildah full rebuild / kiln >= 10" >&2
