// llama: Llama 1/2/3.x and Mistral; Llama 3.1's "llama3" RoPE scaling arrives as the
// rope_freqs.weight tensor; Mixtral is this architecture with expert_count > 0 (llama.cpp's
// converter writes it so): a softmax router over expert_count experts of feed_forward_length,
// the top expert_used_count renormalized.
#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model::families {

absl::Status ConfigureLlama(const Hparams& hp, ModelConfig& c) {
  c.rope_type = RopeType::kNormal;
  if (c.n_rot != c.head_dim) {  // llama.cpp: "invalid n_rot"
    return hp.Unsupported(StrCat("partial rotary (", c.n_rot, " of ", c.head_dim, " dims)"),
                          "rope.dimension_count");
  }
  c.attn_scale = DefaultAttnScale(c);
  // Per-pair frequency factors: rope_freqs.weight, or Phi-3 style long/short factors when
  // rope.scaling.type is longrope (what llama.cpp loads for this family).
  if (c.rope_scaling == RopeScaling::kLongRope) {
    c.has_rope_freq_factors = false;
  } else {
    c.has_longrope_factors = false;
  }
  if (c.n_expert > 0) {
    PHX_RETURN_IF_ERROR(CheckExperts(hp, c));
    c.n_ff_expert = c.n_ff;
    c.expert_weights_norm = true;
  }
  DenseLayers(c);
  return absl::OkStatus();
}

}  // namespace phx::model::families
