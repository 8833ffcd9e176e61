#!/usr/bin/env bash
# Peer check of bert embeddings: synthesized F32 bert encoders (cls and mean pooling, several
# shapes, bge's WordPiece vocabulary) embedded by llama.cpp (node-llama-cpp's embedding context,
# tests/peer/bert_embed_peer.mjs) and by Phalanx's forward pass (phx_bert_embed_vectors: each
# input whole in one step, pooled as the file says). For every input (1 to ~250 tokens) the two
# vectors must have cosine similarity >= 0.9999 (Phalanx embeds llama.cpp's token ids), and
# llama.cpp's ids must equal Phalanx's own WordPiece tokenization framed with [CLS]/[SEP].
#   tests/peer/bert_embeddings_test.sh PHX_BERT_EMBED_VECTORS
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tool="${1:?usage: bert_embeddings_test.sh PHX_BERT_EMBED_VECTORS}"
shared="${PHX_SHARED_DIR:-$repo/../shared}"
die() {
  echo "bert_embeddings_test: FAIL: $*" >&2
  exit 1
}
[ -x "$tool" ] || die "no phx_bert_embed_vectors at $tool"
command -v node >/dev/null || die "node is required"
peer="$("$repo/scripts/peer-setup")" || die "scripts/peer-setup failed"
vocab="$shared/vocab/ggml-vocab-bert-bge.gguf"
work="$(mktemp -d "${TMPDIR:-/tmp}/phx_bert_peer.XXXXXX")"
trap 'rm -rf "$work"' EXIT

python3 - "$repo/tests/peer/prompts/long.txt" >"$work/texts.json" <<'PY'
import json, sys
long = open(sys.argv[1]).read().strip()
print(json.dumps(["Hi", "The quick brown fox jumps over the lazy dog.",
                  "Héllo, WORLD! Ça va? Embeddings map text to vectors; 中文 too. " * 3,
                  long]))
PY

# name | layers embd ffn heads ctx pooling seed
models=(
  "bert_cls_2x128|2 128 512 4 512 cls 3"
  "bert_mean_3x96|3 96 192 6 512 mean 5"
  "bert_mean_1x384|1 384 1536 12 512 mean 7"
  "bert_cls_4x64|4 64 256 2 512 cls 11"
)
passed=0
for entry in "${models[@]}"; do
  IFS='|' read -r name shape <<<"$entry"
  read -r -a s <<<"$shape"
  gguf="$work/$name.gguf"
  "$tool" synth "$gguf" "$vocab" "${s[@]}" || die "$name: synth failed"
  node "$repo/tests/peer/bert_embed_peer.mjs" "$peer" "$gguf" "$work/texts.json" \
    >"$work/peer.json" 2>"$work/peer.log" ||
    die "$name: llama.cpp could not embed: $(tail -c 2000 "$work/peer.log")"
  python3 -c 'import json,sys; print(json.dumps([i["tokens"] for i in json.load(open(sys.argv[1]))["inputs"]]))' \
    "$work/peer.json" >"$work/tokens.json"
  "$tool" tokenize "$gguf" "$work/texts.json" >"$work/our_tokens.json" ||
    die "$name: tokenize failed"
  python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    "$work/tokens.json" "$work/our_tokens.json" ||
    die "$name: tokenization differs: llama.cpp $(cat "$work/tokens.json") Phalanx $(cat "$work/our_tokens.json")"
  "$tool" embed "$gguf" "$work/tokens.json" >"$work/ours.json" || die "$name: embed failed"
  python3 - "$name" "$work/peer.json" "$work/ours.json" <<'PY' || die "$name: vectors differ"
import json, math, sys
name, peer, ours = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ok = len(peer["inputs"]) == len(ours["vectors"]) == 4
for i, (p, b) in enumerate(zip(peer["inputs"], ours["vectors"])):
    a = p["vector"]
    if len(a) != len(b) or not a:
        print(f"{name}: input {i}: sizes {len(a)} vs {len(b)}"); ok = False; continue
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    cos = dot / (na * nb) if na > 0 and nb > 0 else 0.0
    print(f"{name} ({ours['pooling']}): input {i} ({len(p['tokens'])} tokens): cosine {cos:.7f}")
    ok = ok and cos >= 0.9999
sys.exit(0 if ok else 1)
PY
  passed=$((passed + 1))
done
[ "$passed" -eq "${#models[@]}" ] || die "only $passed models checked"
echo "bert_embeddings_test: PASS ($passed models)"
