#!/usr/bin/env bash
# Quantization against llama.cpp's own code (node-llama-cpp's prebuilt CPU libraries, dlopen'ed by
# quant_peer_check):
#   1. every type's quantizer bytes and dequantized values (quant_peer_check blocks);
#   2. `phalanx model synth --mix M` for every llama.cpp file type M against llama-quantize
#      (llama_model_quantize) run on the same weights in f32: every tensor's type and bytes;
#   3. `phalanx model synth --dtype T` against llama-quantize --pure, likewise.
# Two shapes: 8 layers, GQA 4, FFN 320 (rows that K-quants' 256-blocks do not divide fall back),
# and 3 layers, tied output, no GQA. Q2_K_S: llama.cpp insists on an importance matrix, which
# changes its bytes; there only the tensor types are compared.
#   tests/peer/quant_mix_test.sh [PHALANX_BINARY] [QUANT_PEER_CHECK_BINARY]
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
phalanx="${1:-$repo/build/bin/phalanx}"
check="${2:-$repo/build/tests/peer/quant_peer_check}"
vocab="${PHX_SHARED_DIR:-$repo/../shared}/models/stories260K.gguf"
die() {
  echo "quant_mix_test: FAIL: $*" >&2
  exit 1
}
[ -x "$phalanx" ] || die "no phalanx binary at $phalanx"
[ -x "$check" ] || die "no quant_peer_check binary at $check"
peer="$("$repo/scripts/peer-setup")" || die "scripts/peer-setup failed"
lib=$(ls -d "$peer"/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64 2>/dev/null) ||
  die "no prebuilt linux-x64 llama.cpp in $peer"
work="$(mktemp -d "${TMPDIR:-/tmp}/phx_quant.XXXXXX")"
trap 'rm -rf "$work"' EXIT

"$check" blocks "$lib" || die "quantizer or dequantizer differs from ggml's"

# llama.cpp's llama_ftype values (llama.h), independent of Phalanx's table.
mixes="Q2_K:10 Q2_K_S:21 Q3_K_S:11 Q3_K_M:12 Q3_K_L:13 Q4_K_S:14 Q4_K_M:15 Q5_K_S:16 Q5_K_M:17
  Q6_K:18 Q4_0:2 Q4_1:3 Q5_0:8 Q5_1:9 Q8_0:7 IQ4_NL:25 IQ4_XS:30"
dtypes="f32:0 f16:1 bf16:32 q4_0:2 q4_1:3 q5_0:8 q5_1:9 q8_0:7 q2_K:10 q3_K:12 q4_K:15 q5_K:17
  q6_K:18 iq4_nl:25 iq4_xs:30 mxfp4:38"
shapes=(
  "gqa|--layers 8 --embd 256 --ffn 320 --heads 8 --kv-heads 2 --seed 21"
  "tied|--layers 3 --embd 256 --ffn 512 --heads 4 --kv-heads 4 --tied --seed 22"
)
n=0
for shape in "${shapes[@]}"; do
  sname="${shape%%|*}"
  read -r -a flags <<<"${shape#*|}"
  src="$work/$sname-f32.gguf"
  "$phalanx" model synth --vocab "$vocab" --out "$src" --ctx 256 --dtype f32 "${flags[@]}" 2>/dev/null ||
    die "$sname: synth f32"
  for entry in $mixes $([ "$sname" = gqa ] && echo "$dtypes"); do
    name="${entry%%:*}" ftype="${entry#*:}"
    if [[ "$name" == [QI]* ]]; then opt=(--mix "$name") mode=""; else opt=(--dtype "$name") mode=pure; fi
    [ "$name" = Q2_K_S ] && mode=imatrix
    ours="$work/$sname-$name-ours.gguf" theirs="$work/$sname-$name-llama.gguf"
    "$phalanx" model synth --vocab "$vocab" --out "$ours" --ctx 256 "${opt[@]}" "${flags[@]}" \
      2>"$work/synth.log" || die "$sname $name: synth: $(cat "$work/synth.log")"
    "$check" quantize "$lib" "$src" "$theirs" "$ftype" $mode >"$work/quantize.log" 2>&1 ||
      die "$sname $name: llama_model_quantize: $(tail -5 "$work/quantize.log")"
    "$check" compare "$ours" "$theirs" $([ "$mode" = imatrix ] && echo types) ||
      die "$sname $name: phalanx and llama.cpp files differ"
    rm -f "$ours" "$theirs"
    n=$((n + 1))
  done
done
echo "quant_mix_test: PASS (quantizers and dequantizers of 13 types; $n synthesized files identical to llama-quantize's)"
