#!/usr/bin/env bash
# Peer check of every model family: synthesized F32 models of several shapes (GQA ratios, head
# dims 64 and 128, odd layer counts) with the family's real vocabulary where ../shared has it
# give llama.cpp's greedy tokens (node-llama-cpp, f32 KV cache, flash attention off) on a long
# prompt (~250 tokens) and a short one, 24 tokens each, with every feature acting: sliding
# windows of 32-64 under the long prompt, RoPE scaling with an original context of 64 under
# prompts past it, soft-caps of 5 (attention) and 10 (final logits), experts routed per token.
#
# Random models have near-ties: per prompt the tokens must be equal up to llama.cpp's first step
# whose top1 - top2 log-probability margin is under 0.02, and at least 16 tokens must be compared
# per model; a model with fewer is re-synthesized with the next seed (up to 3). `phalanx model
# inspect` must call each file servable. Fails (non-zero) on any problem, npm included.
#   tests/peer/families_test.sh PHALANX PHX_GREEDY_TOKENS [NAME_FILTER]
set -euo pipefail

harness=families_test
source "$(dirname "${BASH_SOURCE[0]}")/peer_lib.sh"
phalanx="${1:-$repo/build/bin/phalanx}"
greedy="${2:-$repo/build/tests/peer/phx_greedy_tokens}"
filter="${3:-}"
peer_init "$phalanx" "$greedy" phx_greedy_tokens
prompts=("$repo/tests/peer/prompts/long.txt" "$repo/tests/peer/prompts/short.txt")
ctx=512
n_gen=24

# name | vocab | seed | synth flags (F32; --ctx is the training context llama.cpp reports)
models=(
  "llama31_gqa2_hd64|$llama3|1|--arch llama --layers 3 --embd 128 --ffn 256 --heads 2 --kv-heads 1 --head-dim 64 --rope-base 500000 --rope-scaling llama3 --rope-scaling-factor 8 --rope-orig-ctx 64"
  "llama31_mha_hd128|$llama3|1|--arch llama --layers 2 --embd 128 --ffn 256 --heads 2 --kv-heads 2 --head-dim 128 --rope-base 500000 --rope-scaling llama3 --rope-scaling-factor 8 --rope-orig-ctx 64"
  "qwen2_gqa2|$qwen3|1|--arch qwen2 --layers 3 --embd 128 --ffn 256 --heads 2 --kv-heads 1 --rope-base 1000000"
  "qwen3_gqa2_hd64|$qwen3|1|--arch qwen3 --layers 3 --embd 128 --ffn 384 --heads 4 --kv-heads 2 --head-dim 64 --rope-base 1000000 --tied"
  "qwen3_gqa4_hd128_yarn|$qwen3|1|--arch qwen3 --layers 2 --embd 128 --ffn 256 --heads 4 --kv-heads 1 --head-dim 128 --rope-base 1000000 --rope-scaling yarn --rope-scaling-factor 4 --rope-orig-ctx 64 --tied"
  "gemma2_gqa2_hd64|$spm|1|--arch gemma2 --layers 3 --embd 256 --ffn 512 --heads 4 --kv-heads 2 --sliding-window 32 --attn-softcap 5 --final-softcap 10"
  "gemma2_mqa_hd128|$spm|1|--arch gemma2 --layers 2 --embd 128 --ffn 256 --heads 2 --kv-heads 1 --head-dim 128 --sliding-window 48 --attn-softcap 5 --final-softcap 10"
  "gemma3_gqa4_hd128|$spm|1|--arch gemma3 --layers 7 --embd 128 --ffn 256 --heads 4 --kv-heads 1 --head-dim 128 --sliding-window 32 --rope-base 1000000 --rope-scaling linear --rope-scaling-factor 8"
  "gemma3_mha_hd64_untied|$spm|1|--arch gemma3 --layers 3 --embd 128 --ffn 256 --heads 2 --kv-heads 2 --head-dim 64 --sliding-window 64 --swa-pattern 2 --final-softcap 10 --untied"
  "phi3_mha_hd64_longrope|$phi3|1|--arch phi3 --layers 3 --embd 256 --ffn 512 --heads 4 --kv-heads 4 --rope-scaling longrope --rope-scaling-factor 16 --rope-orig-ctx 64"
  "phi3_gqa2_hd128_partial|$phi3|2|--arch phi3 --layers 2 --embd 256 --ffn 384 --heads 2 --kv-heads 1 --rope-dims 96 --rope-scaling longrope --rope-scaling-factor 4 --rope-orig-ctx 4096 --ctx 8192"
  "mixtral_e4k2|$spm|1|--arch mixtral --layers 3 --embd 128 --ffn 256 --heads 4 --kv-heads 2 --experts 4 --experts-used 2"
  "qwen3moe_e8k2_hd64|$qwen3|1|--arch qwen3moe --layers 3 --embd 128 --ffn 512 --heads 4 --kv-heads 2 --head-dim 64 --experts 8 --experts-used 2 --expert-ffn 128 --tied"
  "qwen3moe_e16k4_hd128|$qwen3|1|--arch qwen3moe --layers 2 --embd 128 --ffn 256 --heads 2 --kv-heads 1 --head-dim 128 --experts 16 --experts-used 4 --expert-ffn 64 --tied"
)

