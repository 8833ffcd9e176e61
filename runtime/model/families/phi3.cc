// phi3: Phi-3 / Phi-3.5 / Phi-4-mini. NeoX RoPE, possibly over part of the head
// (rope.dimension_count < head dim: Phi-4-mini), square attention (n_head * head_dim ==
// n_embd), q/k/v fused into attn_qkv.weight (or separate), and the FFN's gate and up fused into
// ffn_up.weight [D, 2F] (gate first). Long-context models carry Phi-3 "longrope" factors:
// rope_factors_long.weight and rope_factors_short.weight [n_rot/2], the long ones used when the
// serving context exceeds rope.scaling.original_context_length, with the cos/sin magnitude
// rope.scaling.attn_factor. llama.cpp runs every layer dense (it disables Phi's sliding window
// in attention.sliding_window), and so do we.
#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model::families {

absl::Status ConfigurePhi3(const Hparams& hp, ModelConfig& c) {
  c.rope_type = RopeType::kNeox;
  c.fused_gate_up = true;
  if (c.q_dim() != c.n_embd) {
    return absl::InvalidArgumentError(StrCat(hp.arch(), ": heads x head dim (", c.q_dim(),
                                             ") must equal embedding_length (", c.n_embd, ")"));
  }
  if (c.n_expert > 0) return hp.Unsupported("experts (PhiMoE)", "expert_count");
  c.attn_scale = DefaultAttnScale(c);
  c.has_rope_freq_factors = false;  // only the long/short factors
  DenseLayers(c);
  return absl::OkStatus();
}

}  // namespace phx::model::families
