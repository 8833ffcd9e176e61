# Shared by the HTTP client tests: starts `phalanx serve` on stories260K on free loopback ports
# and stops it on exit. Source it, then: start_phalanx BUILD_DIR [extra serve flags...]; it sets
# API_URL, PROBE_URL, SERVER_PID and SERVER_LOG.
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

SERVER_PIDS=()
SERVER_LOGS=()
stop_servers() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for log in "${SERVER_LOGS[@]}"; do rm -f "$log"; done
}
trap stop_servers EXIT

start_phalanx() {
  local build=$1
  shift
  local root model api http grpc
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  model="$root/../shared/models/stories260K.gguf"
  api=$(free_port)
  http=$(free_port)
  grpc=$(free_port)
  SERVER_LOG=$(mktemp)
  "$build/bin/phalanx" serve --model "$model" --host 127.0.0.1 --grpc-port "$grpc" \
    --http-port "$http" --api-port "$api" --threads 1 "$@" >"$SERVER_LOG" 2>&1 &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  SERVER_LOGS+=("$SERVER_LOG")
  API_URL="http://127.0.0.1:$api"
  PROBE_URL="http://127.0.0.1:$http"
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$API_URL/health")" = 200 ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$SERVER_LOG" >&2
  echo "server did not start" >&2
  return 1
}
