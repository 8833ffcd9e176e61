#!/usr/bin/env bash
# Checks of the deployment artifacts under deploy/ and docs/operations.md (CTest: deploy_checks,
# label "deploy"). Needs promtool and amtool (Debian: prometheus, prometheus-alertmanager),
# haproxy and python3-yaml, all from scripts/install-deps. Runs nothing long-lived and touches
# no network beyond a loopback test server; temporary files go to a private directory.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PY=/usr/bin/python3   # the system Python has python3-yaml; a pyenv one on PATH may not

for tool in promtool amtool haproxy; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool not found (scripts/install-deps installs it)" >&2; exit 1; }
done
"$PY" -c 'import yaml' || { echo "check.sh: $PY lacks the yaml module (python3-yaml)" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export TMPDIR="$TMP"   # promtool's test storage and Python's temp files stay in here

step() { printf '\n== %s\n' "$*"; }

step "promtool check config (example scrape config, its rule file)"
promtool check config deploy/prometheus/prometheus.yml

step "promtool check rules (source and the chart's copy)"
promtool check rules deploy/prometheus/rules/phalanx.rules.yml deploy/helm/phalanx/files/phalanx.rules.yml

step "promtool test rules (every alert fires in one case and stays quiet in another)"
shopt -s nullglob
rule_tests=(deploy/prometheus/tests/*.yml)
(( ${#rule_tests[@]} > 0 )) || { echo "no rule test files" >&2; exit 1; }
for f in "${rule_tests[@]}"; do
  promtool test rules "$f"
done

step "amtool check-config and routing"
AM=deploy/alertmanager/alertmanager.yml
amtool check-config "$AM"
route() {  # route EXPECTED-RECEIVERS LABELS...
  local want=$1; shift
  amtool config routes test --config.file="$AM" --verify.receivers="$want" "$@" 2>/dev/null >/dev/null \
    || { echo "alertmanager: $* does not route to $want" >&2; exit 1; }
  echo "  $* -> $want"
}
route oncall-phone-sms,chat-rooms alertname=HighErrorRate severity=page job=phalanx
route ticket-email alertname=ReplicaDown severity=ticket job=phalanx
route ticket-email alertname=Unlabelled job=phalanx

step "haproxy -c (every variant)"
for f in deploy/haproxy/*.cfg; do
  haproxy -c -q -f "$f"
  echo "  $f: valid"
done

step "copies of the rules and the dashboard are in sync"
"$PY" tests/deploy/sync_copies.py --check

step "dashboard queries: documented metric names only, and valid PromQL"
"$PY" tests/deploy/dashboard_queries.py --check-names --emit-rules "$TMP/dashboard-queries.rules.yml"
promtool check rules "$TMP/dashboard-queries.rules.yml"

step "structural tests (chart rendering, kustomize overlays, LB configs, Dockerfile, docs)"
"$PY" -m unittest discover -s tests/deploy -p 'test_*.py'

printf '\ndeploy checks: all passed\n'
