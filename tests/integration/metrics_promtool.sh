#!/usr/bin/env bash
# /metrics of a real `phalanx serve` (after traffic of every kind) passes the real
# `promtool check metrics` with no lint output. Usage: metrics_promtool.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
root=$(cd "$(dirname "$0")/../.." && pwd)
model="$root/../shared/models/stories260K.gguf"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gport=$(free_port); hport=$(free_port)
log=$(mktemp)
"$build/bin/phalanx" serve --model "$model" --host 127.0.0.1 --grpc-port "$gport" \
  --http-port "$hport" --api-port 0 --threads 1 --kv-cache-mb 16 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
cli="$build/bin/phalanx client"
$cli generate --target "127.0.0.1:$gport" -p "Once upon a time" -n 8 --temperature 0 >/dev/null
$cli stream --target "127.0.0.1:$gport" -p "Once upon a time" -n 8 --temperature 0 >/dev/null
$cli tokenize --target "127.0.0.1:$gport" -p "hello" >/dev/null
$cli generate --target "127.0.0.1:$gport" -p "x" -n 4 --top-p 7 >/dev/null 2>&1 || true  # INVALID_ARGUMENT
metrics=$(curl -sf "http://127.0.0.1:$hport/metrics")
for name in phalanx_requests_total phalanx_time_to_first_token_seconds_bucket \
            phalanx_kv_cache_blocks phalanx_build_info process_resident_memory_bytes \
            phalanx_rejected_total; do
  grep -q "^$name" <<<"$metrics" || { echo "missing metric $name"; exit 1; }
done
grep -q 'phalanx_requests_total{code="INVALID_ARGUMENT",rpc="Generate"} 1' <<<"$metrics" ||
  { echo "invalid request not counted"; grep requests_total <<<"$metrics"; exit 1; }
out=$(promtool check metrics <<<"$metrics" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "promtool lint output:"; echo "$out"; exit 1; fi
echo "promtool check metrics: clean ($(grep -c '^[a-z]' <<<"$metrics") samples)"
