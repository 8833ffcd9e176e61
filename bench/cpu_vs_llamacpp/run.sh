#!/usr/bin/env bash
# Phalanx vs llama.cpp (node-llama-cpp 3.21.1, CPU) on the same GGUF files in one run:
# prefill P and decode G tokens, T threads, median of R runs each (after a warm-up run); only
# the token loops are timed, not model loading. Prints one line per case and a Markdown table.
#   bench/cpu_vs_llamacpp/run.sh [BUILD_DIR] (env: THREADS=2 P=128 G=128 RUNS=5 MODELS="...")
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
threads=${THREADS:-2}
P=${P:-128}
G=${G:-128}
runs=${RUNS:-5}
peer_dir=$("$root/scripts/peer-setup")
models_dir=$("$root/scripts/synth-models" "$build" llama100m-f16 llama100m-q8_0 qwen3moe1b-q8_0)
models=${MODELS:-"$root/../shared/models/stories260K.gguf $models_dir/llama100m-f16.gguf $models_dir/llama100m-q8_0.gguf $models_dir/qwen3moe1b-q8_0.gguf"}
rows=()
printf '%-22s %8s %12s %12s %7s\n' model phase phalanx llama.cpp ratio
for m in $models; do
  name=$(basename "$m" .gguf)
  ours=$("$build/bin/phalanx" bench --model "$m" --threads "$threads" --prompt-tokens "$P" \
         --gen-tokens "$G" --runs "$runs" --json 2>/dev/null)
  peer=$(PHX_PEER_DIR="$peer_dir" node "$root/tests/peer/llama_peer.mjs" --model "$m" --bench \
         --threads "$threads" --prompt-tokens "$P" --gen-tokens "$G" --runs "$runs")
  for phase in prefill decode; do
    a=$(jq -r ".${phase}_tokens_per_s" <<<"$ours")
    b=$(jq -r ".bench.${phase}_tokens_per_second" <<<"$peer")
    r=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}')
    printf '%-22s %8s %12.1f %12.1f %7s\n' "$name" "$phase" "$a" "$b" "$r"
    rows+=("| $name | $phase $( [ $phase = prefill ] && echo $P || echo $G) | $(printf %.1f "$a") | $(printf %.1f "$b") | $r |")
  done
done
echo
echo "| model | phase (tokens) | Phalanx tok/s | llama.cpp tok/s | Phalanx / llama.cpp |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
echo
echo "threads $threads, median of $runs runs after a warm-up, $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p')"
