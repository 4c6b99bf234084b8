#!/usr/bin/env bash
# TFTP throughput: Kiln's server against tftpd-hpa (in.tftpd) and atftpd, on 127.0.0.1, the
# same 14 MB "kernel" and a 64 MB file (random bytes), fetched by tftp-hpa's tftp (RFC 1350
# only: 512-byte blocks, lock-step) and by atftp at blksize 1468 with windowsize 1, 8 and 64.
# tftpd-hpa 5.2 (Debian 12) has no windowsize: it answers every atftp run lock-step.
#
#   bench/tftp.sh                 the throughput table and the ratios; each cell is the median
#                                 of --reps fetches (default 3), the servers taking turns, so a
#                                 burst of load on a shared machine does not decide a ratio
#   bench/tftp.sh --clients 1000  load: N atftp clients at once fetch the kernel from Kiln
#                                 (blksize 1468, windowsize 8); failures, checksums, total
#                                 time, Kiln's peak RSS and longest event-loop delay
#
# Needs tftp-hpa, atftp and tftpd-hpa installed (scripts/setup.sh); atftpd conflicts with
# tftpd-hpa, so its .deb is downloaded and unpacked into the work directory.
# QUICK=1: a 1 MB kernel and a 3 MB big file, 8 clients with --clients, and no atftpd (its
# column shows -: downloading its .deb needs the network).
# result-line: ^kernel: Kiln lock-step / tftpd-hpa lock-step: [0-9.]+
# result-line: ^big: Kiln windowsize 8 / tftpd-hpa lock-step: [0-9.]+
set -euo pipefail
source "$(dirname "$0")/lib.sh"
node=$(command -v node)
clients=0
reps=3
while (($#)); do
  case $1 in
    --clients) clients=${2:?--clients N}; shift 2 ;;
    --reps) reps=${2:?--reps N}; shift 2 ;;
    *) echo "usage: bench/tftp.sh [--reps N] [--clients N]" >&2; exit 2 ;;
  esac
done
kernel_bytes=14000000 big_bytes=64000000 servers='kiln hpa atftpd'
if [ -n "${QUICK:-}" ]; then
  kernel_bytes=1000000 big_bytes=3000000 servers='kiln hpa' reps=1
  ((clients == 0)) || clients=8
fi

