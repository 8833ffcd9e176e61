// The Llama-family forward pass for one step: a batch that mixes prefill chunks and decode
// tokens of several sequences, over the paged KV cache, built from ops::Backend calls only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ops/backend.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/model.h"

namespace phx::model {

class Forward {
 public:
  // Scratch is sized for `max_tokens` new tokens per step and `max_logit_rows` logits rows.
  static absl::StatusOr<std::unique_ptr<Forward>> Create(const Model& model, ops::Backend& backend,
                                                         int32_t max_tokens,
                                                         int32_t max_logit_rows);

  // Runs the step: `tokens[t]` is appended at layout.positions[t] into slot
  // layout.slot_mapping[t]. Returns logits for the rows listed in `logit_rows` (indices into
  // tokens) as a host array [logit_rows.size(), vocab], valid until the next Run.
  absl::StatusOr<std::span<const float>> Run(std::span<const int32_t> tokens,
                                             const kv::StepLayout& layout, kv::KvCache& cache,
                                             std::span<const int32_t> logit_rows);

  int32_t max_tokens() const { return max_tokens_; }
  int32_t max_logit_rows() const { return max_logit_rows_; }

 private:
  Forward(const Model& m, ops::Backend& b) : model_(m), backend_(b) {}

  const Model& model_;
  ops::Backend& backend_;
  int32_t max_tokens_ = 0;
  int32_t max_logit_rows_ = 0;
  // Device scratch.
  ops::Buffer ids_, pos_, slots_, rows_;
  ops::Buffer x_, h_, q_, k_, v_, attn_, o_, gate_, up_, xr_, logits_;
  std::vector<float> host_logits_;
};

}  // namespace phx::model
