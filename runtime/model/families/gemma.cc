// gemma2 and gemma3 (text). Both: token embeddings times sqrt(n_embd), NeoX RoPE, an RMSNorm
// after attention and after the FFN (post_attention_norm / post_ffw_norm) before each residual add,
// GeGLU with GELU's tanh form, and sliding-window attention on all layers but every P-th
// (layer l is local when l % P < P - 1). The norm weights are stored with Gemma's +1 already
// added by the converter. The attention scale is 1/sqrt(head_dim), except for the 27B shapes
// (46 and 62 layers), where llama.cpp takes 1/sqrt(n_embd / n_head) (query_pre_attn_scalar).
//
// gemma2: attention and final logit soft-capping (attn_logit_softcapping, default 50;
// final_logit_softcapping, default 30), window attention.sliding_window (default 4096), pattern
// attention.sliding_window_pattern (default 2), local layers with rope.freq_base_swa (default
// the global base) and the global scaling. The output is always the token embedding.
//
// gemma3: per-head q/k RMSNorm; no attention soft-cap; final soft-capping only when the key is
// present; sliding window only when attention.sliding_window > 0, pattern default 6; local
// layers use rope.freq_base_swa (default 10000) without scaling, global ones the model's base
// and rope.scaling.
#include <cmath>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model::families {
namespace {

absl::Status Common(const Hparams& hp, ModelConfig& c, int64_t big_layers) {
  c.rope_type = RopeType::kNeox;
  c.embd_scale = std::sqrt(static_cast<float>(c.n_embd));
  c.post_norms = true;
  c.ffn_act = FfnAct::kGeGlu;
  if (c.n_expert > 0) return hp.Unsupported("experts", "expert_count");
  c.has_rope_freq_factors = c.has_longrope_factors = false;  // not read by this family
  c.attn_scale = c.n_layer == big_layers ? 1.0f / std::sqrt(static_cast<float>(c.n_embd / c.n_head))
                                         : DefaultAttnScale(c);
  return absl::OkStatus();
}

// Sliding layers per the pattern, with their RoPE base and scale.
absl::Status SlidingLayers(const Hparams& hp, ModelConfig& c, int64_t dflt_pattern, float base_swa,
                           float scale_swa) {
  PHX_ASSIGN_OR_RETURN(c.swa_pattern,
                       hp.IntOr("attention.sliding_window_pattern", dflt_pattern, 0, 1 << 20));
  DenseLayers(c);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    LayerConfig& lc = c.layers[l];
    lc.sliding = c.swa_pattern == 0 || l % c.swa_pattern < c.swa_pattern - 1;
    if (lc.sliding) {
      lc.rope_base = base_swa;
      lc.rope_freq_scale = scale_swa;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ConfigureGemma2(const Hparams& hp, ModelConfig& c) {
  PHX_RETURN_IF_ERROR(Common(hp, c, 46));
  if (!c.tied_output) {  // llama.cpp never loads output.weight for gemma2
    return absl::InvalidArgumentError(StrCat(
        hp.arch(), ": tensor output.weight is not used (gemma2 ties the output to token_embd)"));
  }
  PHX_ASSIGN_OR_RETURN(c.attn_softcap, hp.FloatOr("attn_logit_softcapping", 50.f));
  PHX_ASSIGN_OR_RETURN(c.final_softcap, hp.FloatOr("final_logit_softcapping", 30.f));
  if (!(c.attn_softcap > 0) || !(c.final_softcap > 0)) {
    return absl::InvalidArgumentError(StrCat(hp.arch(), ": soft-caps must be positive (",
                                             c.attn_softcap, ", ", c.final_softcap, ")"));
  }
  PHX_ASSIGN_OR_RETURN(c.sliding_window,
                       hp.IntOr("attention.sliding_window", 4096, 1, int64_t{1} << 31));
  PHX_ASSIGN_OR_RETURN(const float base_swa, hp.FloatOr("rope.freq_base_swa", c.rope_freq_base));
  const float scale = c.rope_scaling == RopeScaling::kNone ? 1.f : 1.f / c.rope_scale_factor;
  return SlidingLayers(hp, c, 2, base_swa, scale);
}

absl::Status ConfigureGemma3(const Hparams& hp, ModelConfig& c) {
  PHX_RETURN_IF_ERROR(Common(hp, c, 62));
  c.qk_norm = true;
  PHX_ASSIGN_OR_RETURN(c.final_softcap, hp.FloatOr("final_logit_softcapping", 0.f));
  if (c.final_softcap < 0) {
    return absl::InvalidArgumentError(
        StrCat(hp.arch(), ": metadata ", hp.Key("final_logit_softcapping"), " is negative"));
  }
  PHX_ASSIGN_OR_RETURN(c.sliding_window,
                       hp.IntOr("attention.sliding_window", 0, 0, int64_t{1} << 31));
  if (c.sliding_window == 0) {
    DenseLayers(c);
    return absl::OkStatus();
  }
  PHX_ASSIGN_OR_RETURN(const float base_swa, hp.FloatOr("rope.freq_base_swa", 10000.f));
  return SlidingLayers(hp, c, 6, base_swa, 1.f);
}

}  // namespace phx::model::families
