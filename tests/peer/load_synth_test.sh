#!/usr/bin/env bash
# Peer check of `phalanx model synth`: synthesizes small llama (GQA; f16, q8_0, q4_K, explicit
# head dim) and qwen2 models, loads each in llama.cpp (node-llama-cpp) through
# tests/peer/llama_peer.mjs, and checks that llama.cpp reports the parameter count, vocabulary,
# embedding size and training context that our config reports, and generates tokens.
# Fails (non-zero) on any problem, npm and model loading included.
#   tests/peer/load_synth_test.sh [PHALANX_BINARY (default build/bin/phalanx)]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
phalanx="${1:-$repo/build/bin/phalanx}"
vocab="${PHX_SHARED_DIR:-$repo/../shared}/models/stories260K.gguf"
die() {
  echo "load_synth_test: FAIL: $*" >&2
  exit 1
}
[ -x "$phalanx" ] || die "no phalanx binary at $phalanx"
[ -f "$vocab" ] || die "no vocabulary file at $vocab"
command -v node >/dev/null || die "node is required"

peer="$("$repo/scripts/peer-setup")" || die "scripts/peer-setup failed"
[ -d "$peer/node_modules/node-llama-cpp" ] || die "peer-setup printed '$peer', which has no node-llama-cpp"

work="$(mktemp -d "${TMPDIR:-/tmp}/phx_peer.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# name | synth flags
models=(
  "llama_gqa_f16|--arch llama --layers 2 --embd 128 --ffn 320 --heads 8 --kv-heads 2 --dtype f16"
  "llama_gqa_q8_0|--arch llama --layers 2 --embd 128 --ffn 320 --heads 8 --kv-heads 2 --dtype q8_0 --seed 7"
  "llama_q4_K_tied|--arch llama --layers 1 --embd 256 --ffn 512 --heads 4 --kv-heads 1 --dtype q4_K --tied"
  "llama_head_dim|--arch llama --layers 1 --embd 128 --ffn 256 --heads 4 --kv-heads 2 --head-dim 64 --dtype f16"
  "qwen2_f16|--arch qwen2 --layers 2 --embd 128 --ffn 256 --heads 4 --kv-heads 2 --dtype f16 --rope-base 1000000"
  "qwen2_tied_bf16|--arch qwen2 --layers 1 --embd 64 --ffn 128 --heads 4 --kv-heads 4 --dtype bf16 --tied"
)

n_gen=8
for entry in "${models[@]}"; do
  name="${entry%%|*}"
  read -r -a flags <<<"${entry#*|}"
  gguf="$work/$name.gguf"
  "$phalanx" model synth --out "$gguf" --vocab "$vocab" --ctx 512 "${flags[@]}" 2>"$work/$name.synth.log" ||
    die "$name: phalanx model synth failed: $(cat "$work/$name.synth.log")"
  "$phalanx" model inspect "$gguf" >"$work/$name.inspect" || die "$name: phalanx model inspect failed"
  node "$repo/tests/peer/llama_peer.mjs" --peer-dir "$peer" --model "$gguf" \
    --prompt "Once upon a time" --prompt "" --n "$n_gen" --threads 1 --kv f32 --flash off \
    >"$work/$name.json" 2>"$work/$name.peer.log" ||
    die "$name: llama.cpp could not load or run the model: $(tail -c 2000 "$work/$name.peer.log")"
  node --input-type=module - "$work/$name.inspect" "$work/$name.json" "$n_gen" "$name" <<'EOF' || die "$name: mismatch"
import fs from "node:fs";
const [inspectPath, jsonPath, nGenArg, name] = process.argv.slice(2);
const inspect = fs.readFileSync(inspectPath, "utf8");
const peer = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
const problems = [];
const total = inspect.match(/total: (\d+) elements/);
const summary = inspect.match(/^model: arch=(\S+) .*embd=(\d+) .*vocab=(\d+) ctx=(\d+) params=([\d.]+)M/m);
if (!total || !summary) {
  console.error(`${name}: phalanx model inspect did not describe a loadable model:\n${inspect}`);
  process.exit(1);
}
const ours = {
  n_params: Number(total[1]),
  arch: summary[1],
  n_embd: Number(summary[2]),
  n_vocab: Number(summary[3]),
  train_ctx: Number(summary[4]),
};
const mi = peer.model_info;
const expect = (what, got, want) => {
  if (got !== want) problems.push(`${what}: llama.cpp ${got}, phalanx ${want}`);
};
expect("parameters", mi.n_params, ours.n_params);
expect("params (summary, M)", (mi.n_params / 1e6).toFixed(2), summary[5]);
expect("vocabulary (logits)", mi.n_vocab, ours.n_vocab);
expect("embedding", mi.n_embd, ours.n_embd);
expect("training context", mi.train_ctx, ours.train_ctx);
expect("architecture", mi.architecture, ours.arch);
const n = Number(nGenArg);
for (const r of peer.results) {
  const ids = r.generated_token_ids;
  if (r.prompt_token_ids[0] !== mi.bos) problems.push(`prompt ${JSON.stringify(r.prompt)}: no BOS first`);
  if (ids.length !== n) problems.push(`prompt ${JSON.stringify(r.prompt)}: ${ids.length} tokens, want ${n}`);
  if (ids.some((t) => !Number.isInteger(t) || t < 0 || t >= ours.n_vocab)) {
    problems.push(`prompt ${JSON.stringify(r.prompt)}: token ids out of range: ${ids}`);
  }
  const top = r.first_step_top5;
  if (top.length !== 5 || top[0].token !== ids[0] || !(top[0].prob > 0 && top[0].prob <= 1)) {
    problems.push(`prompt ${JSON.stringify(r.prompt)}: bad first-step top-5 ${JSON.stringify(top)}`);
  }
}
if (problems.length) {
  console.error(`${name}:\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`${name}: ok (${ours.n_params} params, vocab ${ours.n_vocab}, ` +
            `tokens ${peer.results[0].generated_token_ids.join(" ")})`);
EOF
done
echo "load_synth_test: PASS (${#models[@]} models)"
