#!/usr/bin/env bash
# Serving benchmark over loopback gRPC: closed-loop concurrency 1, 4, 16, 64 with phalanx-bench
# against `phalanx serve` (continuous batching, --max-batch 64) and, in the same run, against
# the same server limited to --max-batch 1. Prints output tokens/s, TTFT and inter-token
# latency p50/p99, server overhead (client end-to-end minus engine time) next to the transport
# floor (an empty GetModelInfo round trip on the same connections) and the ratios.
#   bench/serve/run.sh [BUILD_DIR]   (env: MODELS, P=64, G=128, LEVELS="1 4 16 64", N=64, THREADS=2)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
P=${P:-64}
G=${G:-128}
N=${N:-64}
levels=${LEVELS:-"1 4 16 64"}
threads=${THREADS:-2}
models_dir=$("$root/scripts/synth-models" "$build" llama100m-q8_0)
models=${MODELS:-"$root/../shared/models/stories260K.gguf $models_dir/llama100m-q8_0.gguf"}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run_server() {  # model max_batch -> prints JSON lines per level
  local model=$1 mb=$2 gport hport pid log
  gport=$(free_port); hport=$(free_port); log=$(mktemp)
  "$build/bin/phalanx" serve --model "$model" --host 127.0.0.1 --grpc-port "$gport" \
    --http-port "$hport" --api-port 0 --threads "$threads" --max-batch "$mb" \
    --max-tokens-per-step 512 --kv-cache-mb 512 --max-inflight 256 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  for c in $levels; do
    local n=$(( c > N ? c : N ))
    "$build/bin/phalanx-bench" --target "127.0.0.1:$gport" -c "$c" -n "$n" --prompt-tokens "$P" \
      --gen-tokens "$G" --json -q |
      jq -c --arg c "$c" '.runs[0] + {concurrency: ($c|tonumber), floor: .transport_floor_s}'
  done
  kill -TERM $pid; wait $pid || true; rm -f "$log"
}

echo "| model | concurrency | max-batch 64 tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | overhead p50 / p99 ms | RPC floor p50 / p99 ms | max-batch 1 tok/s | batching gain | vs 1 stream |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for m in $models; do
  name=$(basename "$m" .gguf)
  batched=$(run_server "$m" 64)
  single=$(run_server "$m" 1)
  base=$(head -1 <<<"$batched" | jq '.output_tokens_per_s')
  for c in $levels; do
    b=$(jq -c "select(.concurrency == $c)" <<<"$batched")
    s=$(jq -c "select(.concurrency == $c)" <<<"$single")
    jq -r --argjson s "$s" --arg name "$name" --argjson base "$base" \
      '"| \($name) | \(.concurrency) | \(.output_tokens_per_s|floor) | \(.ttft_s.p50*1000|floor) / \(.ttft_s.p99*1000|floor) | \(.itl_s.p50*1000*10|floor/10) / \(.itl_s.p99*1000*10|floor/10) | \(.server_overhead_s.p50*1000*1000|floor/1000) / \(.server_overhead_s.p99*1000*1000|floor/1000) | \(.floor.p50*1000*1000|floor/1000) / \(.floor.p99*1000*1000|floor/1000) | \($s.output_tokens_per_s|floor) | \((.output_tokens_per_s/$s.output_tokens_per_s)*100|floor/100)x | \((.output_tokens_per_s/$base)*100|floor/100)x |"' <<<"$b"
  done
done
echo
echo "prompt $P tokens, $G generated (ignore_eos), greedy, threads $threads, $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p')"
