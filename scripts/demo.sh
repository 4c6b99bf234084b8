#!/usr/bin/env bash
# Kiln's main job on its embedded default: a local store, no server. Makes a small root
# filesystem, imports it as a node image, lists and inspects it, exports it, re-imports
# the export (same digest) and verifies the store.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
export KILN_HOME="${KILN_HOME:-$PWD/.kiln-demo}"
kiln() { bin/kiln "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== store: $KILN_HOME"
root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,boot/rpi-3-b,boot/pc-x86-64,proc,sys,dev,run,tmp}
cat > "$root/etc/os-release" <<'OS'
ID=debian
VERSION_ID="12"
PRETTY_NAME="Kiln demo image"
OS
printf '#!/bin/sh\necho demo init\n' > "$root/sbin/init" && chmod 755 "$root/sbin/init"
printf 'setenv bootargs "root=/dev/nfs"\n' > "$root/boot/rpi-3-b/start.uboot"
printf '#!ipxe\nkernel vmlinuz\nboot\n' > "$root/boot/pc-x86-64/start.ipxe"
tar -C "$root" --numeric-owner -czf "$work/demo-rootfs.tar.gz" .

echo "== import a root filesystem tarball as a node image"
kiln image import "$work/demo-rootfs.tar.gz" demo --force --label walt.node.models=rpi-3-b,pc-x86-64 --label walt.server.minversion=4
echo "== show"
kiln image show
echo "== inspect"
kiln image inspect demo
echo "== export as docker-archive, import it again under another name"
kiln image export demo "$work/demo.docker.tar" --format docker-archive
kiln image import "$work/demo.docker.tar" demo-copy --force
kiln image show --names-only
a=$(kiln image inspect demo --json | node -e 'process.stdin.on("data",d=>console.log(JSON.parse(d).digest))')
b=$(kiln image inspect demo-copy --json | node -e 'process.stdin.on("data",d=>console.log(JSON.parse(d).digest))')
[ "$a" = "$b" ] && echo "round trip: same manifest digest $a"
echo "== the store is an OCI layout other tools read"
if command -v skopeo >/dev/null; then skopeo inspect --format '{{.Digest}} {{.Labels}}' "oci:$KILN_HOME/store:$(bin/kiln config --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).settings.find(x=>x.key==="user").value))')/demo:latest"; fi
echo "== verify"
kiln store verify

echo
echo "== build a bootable PC node image from a spec (Debian packages; cached after the first run)"
kiln image build examples/pc-node.yaml
echo "== check that it can boot the node model it claims"
kiln image check pc-node
echo "== export its boot artifacts: SquashFS root, kernel, initramfs, manifest.json, boot.ipxe"
rm -rf "$KILN_HOME/boot"
kiln image export pc-node "$KILN_HOME/boot" --format boot --layout kiln --base-url http://boot.example/images/
find "$KILN_HOME/boot" -type f -printf '%P  %s bytes\n' | sort
cat "$KILN_HOME/boot"/pc-node/latest/amd64/boot.ipxe

echo
echo "== boot it in a VM on a private network, against Kiln's own DHCP, TFTP, HTTP and NFS (root needed: a network namespace)"
# nfs mode: Kiln's start.ipxe mounts the node's WalT export over NFS, walt-init overlays it and
# writes the node's identity; SSH then runs a command on the node. Each milestone prints with its time.
kiln image boot-test pc-node --mode nfs --run 'cat /etc/hostname' --timeout 420
