#!/usr/bin/env bash
# Real gRPC clients nobody here wrote (Python grpcio, Node @grpc/grpc-js) against `phalanx
# serve` on stories260K over loopback. Usage: run.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
root=$(cd "$(dirname "$0")/../.." && pwd)
model="$root/../shared/models/stories260K.gguf"
scratch=${PHX_SCRATCH:-$root/.scratch}/clients
mkdir -p "$scratch"
if [ ! -f "$scratch/node_modules/@grpc/grpc-js/package.json" ]; then
  (cd "$scratch" && npm i -E --ignore-scripts --no-audit --no-fund \
      @grpc/grpc-js@1.14.7 @grpc/proto-loader@0.8.1 >/dev/null)
fi
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
hport=$(free_port)
log=$(mktemp)
"$build/bin/phalanx" serve --model "$model" --host 127.0.0.1 --grpc-port "$port" \
  --http-port "$hport" --api-port 0 --threads 1 --kv-cache-mb 16 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log"; echo "server died" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$hport/readyz" >/dev/null || { cat "$log"; echo "server did not start" >&2; exit 1; }
/usr/bin/python3 "$root/tests/clients/python_client.py" "127.0.0.1:$port" "$root/proto"
node "$root/tests/clients/node_client.js" "127.0.0.1:$port" "$root/proto" "$scratch/node_modules"
