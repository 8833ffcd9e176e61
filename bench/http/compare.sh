#!/usr/bin/env bash
# Compares two `phalanx` binaries' HTTP listeners on loopback (e.g. the cpp-httplib one of an
# older build against this one), each serving stories260K with the same flags:
#   - GET /v1/models and GET /readyz throughput and latency (wrk, 64 connections, 5 s each),
#   - 2,000 idle connections on the API port: the server's threads and RSS before and after,
#   - /readyz latency while 16 connections send their headers one byte every 500 ms.
#   bench/http/compare.sh OLD_BIN NEW_BIN [MODEL]
set -euo pipefail
old=${1:?old phalanx binary}
new=${2:?new phalanx binary}
model=${3:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/models/stories260K.gguf}
py=/usr/bin/python3

measure() {
  local name=$1 bin=$2 base=$3
  local grpc=$((base)) http=$((base + 1)) api=$((base + 2))
  "$bin" serve --model "$model" --host 127.0.0.1 --grpc-port $grpc --http-port $http \
    --api-port $api --threads 1 --kv-cache-mb 16 --log-level error >/dev/null 2>&1 &
  local pid=$!
  trap "kill $pid 2>/dev/null" EXIT
  for _ in $(seq 100); do curl -sf "127.0.0.1:$http/readyz" >/dev/null && break; sleep 0.1; done
  echo "== $name ($bin)"
  wrk -t2 -c64 -d5s "http://127.0.0.1:$api/v1/models" | grep -E "Requests/sec|Latency"
  wrk -t2 -c64 -d5s "http://127.0.0.1:$http/readyz" | grep -E "Requests/sec|Latency"
  $py - "$pid" "$api" "$http" <<'PY'
import os, socket, sys, time
pid, api, http = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def stat():
    threads = len(os.listdir(f"/proc/{pid}/task"))
    rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")][0].split()[1]
    return threads, int(rss)
def probe():
    t = time.monotonic()
    s = socket.create_connection(("127.0.0.1", http), timeout=5)
    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    try:
        s.recv(100)
    except OSError:
        return 5000.0
    finally:
        s.close()
    return (time.monotonic() - t) * 1e3
t0, r0 = stat()
idle = [socket.create_connection(("127.0.0.1", api)) for _ in range(2000)]
time.sleep(1.0)
t1, r1 = stat()
print(f"2000 idle API connections: threads {t0} -> {t1}, RSS {r0} -> {r1} KiB")
for s in idle:
    s.close()
slow = [socket.create_connection(("127.0.0.1", http)) for _ in range(16)]
def send(s, b):
    try:
        s.sendall(b)
    except OSError:
        pass  # the server closed a slow client
for s in slow:
    send(s, b"GET /readyz HTTP/1.1\r\nX-Slow: ")
worst = 0.0
for i in range(6):
    for s in slow:
        send(s, b"a")
    worst = max(worst, probe())
    time.sleep(0.5)
print(f"16 slow-header clients on the probe port: slowest /readyz {worst:.1f} ms")
for s in slow:
    s.close()
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
  trap - EXIT
}
ulimit -n 20000 2>/dev/null || true
measure old "$old" 18600
measure new "$new" 18700
