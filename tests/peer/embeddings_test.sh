#!/usr/bin/env bash
# Peer check of embeddings: synthesized F32 models, each with a pooling (written into the GGUF
# as pooling_type, or none), embedded by llama.cpp (node-llama-cpp's embedding context,
# tests/peer/embed_peer.mjs) and by Phalanx's engine (phx_embed_vectors: all inputs in shared
# steps, inputs longer than the 32-token step budget pooled over chunks). For each of several
# inputs of different lengths (2 to ~250 tokens) the two vectors must have cosine similarity
# >= 0.9999 (both use an f16 KV cache; vectors are compared unnormalized, as cosine ignores
# scale). A file without pooling_type is served as `--embeddings` alone serves it: llama.cpp
# returns the last token's hidden state there, and so must Phalanx.
# Table-driven: one row per model (name | vocab | Phalanx pooling | synth flags).
#   tests/peer/embeddings_test.sh PHALANX PHX_EMBED_VECTORS [NAME_FILTER]
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
phalanx="${1:-$repo/build/bin/phalanx}"
embed="${2:-$repo/build/tests/peer/phx_embed_vectors}"
filter="${3:-}"
shared="${PHX_SHARED_DIR:-$repo/../shared}"
die() {
  echo "embeddings_test: FAIL: $*" >&2
  exit 1
}
[ -x "$phalanx" ] || die "no phalanx binary at $phalanx"
[ -x "$embed" ] || die "no phx_embed_vectors binary at $embed"
command -v node >/dev/null || die "node is required"
command -v python3 >/dev/null || die "python3 is required"
peer="$("$repo/scripts/peer-setup")" || die "scripts/peer-setup failed"

work="$(mktemp -d "${TMPDIR:-/tmp}/phx_embed_peer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
spm="$shared/vocab/ggml-vocab-llama-spm.gguf"
llama3="$shared/vocab/hf/ggml-vocab-llama3.gguf"
qwen3="$shared/vocab/hf/ggml-vocab-qwen3.gguf"

# Inputs: short to long (the long prompt file is ~250 tokens).
python3 - "$repo/tests/peer/prompts/long.txt" >"$work/texts.json" <<'PY'
import json, sys
long = open(sys.argv[1]).read().strip()
print(json.dumps(["Hi", "The quick brown fox jumps over the lazy dog.",
                  "Embeddings map text to vectors; similar texts land close together. " * 3,
                  long]))
PY

# name | vocab | Phalanx pooling (model: the file's; none: --embeddings alone) | synth flags
models=(
  "llama_nokey_last|$spm|none|--arch llama --layers 2 --embd 128 --ffn 256 --heads 4 --kv-heads 2"
  "llama_mean|$llama3|model|--arch llama --layers 2 --embd 128 --ffn 256 --heads 2 --kv-heads 1 --head-dim 64 --pooling mean"
  "qwen3_last|$qwen3|model|--arch qwen3 --layers 2 --embd 128 --ffn 256 --heads 4 --kv-heads 2 --head-dim 64 --tied --pooling last"
  "qwen3_mean|$qwen3|model|--arch qwen3 --layers 3 --embd 128 --ffn 384 --heads 4 --kv-heads 1 --tied --pooling mean"
  "qwen3_cls|$qwen3|model|--arch qwen3 --layers 2 --embd 128 --ffn 256 --heads 2 --kv-heads 2 --tied --pooling cls"
)

passed=0
for entry in "${models[@]}"; do
  IFS='|' read -r name vocab pooling flags <<<"$entry"
  [[ -z "$filter" || "$name" == *$filter* ]] || continue
  read -r -a args <<<"$flags"
  [ -f "$vocab" ] || die "$name: no vocabulary $vocab"
  gguf="$work/$name.gguf"
  "$phalanx" model synth --out "$gguf" --vocab "$vocab" --dtype f32 --seed 3 --ctx 1024 \
    "${args[@]}" 2>"$work/synth.log" || die "$name: synth failed: $(cat "$work/synth.log")"
  node "$repo/tests/peer/embed_peer.mjs" --peer-dir "$peer" --model "$gguf" \
    --texts "$work/texts.json" --ctx 512 >"$work/peer.json" 2>"$work/peer.log" ||
    die "$name: llama.cpp could not embed: $(tail -c 2000 "$work/peer.log")"
  python3 -c 'import json,sys; print(json.dumps([i["tokens"] for i in json.load(open(sys.argv[1]))["inputs"]]))' \
    "$work/peer.json" >"$work/tokens.json"
  "$embed" "$gguf" "$pooling" "$work/tokens.json" >"$work/ours.json" 2>"$work/ours.log" ||
    die "$name: phx_embed_vectors failed: $(cat "$work/ours.log")"
  python3 - "$name" "$work/peer.json" "$work/ours.json" <<'PY' || die "$name: vectors differ"
import json, math, sys
name, peer, ours = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ok = True
for i, (p, o) in enumerate(zip(peer["inputs"], ours["vectors"])):
    a, b = p["vector"], o
    if len(a) != len(b):
        print(f"{name}: input {i}: sizes {len(a)} vs {len(b)}"); ok = False; continue
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    cos = dot / (na * nb) if na > 0 and nb > 0 else 0.0
    print(f"{name} ({ours['pooling']}): input {i} ({len(p['tokens'])} tokens): cosine {cos:.7f}")
    ok &= cos >= 0.9999
sys.exit(0 if ok and len(peer["inputs"]) == len(ours["vectors"]) else 1)
PY
  passed=$((passed + 1))
done
[ "$passed" -gt 0 ] || die "no model matched the filter '$filter'"
echo "embeddings_test: $passed models match llama.cpp"
