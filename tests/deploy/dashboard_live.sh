#!/usr/bin/env bash
# Live dashboard test (CTest dashboard_live, label "deploy"): a real Prometheus scrapes two real
# `phalanx serve` replicas (stories260K) while phalanx-bench loads them, with the real rules of
# deploy/prometheus/rules/phalanx.rules.yml loaded, and every query of deploy/grafana/phalanx.json
# runs through Prometheus' HTTP API (tests/deploy/dashboard_queries.py --prometheus). An error or
# an empty result fails, except the GPU panels (--allow-empty gpu: the phalanx_gpu_* series exist
# only on a GPU build with NVML; this machine has none). Nothing else is allowed to be empty.
#
# Traffic (API keys on, as in production): gRPC unary + streaming and OpenAI HTTP completions on
# both replicas with an unlimited key; on replica 1 a second key limited to 1 request/s offered
# 5/s (refused: reason rate_limit, RESOURCE_EXHAUSTED); a few invalid requests (INVALID_ARGUMENT,
# reason invalid) and a few without a key (UNAUTHENTICATED). Besides the dashboard, checks that
# Prometheus saw what was sent: both targets up, both replicas with traffic, the rejections
# counted by reason, non-OK codes present.
#
# Usage: dashboard_live.sh BUILD_DIR        (free loopback ports, temporary storage)
set -euo pipefail
build=${1:?build dir}
root=$(cd "$(dirname "$0")/../.." && pwd)
model="$root/../shared/models/stories260K.gguf"
PY=/usr/bin/python3
for tool in prometheus promtool; do
  command -v "$tool" >/dev/null || { echo "$tool not found (scripts/install-deps installs it)" >&2; exit 1; }
