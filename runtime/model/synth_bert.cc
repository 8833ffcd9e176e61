// The tensors of a synthesized BERT encoder, named and shaped as llama.cpp's converter writes
// them (convert_hf_to_gguf.py, BertModel) and laid out as llama.cpp's LLM_ARCH_BERT loads them.
// Scales: token and position embeddings of unit variance and token types of smaller ones, so
// each contributes; projections of unit gain (every block ends in a LayerNorm, which fixes the
// scale); LayerNorm weights 1 +- 0.1 and biases +-0.1; q/k/v and FFN biases +-0.2.
#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/synth_arch.h"

namespace phx::model::synth {

absl::Status AddEncoderTensors(const SynthOptions& o, const ArchPlan& a, const MatrixFn& matrix,
                               const VecFn& vec, const TableFn& table) {
  const int64_t D = o.n_embd, F = o.n_ff, QD = o.n_head * a.head_dim;
  PHX_RETURN_IF_ERROR(table("token_types.weight", D, 2, 0.5f));
  PHX_RETURN_IF_ERROR(table("position_embd.weight", D, o.context_length, 1.f));
  PHX_RETURN_IF_ERROR(vec("token_embd_norm.weight", D, 1.f, 0.1f));
  PHX_RETURN_IF_ERROR(vec("token_embd_norm.bias", D, 0.f, 0.1f));
  for (int64_t l = 0; l < o.n_layer; ++l) {
    const std::string p = StrCat("blk.", l, ".");
    PHX_RETURN_IF_ERROR(matrix(p + "attn_q.weight", D, QD, 1.f));
    PHX_RETURN_IF_ERROR(vec(p + "attn_q.bias", QD, 0.f, 0.2f));
    PHX_RETURN_IF_ERROR(matrix(p + "attn_k.weight", D, QD, 1.f));
    PHX_RETURN_IF_ERROR(vec(p + "attn_k.bias", QD, 0.f, 0.2f));
    PHX_RETURN_IF_ERROR(matrix(p + "attn_v.weight", D, QD, 1.f));
    PHX_RETURN_IF_ERROR(vec(p + "attn_v.bias", QD, 0.f, 0.2f));
    PHX_RETURN_IF_ERROR(matrix(p + "attn_output.weight", QD, D, 1.f));
    PHX_RETURN_IF_ERROR(vec(p + "attn_output.bias", D, 0.f, 0.2f));
    PHX_RETURN_IF_ERROR(vec(p + "attn_output_norm.weight", D, 1.f, 0.1f));
    PHX_RETURN_IF_ERROR(vec(p + "attn_output_norm.bias", D, 0.f, 0.1f));
    PHX_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", D, F, 1.f));
    PHX_RETURN_IF_ERROR(vec(p + "ffn_up.bias", F, 0.f, 0.2f));
    PHX_RETURN_IF_ERROR(matrix(p + "ffn_down.weight", F, D, 1.f));
    PHX_RETURN_IF_ERROR(vec(p + "ffn_down.bias", D, 0.f, 0.2f));
    PHX_RETURN_IF_ERROR(vec(p + "layer_output_norm.weight", D, 1.f, 0.1f));
    PHX_RETURN_IF_ERROR(vec(p + "layer_output_norm.bias", D, 0.f, 0.1f));
  }
  return absl::OkStatus();
}

}  // namespace phx::model::synth
