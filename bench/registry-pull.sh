#!/usr/bin/env bash
# Benchmark: Kiln vs skopeo pushing and pulling the same image through a local registry.
#
# Builds a ~200 MB OCI image of 3 gzip layers (random data, so no tool can shortcut by
# compressing), imports it into a scratch Kiln store, starts two Debian `docker-registry`
# instances on 127.0.0.1 (one per tool, so neither can reuse blobs the other pushed), then
# measures wall time of:
#   publish   kiln image publish                   vs  skopeo copy oci:<layout> docker://...
#   clone     kiln image clone (empty store)       vs  skopeo copy docker://... oci:<dir>
#   re-push   kiln image publish, every blob there (target: under 0.5 s)
# Each timing is the median of RUNS runs (default 3), fresh repository or store each time.
# Prints the times and the ratios kiln/skopeo (time Kiln takes per second skopeo takes: <1 means
# Kiln is faster) against the targets of issue #14: publish <= 0.7, clone <= 1.0.
#
# usage: bench/registry-pull.sh     env: RUNS=3, LAYER_MB=66, KILN_BENCH_TMP=/tmp; QUICK=1: 1 MB layers, one run
# result-line: ^publish +[0-9.]+ +[0-9.]+ +[0-9.]+ +<=
# result-line: ^clone +[0-9.]+ +[0-9.]+ +[0-9.]+ +<=
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
runs=${RUNS:-3}
layer_mb=${LAYER_MB:-66}
if [ -n "${QUICK:-}" ]; then
  runs=1 layer_mb=1
fi
for tool in docker-registry skopeo curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done

work=$(mktemp -d "${KILN_BENCH_TMP:-/tmp}/kiln-bench-registry.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
quiet() { local log=$work/last.log; "$@" >"$log" 2>&1 || { echo "bench: FAILED: $*" >&2; cat "$log" >&2; exit 1; }; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
start_registry() { # start_registry NAME -> sets REG to host:port
  local name=$1 port; port=$(free_port)
  mkdir -p "$work/$name"
  cat >"$work/$name/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/$name/data
http:
  addr: 127.0.0.1:$port
  secret: bench
YAML
  docker-registry serve "$work/$name/config.yml" >"$work/$name/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  REG=127.0.0.1:$port
}

echo "bench: building a 3-layer image of $((3 * layer_mb)) MB..." >&2
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
diffs=() layers=()
for i in 1 2 3; do
  mkdir -p "$work/l$i/data$i"
  head -c $((layer_mb << 20)) /dev/urandom >"$work/l$i/data$i/blob.bin"
  tar -C "$work/l$i" -cf "$work/l$i.tar" "data$i"
  diffs+=("sha256:$(sha "$work/l$i.tar")")
  gzip -1 -c "$work/l$i.tar" >"$work/l$i.tar.gz"
  d=$(sha "$work/l$i.tar.gz")
  mv "$work/l$i.tar.gz" "$layout/blobs/sha256/$d"
  layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$layout/blobs/sha256/$d")}")
  rm -rf "$work/l$i" "$work/l$i.tar"
done
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"walt.node.models\":\"pc-x86-64\"}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"${diffs[0]}\",\"${diffs[1]}\",\"${diffs[2]}\"]}}"
printf '%s' "$config" >"$work/config.json"
cd_=$(sha "$work/config.json"); mv "$work/config.json" "$layout/blobs/sha256/$cd_"
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":${#config}},\"layers\":[${layers[0]},${layers[1]},${layers[2]}]}"
printf '%s' "$manifest" >"$work/manifest.json"
md=$(sha "$work/manifest.json"); mv "$work/manifest.json" "$layout/blobs/sha256/$md"
printf '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' "$md" "${#manifest}" >"$layout/index.json"

write_kiln_yaml() {
  cat >"$work/kiln.yaml" <<YAML
registries:
  - label: bench
    api: docker-registry-v2
    host: ${kreg%:*}
    port: ${kreg#*:}
    protocol: http
    auth: none
YAML
}
export KILN_CONFIG=$work/kiln.yaml KILN_USER=bench
export KILN_HOME=$work/kiln-home
kreg=127.0.0.1:1; write_kiln_yaml
quiet "$kiln" image import "$layout" img --format oci

kpush=() spush=() kpull=() spull=() krepush=()
for r in $(seq "$runs"); do
  # Fresh registries each run: neither tool may mount or skip blobs pushed by an earlier run.
  start_registry "kiln-reg-$r"; kreg=$REG
  start_registry "skopeo-reg-$r"; sreg=$REG
  write_kiln_yaml
  quiet "$kiln" image duplicate img "img$r"
  t0=$(now); quiet "$kiln" image publish "img$r" --registry bench --force; kpush+=("$(elapsed "$t0")")
  t0=$(now); quiet "$kiln" image publish "img$r" --registry bench --force; krepush+=("$(elapsed "$t0")")
  t0=$(now); quiet skopeo copy --dest-tls-verify=false "oci:$layout:bench" "docker://$sreg/bench/img$r:latest"; spush+=("$(elapsed "$t0")")
  t0=$(now); KILN_HOME=$work/pull-$r quiet "$kiln" image clone "bench:bench/img$r"; kpull+=("$(elapsed "$t0")")
  t0=$(now); quiet skopeo copy --src-tls-verify=false "docker://$sreg/bench/img$r:latest" "oci:$work/skopeo-pull-$r:img"; spull+=("$(elapsed "$t0")")
  got=$(KILN_HOME=$work/pull-$r "$kiln" image inspect "img$r" --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).digest))')
  [ "$got" = "sha256:$md" ] || { echo "bench: kiln pulled $got, expected sha256:$md" >&2; exit 1; }
  rm -rf "$work/pull-$r" "$work/skopeo-pull-$r"
done

kp=$(median "${kpush[@]}"); sp=$(median "${spush[@]}"); kl=$(median "${kpull[@]}"); sl=$(median "${spull[@]}"); kr=$(median "${krepush[@]}")
printf '\nimage: 3 gzip layers, %d MB; median of %d runs (seconds)\n' "$((3 * layer_mb))" "$runs"
printf '%-8s %8s %8s %12s %12s\n' op kiln skopeo kiln/skopeo target
printf '%-8s %8s %8s %12s %12s\n' publish "$kp" "$sp" "$(ratio "$kp" "$sp")" '<= 0.70'
printf '%-8s %8s %8s %12s %12s\n' clone "$kl" "$sl" "$(ratio "$kl" "$sl")" '<= 1.00'
printf '%-8s %8s %8s %12s %12s\n' re-push "$kr" - - '< 0.5 s'
