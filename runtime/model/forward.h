// The forward pass for one step of any supported family: a batch that mixes prefill chunks and
// decode tokens of several sequences, over the paged KV cache, built from ops::Backend calls
// only. Generic over ModelConfig's features (fused or separate projections, q/k norm, post-norms,
// soft-caps, sliding windows, per-layer RoPE, dense or mixture-of-experts FFN): no family names
// appear here.
//
// Decode steps (every sequence one new token) run as recorded step graphs where the backend
// offers them (ops::Backend::GraphRows: CUDA graphs; every family op's CUDA kernel is
// graph-safe: no host synchronization, launch shapes fixed by the padded row count): the step
// is padded to the backend's row count, its inputs and attention plan are copied into buffers
// fixed for that row count, and the device work - every layer and the output head - is one
// RunGraph call, recorded once and replayed afterwards. Other steps (and backends without
// graphs) run eagerly.
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
  ~Forward();
  Forward(const Forward&) = delete;
  Forward& operator=(const Forward&) = delete;

  // Runs the step: `tokens[t]` is appended at layout.positions[t] into slot
  // layout.slot_mapping[t]. Returns logits for the rows listed in `logit_rows` (indices into
  // tokens) as a host array [logit_rows.size(), vocab], valid until the next Run.
  absl::StatusOr<std::span<const float>> Run(std::span<const int32_t> tokens,
                                             const kv::StepLayout& layout, kv::KvCache& cache,
                                             std::span<const int32_t> logit_rows);

  // Runs the step like Run (same validation, always eagerly) and returns the final hidden states
  // of the rows listed in `rows` (indices into tokens) after the output norm - what llama.cpp
  // returns as embeddings - as a host array [rows.size(), n_embd], valid until the next call.
  // `rows` may list up to max_tokens() rows, so a whole input fits for mean pooling.
  absl::StatusOr<std::span<const float>> RunHidden(std::span<const int32_t> tokens,
                                                   const kv::StepLayout& layout, kv::KvCache& cache,
                                                   std::span<const int32_t> rows);
  // Both in one step (a batch mixing generation and embeddings): logits of `logit_rows` as Run
  // returns them and hidden states of `hidden_rows` as RunHidden does, each valid until the
  // next call.
  struct Outputs {
    std::span<const float> logits;  // [logit_rows.size(), vocab]
    std::span<const float> hidden;  // [hidden_rows.size(), n_embd]
  };
  absl::StatusOr<Outputs> RunWithHidden(std::span<const int32_t> tokens,
                                        const kv::StepLayout& layout, kv::KvCache& cache,
                                        std::span<const int32_t> logit_rows,
                                        std::span<const int32_t> hidden_rows);

  // Step graphs for decode steps (default on; a backend without them runs every step eagerly).
  void set_step_graphs(bool on) { step_graphs_ = on; }
  bool step_graphs() const { return step_graphs_; }
  // Steps run so far, eagerly and through Backend::RunGraph.
  uint64_t eager_steps() const { return eager_steps_; }
  uint64_t graph_steps() const { return graph_steps_; }

  int32_t max_tokens() const { return max_tokens_; }
  int32_t max_logit_rows() const { return max_logit_rows_; }
  // The RoPE of layer l (base, scaling, factors) as the step applies it.
  const ops::RopeParams& rope(int64_t l) const { return rope_[l]; }

 private:
  Forward(const Model& m, ops::Backend& b) : model_(m), backend_(b) {}
  // h = norm(x) * w over the first T rows; when `pending`, x += o first, in the same pass
  // (Backend::AddRmsNorm), and pending is cleared.
  // LayerNorm models (w and its bias b) add and normalize in two passes.
  absl::Status Norm(int64_t T, const ops::Tensor& w, const ops::Tensor& b, bool& pending);
  // Adds token type 0 and the absolute positions to the token embeddings in x, then the
  // embedding norm, where the model has them (encoders).
  absl::Status InputEmbeddings(int64_t T);
  // Positions past an encoder's position embeddings are an error.
  absl::Status CheckPositions(const kv::StepLayout& layout) const;
  // x += attention(norm(x)) for layer l over the first T rows. With post-norms the add happens
  // here; otherwise the block leaves its output in o_ and sets `pending` (the next Norm adds it).
  absl::Status AttentionBlock(int64_t l, int64_t T, const ops::Tensor& pos,
                              const ops::Tensor& slots, const ops::AttentionPlan& plan,
                              kv::KvCache& cache, bool& pending);
  // x += ffn(norm(x)) (dense or mixture of experts), `pending` as above.
  absl::Status FfnBlock(int64_t l, int64_t T, bool& pending);

  // Checks a step's inputs: token ids, the layout, `rows` (indices into tokens, at most
  // `max_rows`), the attention batch against the cache.
  absl::Status CheckRows(std::span<const int32_t> rows, int64_t T, int64_t max_rows) const;
  absl::Status Validate(std::span<const int32_t> tokens, const kv::StepLayout& layout,
                        const kv::KvCache& cache, std::span<const int32_t> rows,
                        int64_t max_rows) const;
  // Stages the inputs, plans attention and runs every layer eagerly.
  absl::Status RunLayersEager(std::span<const int32_t> tokens, const kv::StepLayout& layout,
                              kv::KvCache& cache);
  // Copies `n` ids, positions and slots (already padded) to the device.
  absl::Status StageInputs(std::span<const int32_t> ids, std::span<const int32_t> pos,
                           std::span<const int32_t> slots);
  // Every layer over the first `rows` rows of the scratch, with `plan`.
  absl::Status Layers(int64_t rows, const ops::AttentionPlan& plan, kv::KvCache& cache);
  // The output head for the first `rows` rows of rows_ (gathered from x).
  absl::Status Head(int64_t rows);
  // The decode step as a step graph of `padded` rows, its plan sized for `max_pages` pages per
  // sequence.
  absl::StatusOr<std::span<const float>> RunGraphStep(std::span<const int32_t> tokens,
                                                      const kv::StepLayout& layout,
                                                      kv::KvCache& cache,
                                                      std::span<const int32_t> logit_rows,
                                                      int32_t padded, int32_t max_pages);
  absl::StatusOr<std::span<const float>> FetchLogits(int64_t rows);
  // The output-normed hidden states of `rows` (after Layers), copied to the host.
  absl::StatusOr<std::span<const float>> FetchHidden(std::span<const int32_t> rows);

  const Model& model_;
  ops::Backend& backend_;
  int32_t max_tokens_ = 0;
  int32_t max_logit_rows_ = 0;
  std::vector<ops::RopeParams> rope_;  // per layer
  bool step_graphs_ = true;
  uint64_t eager_steps_ = 0, graph_steps_ = 0;
  // Device scratch (buffers a model does not need stay empty).
  ops::Buffer ids_, pos_, slots_, rows_, types_;
  ops::Buffer x_, h_, qkv_, q_, k_, v_, attn_, o_, gate_, up_, gate_up_, xr_, logits_;
  ops::Buffer router_, route_w_, route_ids_, e_gate_, e_up_, e_down_;
  std::vector<float> host_logits_;
  std::vector<float> host_hidden_;  // RunHidden's result, grown on first use
  std::vector<int32_t> pad_ids_, pad_pos_, pad_slots_, pad_rows_;  // host staging of graph steps
};

}  // namespace phx::model
