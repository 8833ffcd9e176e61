#!/usr/bin/env bash
# Peer check of embeddings: synthesized F32 models, each with a pooling (written into the GGUF
# as pooling_type, or none), embedded by llama.cpp (node-llama-cpp's embedding context,
# tests/peer/embed_peer.mjs) and by Phalanx's engine (phx_embed_vectors: all inputs in shared
# steps, inputs of a causal model longer than the 32-token step budget pooled over chunks, a
# bert encoder's inputs each whole in one step). For each of several inputs of different lengths
# (1 to ~250 tokens) the two vectors must have cosine similarity >= 0.9999 (both use an f16 KV
# cache; vectors are compared unnormalized, as cosine ignores scale). A file without
# pooling_type is served as `--embeddings` alone serves it: llama.cpp returns the last token's
# hidden state there, and so must Phalanx. Phalanx embeds llama.cpp's token ids; for the rows
# whose ids column says `own`, Phalanx's own tokenization of each text, framed as an embedding
# input (bert: WordPiece with [CLS]/[SEP]), must equal them too.
# Table-driven: one row per model (name | vocab | Phalanx pooling | ids | synth flags).
#   tests/peer/embeddings_test.sh PHALANX PHX_EMBED_VECTORS [NAME_FILTER]
set -euo pipefail

harness=embeddings_test
source "$(dirname "${BASH_SOURCE[0]}")/peer_lib.sh"
phalanx="${1:-$repo/build/bin/phalanx}"
embed="${2:-$repo/build/tests/peer/phx_embed_vectors}"
filter="${3:-}"
command -v python3 >/dev/null || die "python3 is required"
peer_init "$phalanx" "$embed" phx_embed_vectors

# Inputs: short to long (the long prompt file is ~250 tokens).
python3 - "$repo/tests/peer/prompts/long.txt" >"$work/texts.json" <<'PY'
import json, sys
long = open(sys.argv[1]).read().strip()
print(json.dumps(["Hi", "The quick brown fox jumps over the lazy dog.",
                  "Embeddings map text to vectors; similar texts land close together. " * 3,
                  "Héllo, WORLD! Ça va? Embeddings map text to vectors; 中文 too. " * 3,
                  long]))
PY

# name | vocab | Phalanx pooling (model: the file's; none: --embeddings alone) | ids (peer:
# llama.cpp's; own: Phalanx's must equal them) | synth flags (--seed 3 and --ctx 1024 unless given)
models=(
  "llama_nokey_last|$spm|none|peer|--arch llama --layers 2 --embd 128 --ffn 256 --heads 4 --kv-heads 2"
  "llama_mean|$llama3|model|peer|--arch llama --layers 2 --embd 128 --ffn 256 --heads 2 --kv-heads 1 --head-dim 64 --pooling mean"
  "qwen3_last|$qwen3|model|peer|--arch qwen3 --layers 2 --embd 128 --ffn 256 --heads 4 --kv-heads 2 --head-dim 64 --tied --pooling last"
  "qwen3_mean|$qwen3|model|peer|--arch qwen3 --layers 3 --embd 128 --ffn 384 --heads 4 --kv-heads 1 --tied --pooling mean"
  "qwen3_cls|$qwen3|model|peer|--arch qwen3 --layers 2 --embd 128 --ffn 256 --heads 2 --kv-heads 2 --tied --pooling cls"
  "bert_cls_2x128|$bge|model|own|--arch bert --layers 2 --embd 128 --ffn 512 --heads 4 --kv-heads 4 --ctx 512 --pooling cls --seed 3"
  "bert_mean_3x96|$bge|model|own|--arch bert --layers 3 --embd 96 --ffn 192 --heads 6 --kv-heads 6 --ctx 512 --pooling mean --seed 5"
  "bert_mean_1x384|$bge|model|own|--arch bert --layers 1 --embd 384 --ffn 1536 --heads 12 --kv-heads 12 --ctx 512 --pooling mean --seed 7"
  "bert_cls_4x64|$bge|model|own|--arch bert --layers 4 --embd 64 --ffn 256 --heads 2 --kv-heads 2 --ctx 512 --pooling cls --seed 11"
)

passed=0
for entry in "${models[@]}"; do
  IFS='|' read -r name vocab pooling ids flags <<<"$entry"
  [[ -z "$filter" || "$name" == *$filter* ]] || continue
  read -r -a args <<<"$flags"
  [[ " $flags " == *" --seed "* ]] || args+=(--seed 3)
  [[ " $flags " == *" --ctx "* ]] || args+=(--ctx 1024)
  [ -f "$vocab" ] || die "$name: no vocabulary $vocab"
  gguf="$work/$name.gguf"
  "$phalanx" model synth --out "$gguf" --vocab "$vocab" --dtype f32 "${args[@]}" \
    2>"$work/synth.log" || die "$name: synth failed: $(cat "$work/synth.log")"
  node "$repo/tests/peer/embed_peer.mjs" --peer-dir "$peer" --model "$gguf" \
    --texts "$work/texts.json" --ctx 512 >"$work/peer.json" 2>"$work/peer.log" ||
    die "$name: llama.cpp could not embed: $(tail -c 2000 "$work/peer.log")"
  python3 -c 'import json,sys; print(json.dumps([i["tokens"] for i in json.load(open(sys.argv[1]))["inputs"]]))' \
    "$work/peer.json" >"$work/tokens.json"
  "$embed" "$gguf" "$pooling" "$work/tokens.json" "$work/texts.json" >"$work/ours.json" \
    2>"$work/ours.log" || die "$name: phx_embed_vectors failed: $(cat "$work/ours.log")"
  if [ "$ids" = own ]; then
    python3 - "$work/tokens.json" "$work/ours.json" <<'PY' || die "$name: tokenization differs"
import json, sys
peer, ours = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["tokens"]
if peer != ours:
    print(f"llama.cpp: {peer}\nPhalanx:   {ours}")
    sys.exit(1)
PY
  fi
  python3 - "$name" "$work/peer.json" "$work/ours.json" <<'PY' || die "$name: vectors differ"
import json, math, sys
name, peer, ours = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ok = len(peer["inputs"]) == len(ours["vectors"]) == 5
for i, (p, o) in enumerate(zip(peer["inputs"], ours["vectors"])):
    a, b = p["vector"], o
    if len(a) != len(b) or not a:
        print(f"{name}: input {i}: sizes {len(a)} vs {len(b)}"); ok = False; continue
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    cos = dot / (na * nb) if na > 0 and nb > 0 else 0.0
    print(f"{name} ({ours['pooling']}): input {i} ({len(p['tokens'])} tokens): cosine {cos:.7f}")
    ok &= cos >= 0.9999
sys.exit(0 if ok else 1)
PY
  passed=$((passed + 1))
done
[ "$passed" -gt 0 ] || die "no model matched the filter '$filter'"
echo "embeddings_test: $passed models match llama.cpp"
