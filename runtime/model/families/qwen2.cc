// qwen2: Qwen 2 / 2.5 dense. NeoX RoPE and biases on q, k and v.
#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model::families {

absl::Status ConfigureQwen2(const Hparams& hp, ModelConfig& c) {
  if (c.n_expert > 0) return hp.Unsupported("experts (Qwen2-MoE)", "expert_count");
  c.rope_type = RopeType::kNeox;
  if (!c.qkv_bias) {
    return absl::NotFoundError(
        StrCat(hp.arch(), ": tensor blk.0.attn_q.bias is missing (qwen2 has q/k/v biases)"));
  }
  c.attn_scale = DefaultAttnScale(c);
  c.has_rope_freq_factors = c.has_longrope_factors = false;  // not read by this family
  DenseLayers(c);
  return absl::OkStatus();
}

}  // namespace phx::model::families
