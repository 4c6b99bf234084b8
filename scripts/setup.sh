#!/usr/bin/env bash
# Installs what Kiln and its tests need on Debian 12, when missing: the Debian packages
# below and the npm packages (which bring Node.js 24 as node_modules/.bin/node).
set -euo pipefail
cd "$(dirname "$0")/.."

# command:package — runtime tools first, then the independent clients the tests use.
tools=(
  # runtime
  tar:tar xz:xz-utils bzip2:bzip2 lz4:lz4 bwrap:bubblewrap getfattr:attr setfattr:attr setfacl:acl
  # image shell: its pseudo-terminal, and joining the container of an image with shell hooks
  script:bsdutils nsenter:util-linux
  mksquashfs:squashfs-tools mkfs.erofs:erofs-utils
  # tests: independent clients and real servers
  skopeo:skopeo umoci:umoci podman:podman zstd:zstd tar2sqfs:squashfs-tools-ng mmdebstrap:mmdebstrap
  docker-registry:docker-registry htpasswd:apache2-utils openssl:openssl curl:curl
  tftp:tftp-hpa atftp:atftp in.tftpd:tftpd-hpa
  nginx:nginx-light s3cmd:s3cmd setcap:libcap2-bin unsquashfs:squashfs-tools fsck.erofs:erofs-utils /usr/bin/time:time
  qemu-arm-static:qemu-user-static qemu-aarch64-static:qemu-user-static update-binfmts:binfmt-support buildah:buildah
  # rpm-family and Ansible builds (dnf, zypper, ansible-playbook run on the host), and the tests' RPM repository
  dnf:dnf zypper:zypper ansible-playbook:ansible rpmbuild:rpm createrepo_c:createrepo-c busybox:busybox-static
  # the VM boot test: a qemu PC whose NIC boots with iPXE (its ROMs are files: see below)
  qemu-system-x86_64:qemu-system-x86 ip:iproute2
  # NFS root filesystems: nfs-ganesha (userspace server, VFS FSAL) with rpcbind, libnfs's userspace clients, the node-init test
  ganesha.nfsd:nfs-ganesha rpcbind:rpcbind nfs-ls:libnfs-utils nsenter:util-linux ssh-keygen:openssh-client
  # kiln node run/cp: the tests' node is a real sshd
  /usr/sbin/sshd:openssh-server
)
need=()
for pair in "${tools[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# file:package — what is not a command.
files=(/usr/lib/ipxe/qemu/efi-e1000.rom:ipxe-qemu /usr/lib/ipxe/undionly.kpxe:ipxe /usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so:nfs-ganesha-vfs)
for pair in "${files[@]}"; do
  [ -e "${pair%%:*}" ] || need+=("${pair#*:}")
done
if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi

# Foreign-architecture builds run under qemu-user through binfmt_misc entries with the F
# (fix-binary) flag. A machine without systemd may have binfmt_misc unmounted, or the
# entries not enabled yet: do both, once, when we can (root).
binfmt=/proc/sys/fs/binfmt_misc
if [ "$(id -u)" = 0 ] && command -v update-binfmts >/dev/null 2>&1; then
  [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" \
    || echo "setup: cannot mount binfmt_misc: foreign-architecture builds will not run" >&2
  if [ -e "$binfmt/register" ]; then
    for arch in arm aarch64; do
      [ -e "$binfmt/qemu-$arch" ] || update-binfmts --enable "qemu-$arch" \
        || echo "setup: cannot enable qemu-$arch in binfmt_misc" >&2
    done
  fi
fi

if [ ! -x node_modules/.bin/node ] || [ ! -d node_modules/tar-stream ]; then
  npm ci --no-audit --no-fund
fi
