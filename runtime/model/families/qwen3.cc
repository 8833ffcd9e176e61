// qwen3 and qwen3moe: NeoX RoPE over the whole head and an RMSNorm of each q and k head
// (attn_q_norm / attn_k_norm, [head_dim]) before it. qwen3moe replaces the FFN with a softmax
// router over expert_count experts of expert_feed_forward_length (default feed_forward_length /
// expert_used_count), the top expert_used_count renormalized (llama.cpp always renormalizes for
// this family: Qwen3's norm_topk_prob is true).
#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model::families {
namespace {

absl::Status Common(const Hparams& hp, ModelConfig& c) {
  c.rope_type = RopeType::kNeox;
  c.qk_norm = true;
  if (c.n_rot != c.head_dim) {  // the graph asserts n_rot == head dim
    return hp.Unsupported(StrCat("partial rotary (", c.n_rot, " of ", c.head_dim, " dims)"),
                          "rope.dimension_count");
  }
  c.attn_scale = DefaultAttnScale(c);
  c.has_rope_freq_factors = c.has_longrope_factors = false;  // not read by this family
  DenseLayers(c);
  return absl::OkStatus();
}

}  // namespace

absl::Status ConfigureQwen3(const Hparams& hp, ModelConfig& c) {
  if (c.n_expert > 0) return hp.Unsupported("experts in the dense family", "expert_count");
  return Common(hp, c);
}

absl::Status ConfigureQwen3Moe(const Hparams& hp, ModelConfig& c) {
  PHX_RETURN_IF_ERROR(CheckExperts(hp, c));
  const int64_t dflt = c.n_ff > 0 ? c.n_ff / c.n_expert_used : 0;
  PHX_ASSIGN_OR_RETURN(c.n_ff_expert,
                       hp.IntOr("expert_feed_forward_length", dflt, 1, int64_t{1} << 24));
  if (c.n_ff_expert <= 0) {
    return absl::NotFoundError(
        StrCat(hp.arch(), ": metadata ", hp.Key("expert_feed_forward_length"), " is missing"));
  }
  c.expert_weights_norm = true;
  return Common(hp, c);
}

}  // namespace phx::model::families