done
[ -x "$build/bin/phalanx-bench" ] || { echo "$build/bin/phalanx-bench missing (PHALANX_BENCH=ON)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.log; do echo "--- $f"; tail -n 20 "$f"; done; exit 1; }

# ---- two replicas ------------------------------------------------------------------------------
KEY=dashboard-live-main-key
LIMITED=dashboard-live-limited-key
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
cat >"$tmp/keys.yaml" <<EOF
keys:
  - id: main
    sha256: $(sha "$KEY")
  - id: limited
    sha256: $(sha "$LIMITED")
    requests_per_second: 1
EOF
declare -A GP HP AP
for i in 1 2; do
  GP[$i]=$(free_port); HP[$i]=$(free_port); AP[$i]=$(free_port)
  "$build/bin/phalanx" serve --model "$model" --host 127.0.0.1 --threads 1 --kv-cache-mb 16 \
    --grpc-port "${GP[$i]}" --http-port "${HP[$i]}" --api-port "${AP[$i]}" --api-keys "$tmp/keys.yaml" \
    >"$tmp/r$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2; do
  for _ in $(seq 1 150); do
    curl -sf "http://127.0.0.1:${HP[$i]}/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:${HP[$i]}/readyz" >/dev/null || fail "replica $i did not become ready"
done

# ---- Prometheus: 1 s scrapes, the real rules file -------------------------------------------------
PP=$(free_port)
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $root/deploy/prometheus/rules/phalanx.rules.yml
scrape_configs:
  - job_name: phalanx
    static_configs:
      - targets: ["127.0.0.1:${HP[1]}", "127.0.0.1:${HP[2]}"]
EOF
promtool check config "$tmp/prometheus.yml" >/dev/null
mkdir "$tmp/data"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$PP" >"$tmp/prometheus.log" 2>&1 &
pids+=($!)
PROM="http://127.0.0.1:$PP"
for _ in $(seq 1 150); do curl -sf "$PROM/-/ready" >/dev/null 2>&1 && break; sleep 0.2; done
curl -sf "$PROM/-/ready" >/dev/null || fail "Prometheus did not start"
started=$(date +%s)

# ---- load (about 20 s) -------------------------------------------------------------------------------
bench="$build/bin/phalanx-bench"
export PHALANX_API_KEY=$KEY
for i in 1 2; do
  "$bench" --target "127.0.0.1:${GP[$i]}" --no-stream --rate 6 --duration 20 --requests 200 \
    --prompt-tokens 16 --gen-tokens 16 --quiet --json >"$tmp/unary$i.json" 2>>"$tmp/bench.log" &
  pids+=($!)
  "$bench" --target "127.0.0.1:${GP[$i]}" -c 1 --duration 20 --requests 400 \
    --prompt-tokens 16 --gen-tokens 32 --quiet --json >"$tmp/stream$i.json" 2>>"$tmp/bench.log" &
  pids+=($!)
  "$bench" --protocol http --url "http://127.0.0.1:${AP[$i]}" --model stories260K --rate 2 \
    --duration 20 --requests 100 --vocab 512 --prompt-tokens 8 --gen-tokens 16 --quiet --json \
    >"$tmp/http$i.json" 2>>"$tmp/bench.log" &
  pids+=($!)
done
"$bench" --target "127.0.0.1:${GP[1]}" --api-key "$LIMITED" --no-stream --rate 5 --duration 20 \
  --requests 200 --prompt-tokens 16 --gen-tokens 8 --quiet --json >"$tmp/limited1.json" 2>>"$tmp/bench.log" &
pids+=($!)
for i in 1 2; do
  for _ in 1 2 3; do  # INVALID_ARGUMENT (top_p out of range): rejected with reason "invalid"
    "$build/bin/phalanx" client generate --target "127.0.0.1:${GP[$i]}" -p "x" -n 4 --top-p 7 \
      >/dev/null 2>&1 && fail "an invalid request (top_p 7) was accepted"
    env -u PHALANX_API_KEY "$build/bin/phalanx" client generate --target "127.0.0.1:${GP[$i]}" -p "x" -n 4 \
      >/dev/null 2>&1 && fail "a request without an API key was accepted"
  done
done
wait_benches() {
  local n=${#pids[@]}
  for p in "${pids[@]:3:$((n - 3))}"; do wait "$p" || fail "phalanx-bench exited with an error"; done
  pids=("${pids[@]:0:3}")
}
wait_benches
"$PY" - "$tmp" <<'EOF' || fail "the load did not go as planned"
import json, sys, glob
tot = {}
for f in sorted(glob.glob(sys.argv[1] + "/*[0-9].json")):
    r = json.load(open(f))["runs"][0]
    print(f"  {f.rsplit('/', 1)[1]}: {r['requests']} requests, {r['ok']} ok, errors {r['errors']}")
    tot[f.rsplit('/', 1)[1]] = r
assert all(r["ok"] > 0 for r in tot.values()), "a load stream had no successful request"
assert "RESOURCE_EXHAUSTED" in tot["limited1.json"]["errors"], "the limited key was never refused"
assert all(not r["errors"] for n, r in tot.items() if n != "limited1.json"), "unexpected errors"
EOF

# ---- what Prometheus saw --------------------------------------------------------------------------
query() {  # query EXPR -> first value, or empty
  "$PY" - "$PROM" "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
r = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]}), timeout=10))
res = r["data"]["result"]
print(res[0]["value"][1] if res else "")
EOF
}
expect() {  # expect EXPR DESCRIPTION: the query must return a non-empty result (a filter)
  local v; v=$(query "$1")
  [ -n "$v" ] || fail "$2 ($1 is empty)"
  echo "  ok   $2 ($1 = $v)"
}
expect 'count(up{job="phalanx"} == 1) == 2' "both targets up"
expect 'count(sum by (instance) (increase(phalanx_requests_total{rpc=~"Generate|GenerateStream|http_completions",code="OK"}[2m])) > 0) == 2' "both replicas served requests"
expect 'sum(increase(phalanx_requests_total{rpc="http_completions",code="OK"}[2m])) > 0' "OpenAI HTTP completions counted"
expect 'sum(phalanx_rejected_total{reason="rate_limit"}) > 0' "rate-limit rejections counted"
expect 'sum(phalanx_rejected_total{reason="invalid"}) >= 6' "invalid requests counted"
expect 'sum(phalanx_rejected_total{reason="unauthenticated"}) >= 6' "requests without a key counted"
expect 'sum(phalanx_requests_total{code="RESOURCE_EXHAUSTED"}) > 0' "RESOURCE_EXHAUSTED answers counted"

# ---- every dashboard query ------------------------------------------------------------------------------
# The recording groups evaluate every 30 s (phalanx.recording) and 1 m (phalanx.canary), at an
# offset Prometheus picks per group: poll until every query answers, for at most 100 s after
# Prometheus started.
deadline=$((started + 100))
while :; do
  if out=$("$PY" "$root/tests/deploy/dashboard_queries.py" --prometheus "$PROM" --allow-empty gpu 2>&1); then
    echo "$out"
    break
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "$out"
    fail "dashboard queries still failing 100 s after Prometheus started"
  fi
  sleep 5
done
skipped=$(grep -c '^skip ' <<<"$out" || true)
# Only the GPU panels may be empty: 6 series of phalanx_gpu_* on this dashboard.
gpu=$("$PY" "$root/tests/deploy/dashboard_queries.py" --list | grep -c 'phalanx_gpu_' || true)
[ "$skipped" -le "$gpu" ] || fail "$skipped empty queries skipped, but only $gpu GPU queries may be"
grep '^skip ' <<<"$out" | grep -v '(gpu)' && fail "a non-GPU query was skipped"
echo "dashboard live: every non-GPU panel query returned data ($skipped GPU queries empty, as expected without a GPU)"
