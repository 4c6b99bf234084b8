#!/usr/bin/env bash
# Benchmark: `kiln image build <name> --from-dir` vs `buildah bud --layers` on the same Dockerfile
# and the same base (a Debian 12 root filesystem tarball imported into both stores before timing):
#   cold       every step run (RUN apt-get install of two small packages, COPY, ENV, a last RUN)
#   unchanged  the same Dockerfile again: both sides answer from their layer cache
#   last-step  the last RUN edited: both re-run that step only, from their cache
# buildah's storage is private (--root, --runroot, vfs driver) and its RUN steps use
# `--isolation chroot`, because the OCI runtime (crun) cannot set up its namespaces inside this
# kind of sandbox. The buildah base is `buildah from scratch` + mount + tar -x + commit.
# Ratios are buildah/kiln: >1 means Kiln is faster.
#
# QUICK=1: a busybox-static root made here without network, a RUN that writes a file instead of
# apt-get, one run; the same code paths and the same table.
#
# usage: bench/dockerfile.sh [rootfs.tar]   (default /tmp/kiln-bench/debian-rootfs.tar;
#        built with mmdebstrap when missing)
# env:   QUICK=1, KILN_BENCH_TMP=/tmp (where scratch dirs go)
# result-line: ^cold +[0-9.]+ +[0-9.]+ +[0-9.]+$
# result-line: ^unchanged rebuild +[0-9.]+ +[0-9.]+ +[0-9.]+$
# result-line: ^last RUN edited +[0-9.]+ +[0-9.]+ +[0-9.]+$
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

quick=${QUICK:-}
command -v buildah >/dev/null || { echo "bench: buildah is required" >&2; exit 1; }

buildah_workspace dockerfile

if [ -n "$quick" ]; then
  command -v busybox >/dev/null || { echo "bench: busybox is required for QUICK=1" >&2; exit 1; }
  input="$work/busybox-root.tar"
  mkdir -p "$work/busybox-root/bin" "$work/busybox-root/etc"
  cp "$(command -v busybox)" "$work/busybox-root/bin/busybox"
  for applet in sh echo mkdir cat rm; do ln -s busybox "$work/busybox-root/bin/$applet"; done
  echo 'root:x:0:0::/root:/bin/sh' >"$work/busybox-root/etc/passwd"
  tar -C "$work/busybox-root" --numeric-owner -cf "$input" .
  INSTALL='echo installed > /etc/installed && mkdir -p /opt/tools && echo tool > /opt/tools/tool'
  what="busybox-static root (QUICK)"
else
  input=${1:-/tmp/kiln-bench/debian-rootfs.tar}
  ensure_debian_rootfs "$input" systemd-sysv,openssh-server,busybox-static,iproute2
  INSTALL='apt-get update -q && apt-get install -y -q --no-install-recommends jq less && apt-get clean && rm -rf /var/lib/apt/lists/*'
  what="Debian 12 root $(basename "$input")"
fi

# The build context: a small application tree, and the Dockerfile (FROM differs per tool).
ctx="$work/ctx"
mkdir -p "$ctx/app/conf"
for i in $(seq 1 50); do printf 'file %s\n' "$i" >"$ctx/app/f$i.txt"; done
printf 'mode=bench\n' >"$ctx/app/conf/app.conf"
write_dockerfile() { # write_dockerfile FROM LAST-RUN FILE
  cat >"$3" <<EOF
FROM $1
RUN $INSTALL
COPY app/ /opt/app/
ENV APP_MODE=bench APP_HOME=/opt/app
WORKDIR /opt/app
RUN $2
EOF
}

export KILN_HOME="$work/kiln" KILN_USER=bench KILN_CONFIG=
mkdir -p "$KILN_HOME" "$work/buildah"
echo "bench: Dockerfile on a $what, $(nproc) cores; log in $work/log" >&2

# Setup (not timed): the same tarball into both stores.
run "$kiln" image import "$input" debbase
ctr=$("${B[@]}" from --quiet scratch)
mnt=$("${B[@]}" mount "$ctr")
run tar -C "$mnt" --numeric-owner -xpf "$input"
run "${B[@]}" umount "$ctr"
run "${B[@]}" commit --quiet --rm "$ctr" localhost/debbase:latest

kiln_build() { # kiln_build LAST-RUN
  write_dockerfile debbase "$1" "$ctx/Dockerfile"
  run "$kiln" image build app --from-dir "$ctx"
}
buildah_build() { # buildah_build LAST-RUN
  write_dockerfile localhost/debbase "$1" "$work/Dockerfile.buildah"
  run "${B[@]}" bud --quiet --pull=never --isolation chroot --layers -f "$work/Dockerfile.buildah" -t localhost/app "$ctx"
}

t0=$(now); kiln_build 'echo v1 > /etc/app-version'; kiln_cold=$(elapsed "$t0")
t0=$(now); buildah_build 'echo v1 > /etc/app-version'; bh_cold=$(elapsed "$t0")
t0=$(now); kiln_build 'echo v1 > /etc/app-version'; kiln_same=$(elapsed "$t0")
t0=$(now); buildah_build 'echo v1 > /etc/app-version'; bh_same=$(elapsed "$t0")
t0=$(now); kiln_build 'echo v2 > /etc/app-version'; kiln_edit=$(elapsed "$t0")
t0=$(now); buildah_build 'echo v2 > /etc/app-version'; bh_edit=$(elapsed "$t0")

printf '%-28s %10s %11s %8s\n' '' 'kiln (s)' 'buildah (s)' 'ratio'
printf '%-28s %10s %11s %8s\n' 'cold' "$kiln_cold" "$bh_cold" "$(ratio "$bh_cold" "$kiln_cold")"
printf '%-28s %10s %11s %8s\n' 'unchanged rebuild' "$kiln_same" "$bh_same" "$(ratio "$bh_same" "$kiln_same")"
printf '%-28s %10s %11s %8s\n' 'last RUN edited' "$kiln_edit" "$bh_edit" "$(ratio "$bh_edit" "$kiln_edit")"
echo "ratios are buildah/kiln (>1: Kiln faster); targets: cold >= 1, last RUN edited >= 5" >&2
