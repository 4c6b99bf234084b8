#!/bin/busybox sh
# Kiln's node-side init, served at /bin/walt-init (kernel option init=/bin/walt-init) as an
# overlay file of the read-only NFS root. It puts a RAM overlay over that root, mounts the
# node's /persist and hands over to the image's /sbin/init. Only commands WalT images must
# provide are used (seed: awk cat chmod chroot ls mkdir mount nc reboot rm sed sh sleep timeout umount ...).
set -u

fail() {
  echo "walt-init: $*" >&2
  echo "walt-init: rebooting in 30 s" >&2
  sleep 30
  reboot -f
  exit 1
}

[ -r /proc/cmdline ] || mount -t proc proc /proc || fail "cannot mount /proc"
cmdline=$(cat /proc/cmdline)

# The value of kernel parameter $1 (the last one given wins, as the kernel does).
param() {
  value=''
  for word in $cmdline; do
    case "$word" in "$1="*) value=${word#*=} ;; esac
  done
  echo "$value"
}

nfsroot=$(param nfsroot)
server=$(param walt.server.ip)
[ -n "$server" ] || server=${nfsroot%%:*}
# nfsroot=<server>:/var/lib/walt/nodes/<mac>/fs[,options]: persist is its sibling.
node_dir=${nfsroot#*:}
node_dir=${node_dir%%,*}
node_dir=${node_dir%/fs}

ram=/run/kiln
mount -t tmpfs -o mode=0755 kiln-ram /run || fail "cannot mount a tmpfs on /run"
mkdir -p $ram/lower $ram/upper $ram/work $ram/root || fail "cannot prepare the RAM overlay"
mount -o bind / $ram/lower || fail "cannot bind the root"
mount -o remount,bind,ro $ram/lower || echo "walt-init: the lower root stays writable" >&2
mount -t overlay kiln-root -o lowerdir=$ram/lower,upperdir=$ram/upper,workdir=$ram/work $ram/root || fail "cannot mount the RAM overlay (kernel option OVERLAY_FS)"
echo "walt-init: root ${nfsroot:-/} under a RAM overlay"

# /persist: the node's NFS directory (default), a path already mounted (bind:<dir>), or none (off).
persist=$(param kiln.persist)
mkdir -p $ram/root/persist
case "${persist:-nfs}" in
  off) ;;
  bind:*) mount -o bind "${persist#bind:}" $ram/root/persist || echo "walt-init: /persist not mounted" >&2 ;;
  *)
    if [ -n "$server" ] && [ -n "$node_dir" ]; then
      timeout 30 mount -t nfs -o vers=3,nolock "$server:$node_dir/persist" $ram/root/persist || echo "walt-init: /persist not mounted from $server:$node_dir/persist" >&2
    fi ;;
esac

# The node's identity, made by kiln serve for this node only (hostname, hosts, resolv.conf, machine-id,
# SSH host keys, root's authorized_keys, the image's templates): a script fetched over HTTP with
# busybox nc (kiln.http=<host>[:<port>], default the server on port 80), run against the overlay.
# Without it the node boots with the image's own files.
http=$(param kiln.http)
[ -n "$http" ] || [ -z "$server" ] || http=$server:80
if [ -n "$http" ]; then
  host=${http%:*}
  port=${http##*:}
  [ "$port" != "$http" ] || port=80
  printf 'GET /kiln/identity.sh HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" | timeout 15 nc "$host" "$port" > $ram/identity.http 2> $ram/identity.err
  # (No /dev/null: /dev may still be empty this early.)
  status=$(sed -n 1p $ram/identity.http)
  case "$status" in
    "HTTP/"*" 200 "*)
      # The headers end at the first line that is empty but for its CR.
      sed '1,/^.\{0,1\}$/d' $ram/identity.http > $ram/identity.sh
      sh $ram/identity.sh $ram/root || echo "walt-init: the identity script of $http failed" >&2 ;;
    *) echo "walt-init: no identity from http://$host:$port/kiln/identity.sh (${status:-no answer}$(sed -n 1p $ram/identity.err)): the image's own files are kept" >&2 ;;
  esac
  rm -f $ram/identity.http $ram/identity.err
fi

# The overlay becomes the root (the old NFS root stays below it, as the lower layer), then the image's init runs.
cd $ram/root || fail "cannot enter the new root"
mount --move . / || fail "cannot move the new root over /"
exec chroot . /sbin/init "$@"
