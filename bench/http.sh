#!/bin/sh
# 200 concurrent HTTP range downloads of a SquashFS root from `kiln serve` and from
# nginx (one worker) on the same file: failures and throughput of each.
# Usage: bench/http.sh [size-MiB] [clients]    QUICK=1: 1 MiB, 4 clients (unless given)
# result-line: ^throughput ratio kiln/nginx: [0-9.]+$
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-64}
clients=${2:-200}
if [ -n "${QUICK:-}" ]; then
  size=${1:-1} clients=${2:-4}
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-http.XXXXXX")
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
export KILN_HOME="$work/home" KILN_USER=bench KILN_CONFIG="$work/kiln.yaml"
printf 'server:\n  address: 127.0.0.1\n  http_port: 0\n  tftp_port: 0\n' > "$KILN_CONFIG"
mkdir -p "$work/root/etc" "$work/root/boot/pc-x86-64" "$work/root/data"
printf 'ID=debian\nVERSION_ID="12"\n' > "$work/root/etc/os-release"
echo 'kernel 6.1.0-1-amd64' > "$work/root/boot/vmlinuz-6.1.0-1-amd64"
echo initrd > "$work/root/boot/initrd.img-6.1.0-1-amd64"
head -c $((size * 1024 * 1024)) /dev/urandom > "$work/root/data/blob"
tar -C "$work/root" -cf "$work/root.tar" .
"$here/bin/kiln" image import "$work/root.tar" node:v1 --label walt.node.models=pc-x86-64 --platform linux/amd64 -q
"$here/bin/kiln" serve > "$work/serve.log" 2>&1 &
pids="$pids $!"
while ! grep -qs listening "$work/serve.log"; do sleep 0.2; done
port=$(sed -n 's/.*"http":\([0-9]*\).*/\1/p' "$work/serve.log" | head -1)
url="http://127.0.0.1:$port/images/bench/node/v1/rootfs.squashfs"
curl -sS --noproxy '*' -o "$work/rootfs.squashfs" "$url" # the first request exports it
total=$(stat -c %s "$work/rootfs.squashfs")
# nginx (python3 -m http.server ignores Range) on the same file, on a free port.
pyport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chmod 755 "$work"; chmod 644 "$work/rootfs.squashfs"
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<CONF
daemon off; worker_processes 1; error_log $work/nginx/error.log; pid $work/nginx/pid;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx; sendfile on;
  server { listen 127.0.0.1:$pyport; root $work; } }
CONF
nginx -c "$work/nginx.conf" -p "$work/nginx" &
pids="$pids $!"
until curl -sS --noproxy '*' -o /dev/null "http://127.0.0.1:$pyport/rootfs.squashfs" 2>/dev/null; do sleep 0.2; done

# Each client fetches its own quarter of the file (ranges spread over it), checks the size.
run() {
  target=$1
  start=$(date +%s.%N)
  i=0
  while [ "$i" -lt "$clients" ]; do
    from=$(( (i % 4) * total / 4 ))
    to=$(( from + total / 4 - 1 ))
    ( got=$(curl -sS --noproxy '*' -r "$from-$to" -o /dev/null -w '%{http_code} %{size_download}' "$target") || got="curl-failed"
      [ "$got" = "206 $((to - from + 1))" ] || echo "FAIL $got" ) >> "$work/result.$2" &
    i=$((i + 1))
  done
  wait
  end=$(date +%s.%N)
  fails=$(grep -c FAIL "$work/result.$2" 2>/dev/null || true)
  [ "${fails:-0}" = 0 ] || head -1 "$work/result.$2" >&2
  echo "$2 $(echo "$start $end" | awk -v b="$((clients * (total / 4)))" '{ printf "%.2f s, %.1f MB/s", $2 - $1, b / ($2 - $1) / 1e6 }') failures=${fails:-0}"
}
touch "$work/result.kiln" "$work/result.nginx"
echo "rootfs.squashfs: $total bytes, $clients concurrent range downloads of a quarter each"
k=$(run "$url" kiln); echo "$k"
p=$(run "http://127.0.0.1:$pyport/rootfs.squashfs" nginx); echo "$p"
echo "$k $p" | awk '{ for (i = 1; i <= NF; i++) if ($i == "MB/s") r[++n] = $(i - 1); printf "throughput ratio kiln/nginx: %.2f\n", r[1] / r[2] }'
