#include <cmath>

#include "base/strings.h"
#include "runtime/model/families/families.h"

namespace phx::model::families {

float DefaultAttnScale(const ModelConfig& c) {
  return 1.0f / std::sqrt(static_cast<float>(c.head_dim));
}

absl::Status CheckExperts(const Hparams& hp, const ModelConfig& c) {
  if (c.n_expert <= 0) {
    return absl::InvalidArgumentError(
        StrCat(hp.arch(), ": metadata ", hp.Key("expert_count"), " must be positive"));
  }
  if (c.n_expert_used <= 0 || c.n_expert_used > c.n_expert) {
    return absl::InvalidArgumentError(StrCat(hp.arch(), ": metadata ", hp.Key("expert_used_count"),
                                             " = ", c.n_expert_used, " must be in 1..", c.n_expert,
                                             " (expert_count)"));
  }
  return absl::OkStatus();
}

void DenseLayers(ModelConfig& c) {
  const float scale = c.rope_scaling == RopeScaling::kNone ? 1.f : 1.f / c.rope_scale_factor;
  c.layers.assign(static_cast<size_t>(c.n_layer), LayerConfig{false, c.rope_freq_base, scale});
}

}  // namespace phx::model::families
