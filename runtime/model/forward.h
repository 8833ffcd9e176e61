// The forward pass for one step of any supported family: a batch that mixes prefill chunks and
// decode tokens of several sequences, over the paged KV cache, built from ops::Backend calls
// only. Generic over ModelConfig's features (fused or separate projections, q/k norm, post-norms,
// soft-caps, sliding windows, per-layer RoPE, dense or mixture-of-experts FFN): no family names
// appear here.
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
  // `context_length` is the longest sequence this forward serves (0: the model's); Phi-3's
  // longrope picks its long factors when it exceeds rope.scaling.original_context_length, as
  // llama.cpp does with its context size.
  static absl::StatusOr<std::unique_ptr<Forward>> Create(const Model& model, ops::Backend& backend,
                                                         int32_t max_tokens, int32_t max_logit_rows,
                                                         int64_t context_length = 0);

  // Runs the step: `tokens[t]` is appended at layout.positions[t] into slot
  // layout.slot_mapping[t]. Returns logits for the rows listed in `logit_rows` (indices into
  // tokens) as a host array [logit_rows.size(), vocab], valid until the next Run.
  absl::StatusOr<std::span<const float>> Run(std::span<const int32_t> tokens,
                                             const kv::StepLayout& layout, kv::KvCache& cache,
                                             std::span<const int32_t> logit_rows);

  int32_t max_tokens() const { return max_tokens_; }
  int32_t max_logit_rows() const { return max_logit_rows_; }
  // The RoPE of layer l (base, scaling, factors) as the step applies it.
  const ops::RopeParams& rope(int64_t l) const { return rope_[l]; }

 private:
  Forward(const Model& m, ops::Backend& b) : model_(m), backend_(b) {}
  // x += attention(norm(x)) for layer l over the first T rows.
  absl::Status AttentionBlock(int64_t l, int64_t T, const ops::Tensor& pos,
                              const ops::Tensor& slots, const ops::AttentionPlan& plan,
                              kv::KvCache& cache);
  // x += ffn(norm(x)) (dense or mixture of experts).
  absl::Status FfnBlock(int64_t l, int64_t T);

  const Model& model_;
  ops::Backend& backend_;
  int32_t max_tokens_ = 0;
  int32_t max_logit_rows_ = 0;
  std::vector<ops::RopeParams> rope_;  // per layer
  // Device scratch (buffers a model does not need stay empty).
  ops::Buffer ids_, pos_, slots_, rows_;
  ops::Buffer x_, h_, qkv_, q_, k_, v_, attn_, o_, gate_, up_, gate_up_, xr_, logits_;
  ops::Buffer router_, route_w_, route_ids_, e_gate_, e_up_, e_down_;
  std::vector<float> host_logits_;
};

}  // namespace phx::model
