#!/usr/bin/env bash
# HA drill (tests/ha/drill.py): three `phalanx serve` replicas on stories260K behind HAProxy
# (deploy/haproxy/haproxy-agent.cfg), Prometheus with deploy/prometheus/rules, Alertmanager,
# steady phalanx-bench load, then failures and rollouts; prints a Markdown table and fails
# unless every goal holds. Uses the fixed loopback ports of deploy/haproxy/*.cfg.
#
#   tests/ha/run.sh [BUILD_DIR] [--short] [--out FILE] [drill options]   (BUILD_DIR: build)
#
# CTest runs `run.sh BUILD_DIR --short` (test ha_drill_short, label "ha").
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="$root/build"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then build=$1; shift; fi
exec /usr/bin/python3 "$root/tests/ha/drill.py" --phalanx "$build/bin/phalanx" \
  --bench "$build/bin/phalanx-bench" --model "$root/../shared/models/stories260K.gguf" "$@"
