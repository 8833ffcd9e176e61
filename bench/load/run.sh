#!/usr/bin/env bash
# phalanx-bench against `phalanx serve` over gRPC (GenerateStream) and the OpenAI HTTP API
# (streamed /v1/completions), closed loop at each concurrency of a sweep, on stories260K and the
# synthesized ~100M Q8_0 llama. Prints a Markdown table per model and writes the JSON results
# and a latency-vs-concurrency plot (gnuplot) per model and protocol into OUT_DIR.
#   bench/load/run.sh [BUILD_DIR] [OUT_DIR]
#   env: SWEEP="1,4,16,64" P=64 G=128 N=64 THREADS=2 SLO_TTFT_MS=500 SLO_ITL_MS=100 MODELS="..."
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
out=${2:-$root/.scratch/bench-load}
mkdir -p "$out"
sweep=${SWEEP:-1,4,16,64}
P=${P:-64}
G=${G:-128}
N=${N:-64}
threads=${THREADS:-2}
models_dir=$("$root/scripts/synth-models" "$build" llama100m-q8_0)
models=${MODELS:-"$root/../shared/models/stories260K.gguf $models_dir/llama100m-q8_0.gguf"}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for m in $models; do
  name=$(basename "$m" .gguf)
  gport=$(free_port); hport=$(free_port); aport=$(free_port); log=$(mktemp)
  "$build/bin/phalanx" serve --model "$m" --host 127.0.0.1 --grpc-port "$gport" \
    --http-port "$hport" --api-port "$aport" --threads "$threads" --max-batch 64 \
    --max-tokens-per-step 512 --kv-cache-mb 512 --max-inflight 256 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  common=(--sweep "$sweep" -n "$N" --prompt-tokens "$P" --gen-tokens "$G" -q
    --slo-ttft-ms "${SLO_TTFT_MS:-500}" --slo-itl-ms "${SLO_ITL_MS:-100}")
  "$build/bin/phalanx-bench" --protocol grpc --target "127.0.0.1:$gport" "${common[@]}" \
    --out "$out/$name-grpc.json" --plot "$out/$name-grpc.png" >/dev/null
  "$build/bin/phalanx-bench" --protocol http --url "http://127.0.0.1:$aport" "${common[@]}" \
    --out "$out/$name-http.json" --plot "$out/$name-http.png" >/dev/null
  kill -TERM $pid; wait $pid || true; rm -f "$log"
  echo "### $name"
  echo
  echo "| protocol | concurrency | req/s | output tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms | E2E p50 / p99 s | errors | goodput req/s |"
  echo "| --- | ---: | ---: | ---: | --- | --- | --- | ---: | ---: |"
  for proto in grpc http; do
    jq -r --arg p "$proto" '.runs[] |
      "| \($p) | \(.concurrency) | \(.requests_per_s*10|floor/10) | \(.output_tokens_per_s|floor) | \(.ttft_s.p50*1000*10|floor/10) / \(.ttft_s.p99*1000*10|floor/10) | \(.itl_s.p50*1000*100|floor/100) / \(.itl_s.p99*1000*100|floor/100) | \(.e2e_s.p50*100|floor/100) / \(.e2e_s.p99*100|floor/100) | \(.failed) | \(.goodput_per_s*10|floor/10) |"' \
      "$out/$name-$proto.json"
  done
  echo
done
echo "prompt $P tokens, $G generated, $N requests per level, streamed, greedy; server --threads $threads --max-batch 64; SLO for goodput: TTFT ${SLO_TTFT_MS:-500} ms, ITL ${SLO_ITL_MS:-100} ms; $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p')"
echo "JSON and plots: $out"