work=$(mktemp -d /tmp/kiln-bench-tftp-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
chmod 755 "$work" # servers that drop to nobody must read the files
files="$work/files"
mkdir -p "$files" "$work/out"
head -c "$kernel_bytes" /dev/urandom >"$files/kernel"
head -c "$big_bytes" /dev/urandom >"$files/big"
chmod 644 "$files"/*
declare -A sums=([kernel]=$(sha256sum <"$files/kernel" | cut -d' ' -f1) [big]=$(sha256sum <"$files/big" | cut -d' ' -f1))

free_port() { "$node" -e 'const s=require("node:dgram").createSocket("udp4");s.bind(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

start_kiln() {
  "$node" "$here/tftp-server.ts" "$files" >"$work/kiln.out" 2>&1 &
  kiln_pid=$!
  pids+=("$kiln_pid")
  until grep -q '^port ' "$work/kiln.out" 2>/dev/null; do
    kill -0 "$kiln_pid" 2>/dev/null || { echo "bench: Kiln's TFTP server did not start:" >&2; cat "$work/kiln.out" >&2; exit 1; }
    sleep 0.1
  done
  kiln_port=$(sed -n 's/^port //p' "$work/kiln.out")
}
# Called inside $(...): the server is not this subshell's child, so wait for its last line.
stop_kiln() {
  kill -TERM "$kiln_pid"
  until grep -q '^{' "$work/kiln.out"; do sleep 0.1; done
  grep '^{' "$work/kiln.out"
}

if ((clients > 0)); then
  command -v atftp >/dev/null || { echo "bench: atftp missing (scripts/setup.sh)" >&2; exit 1; }
  start_kiln
  echo "bench: $clients atftp clients fetch the 14 MB kernel from Kiln at once (blksize 1468, windowsize 8)..." >&2
  ulimit -n 65536 2>/dev/null || true
  start=$(date +%s.%N)
  for i in $(seq 1 "$clients"); do
    (atftp -g -r kernel -l /dev/stdout --option "blksize 1468" --option "windowsize 8" --tftp-timeout 2 127.0.0.1 "$kiln_port" 2>"$work/out/$i.err" \
      | sha256sum | cut -d' ' -f1 >"$work/out/$i.sum") &
  done
  wait $(jobs -p | grep -vx "$kiln_pid") 2>/dev/null || true
  end=$(date +%s.%N)
  ok=$(grep -lx "${sums[kernel]}" "$work"/out/*.sum | wc -l)
  stats=$(stop_kiln)
  awk -v n="$clients" -v ok="$ok" -v s="$start" -v e="$end" -v st="$stats" 'BEGIN {
    t = e - s
    printf "clients %d, right checksums %d, failed %d, total %.1f s, %.0f MB/s aggregate\nkiln: %s\n", n, ok, n - ok, t, n * 14 / t, st }'
  exit 0
fi

for cmd in tftp atftp in.tftpd; do
  command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || { echo "bench: $cmd missing (scripts/setup.sh)" >&2; exit 1; }
done
if [[ $servers == *atftpd* ]]; then
  echo "bench: unpacking atftpd from its .deb..." >&2
  (cd "$work" && apt-get download -qq atftpd >/dev/null && dpkg -x atftpd_*.deb atftpd)
fi
atftpd="$work/atftpd/usr/sbin/atftpd"

start_kiln
hpa_port=$(free_port)
/usr/sbin/in.tftpd -L -a "127.0.0.1:$hpa_port" -s "$files" &
pids+=($!)
atftpd_port=$(free_port)
[[ $servers != *atftpd* ]] || "$atftpd" --daemon --no-fork --port "$atftpd_port" --bind-address 127.0.0.1 --logfile /dev/null "$files" &
pids+=($!)
sleep 0.5

# fetch SERVER PORT FILE CLIENT WINDOW: prints MB/s, or fails on a wrong checksum.
fetch() {
  local port=$1 file=$2 client=$3 window=$4 out="$work/out/got" start end
  rm -f "$out"
  start=$(date +%s.%N)
  if [ "$client" = tftp-hpa ]; then
    tftp -m binary 127.0.0.1 "$port" -c get "$file" "$out" >/dev/null
  else
    atftp -g -r "$file" -l "$out" --option "blksize 1468" --option "windowsize $window" 127.0.0.1 "$port" >/dev/null 2>&1
  fi
  end=$(date +%s.%N)
  [ "$(sha256sum <"$out" | cut -d' ' -f1)" = "${sums[$file]}" ] || { echo "bench: wrong checksum: $client from port $port, $file" >&2; exit 1; }
  awk -v b="$(stat -c %s "$out")" -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", b / 1e6 / (e - s) }'
}

declare -A rate
printf '%-9s %-6s %-22s %10s %10s %10s\n' server file client 'Kiln' 'tftpd-hpa' 'atftpd'
for file in kernel big; do
  for variant in 'tftp-hpa 1' 'atftp 1' 'atftp 8' 'atftp 64'; do
    read -r client window <<<"$variant"
    label="$client"; [ "$client" = atftp ] && label="atftp bs1468 ws$window"; [ "$client" = tftp-hpa ] && label="tftp-hpa bs512 ws1"
    declare -A runs=()
    for ((i = 0; i < reps; i++)); do
      for server in $servers; do
        port_var="${server}_port"
        runs[$server]+=" $(fetch "${!port_var}" "$file" "$client" "$window")"
      done
    done
    for server in kiln hpa atftpd; do
      rate[$server,$file,$client,$window]=-
      [[ $servers != *$server* ]] || rate[$server,$file,$client,$window]=$(printf '%s\n' ${runs[$server]} | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
    done
    printf '%-9s %-6s %-22s %10s %10s %10s\n' MB/s "$file" "$label" "${rate[kiln,$file,$client,$window]}" "${rate[hpa,$file,$client,$window]}" "${rate[atftpd,$file,$client,$window]}"
  done
done
echo "(MB/s: median of $reps fetches each, the three servers taking turns)"
echo
for file in kernel big; do
  awk -v f="$file" -v k1="${rate[kiln,$file,atftp,1]}" -v h1="${rate[hpa,$file,atftp,1]}" -v kt="${rate[kiln,$file,tftp-hpa,1]}" -v ht="${rate[hpa,$file,tftp-hpa,1]}" \
      -v k8="${rate[kiln,$file,atftp,8]}" -v k64="${rate[kiln,$file,atftp,64]}" 'BEGIN {
    printf "%s: Kiln lock-step / tftpd-hpa lock-step: %.2f (atftp bs1468), %.2f (tftp-hpa bs512)   target >= 0.9\n", f, k1 / h1, kt / ht
    printf "%s: Kiln windowsize 8 / tftpd-hpa lock-step: %.2f, windowsize 64: %.2f (atftp bs1468)   target >= 5\n", f, k8 / h1, k64 / h1 }'
done
echo "kiln: $(stop_kiln)"