passed=0
for entry in "${models[@]}"; do
  IFS='|' read -r name vocab seed flags <<<"$entry"
  [[ -z "$filter" || "$name" == *$filter* ]] || continue
  read -r -a args <<<"$flags"
  [ -f "$vocab" ] || die "$name: no vocabulary $vocab"
  has_ctx=0
  for a in "${args[@]}"; do [ "$a" = --ctx ] && has_ctx=1; done
  [ $has_ctx = 1 ] || args+=(--ctx 2048)
  ok=0
  for try in 0 1 2; do
    s=$((seed + try))
    gguf="$work/$name.gguf"
    "$phalanx" model synth --out "$gguf" --vocab "$vocab" --dtype f32 --seed "$s" "${args[@]}" \
      2>"$work/synth.log" || die "$name: synth failed: $(cat "$work/synth.log")"
    "$phalanx" model inspect "$gguf" >"$work/inspect.txt" || die "$name: inspect failed"
    grep -q "^servable: yes" "$work/inspect.txt" ||
      die "$name: inspect says: $(grep -E '^(servable|model)' "$work/inspect.txt")"
    node "$repo/tests/peer/llama_peer.mjs" --peer-dir "$peer" --model "$gguf" \
      --prompt-file "${prompts[0]}" --prompt-file "${prompts[1]}" --n "$n_gen" --threads 1 \
      --kv f32 --flash off --ctx "$ctx" --margins >"$work/peer.json" 2>"$work/peer.log" ||
      die "$name: llama.cpp could not run the model: $(tail -c 2000 "$work/peer.log")"
    "$greedy" "$gguf" "$ctx" "$n_gen" "${prompts[@]}" >"$work/ours.json" 2>"$work/ours.log" ||
      die "$name: phalanx could not run the model: $(tail -c 2000 "$work/ours.log")"
    rc=0
    node "$repo/tests/peer/compare_greedy.mjs" "$work/peer.json" "$work/ours.json" --min 16 \
      --tie 0.02 --name "$name (seed $s)" || rc=$?
    if [ $rc = 0 ]; then
      ok=1
      break
    fi
    [ $rc = 3 ] || die "$name (seed $s): tokens differ from llama.cpp"
  done
  [ $ok = 1 ] || die "$name: fewer than 16 informative steps with seeds $seed..$((seed + 2))"
  rm -f "$work/$name.gguf"
  passed=$((passed + 1))
done
[ $passed -gt 0 ] || die "no model matched '$filter'"
echo "families_test: PASS ($passed models)"
