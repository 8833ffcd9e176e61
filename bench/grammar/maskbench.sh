#!/usr/bin/env bash
# MaskBench on the full sample in ../shared/maskbench with the Llama 3.1 vocabulary, one core,
# release build (scripts/build). Prints the summary table (files by status; mask and compile
# time percentiles) and writes the JSON report. docs/structured-output.md has the published
# numbers of LLGuidance, XGrammar, llama.cpp and Outlines beside ours.
#   bench/grammar/maskbench.sh [OUT.json] [extra maskbench flags, e.g. --cpu-clock]
# On a machine shared with other jobs, --cpu-clock times masks in thread CPU time (wall time
# counts the time other processes hold the core).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
shared="${PHX_SHARED_DIR:-$root/../shared}"
out="${1:-$root/build/maskbench.json}"
shift || true
bin="$root/build/bin/phalanx"
[ -x "$bin" ] || { echo "build the release binary first: scripts/build" >&2; exit 2; }
exec taskset -c 0 "$bin" grammar maskbench --vocab "$shared/vocab/hf/ggml-vocab-llama3.gguf" \
  --json "$out" --timeout-s 60 --quiet "$@" "$shared/maskbench"
