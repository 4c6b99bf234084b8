#!/bin/sh
# 200 concurrent HTTP range downloads of a SquashFS root from `kiln serve` and from
# `python3 -m http.server` on the same file: failures and throughput of each.
# Usage: bench/http.sh [size-MiB] [clients]
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-64}
clients=${2:-200}
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
while ! grep -q listening "$work/serve.log"; do sleep 0.2; done
port=$(sed -n 's/.*"http":\([0-9]*\).*/\1/p' "$work/serve.log" | head -1)
url="http://127.0.0.1:$port/images/bench/node/v1/rootfs.squashfs"
curl -sS --noproxy '*' -o "$work/rootfs.squashfs" "$url" # the first request exports it
total=$(stat -c %s "$work/rootfs.squashfs")
(cd "$work" && python3 -m http.server --bind 127.0.0.1 0 > "$work/py.log" 2>&1) &
pids="$pids $!"
while ! grep -q 'Serving HTTP' "$work/py.log"; do sleep 0.2; done
pyport=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$work/py.log" | head -1)

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
  echo "$2 $(echo "$start $end" | awk -v b="$((clients * (total / 4)))" '{ printf "%.2f s, %.1f MB/s", $2 - $1, b / ($2 - $1) / 1e6 }') failures=${fails:-0}"
}
touch "$work/result.kiln" "$work/result.python"
echo "rootfs.squashfs: $total bytes, $clients concurrent range downloads of a quarter each"
k=$(run "$url" kiln); echo "$k"
p=$(run "http://127.0.0.1:$pyport/rootfs.squashfs" python); echo "$p"
echo "$k $p" | awk '{ for (i = 1; i <= NF; i++) if ($i == "MB/s,") r[++n] = $(i - 1); printf "throughput ratio kiln/python: %.2f\n", r[1] / r[2] }'
