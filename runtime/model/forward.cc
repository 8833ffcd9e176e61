#include "runtime/model/forward.h"

#include <algorithm>
#include <cmath>

#include "base/status.h"
#include "base/strings.h"

namespace phx::model {
namespace {

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h;
}

// What a recorded step's launches depend on besides buffer contents: the padded row count and
// the KV cache's tensors.
uint64_t GraphShape(int32_t padded, int32_t max_pages, const kv::KvCache& cache) {
  uint64_t h = Mix(Mix(0, static_cast<uint64_t>(padded)), static_cast<uint64_t>(max_pages));
  const kv::KvCacheConfig& c = cache.config();
  h = Mix(h, static_cast<uint64_t>(c.num_blocks));
  for (int32_t l = 0; l < c.n_layers; ++l) {
    const ops::KvLayer layer = cache.layer(l);
    h = Mix(h, reinterpret_cast<uintptr_t>(layer.k.data));
    h = Mix(h, reinterpret_cast<uintptr_t>(layer.v.data));
  }
  return h;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Forward>> Forward::Create(const Model& model, ops::Backend& backend,
                                                         int32_t max_tokens,
                                                         int32_t max_logit_rows) {
  if (max_tokens <= 0 || max_logit_rows <= 0) {
    return absl::InvalidArgumentError("forward: max_tokens and max_logit_rows must be positive");
  }
  const ModelConfig& c = model.config();
  std::unique_ptr<Forward> f(new Forward(model, backend));
  f->max_tokens_ = max_tokens;
  f->max_logit_rows_ = max_logit_rows;
  const int64_t T = max_tokens, R = max_logit_rows;
  PHX_ASSIGN_OR_RETURN(f->ids_, backend.Allocate(DType::kI32, {T}));
  PHX_ASSIGN_OR_RETURN(f->pos_, backend.Allocate(DType::kI32, {T}));
  PHX_ASSIGN_OR_RETURN(f->slots_, backend.Allocate(DType::kI32, {T}));
  PHX_ASSIGN_OR_RETURN(f->rows_, backend.Allocate(DType::kI32, {R}));
  PHX_ASSIGN_OR_RETURN(f->x_, backend.Allocate(DType::kF32, {T, c.n_embd}));
  PHX_ASSIGN_OR_RETURN(f->h_, backend.Allocate(DType::kF32, {T, c.n_embd}));
  PHX_ASSIGN_OR_RETURN(f->q_, backend.Allocate(DType::kF32, {T, c.q_dim()}));
  PHX_ASSIGN_OR_RETURN(f->k_, backend.Allocate(DType::kF32, {T, c.kv_dim()}));
  PHX_ASSIGN_OR_RETURN(f->v_, backend.Allocate(DType::kF32, {T, c.kv_dim()}));
  PHX_ASSIGN_OR_RETURN(f->attn_, backend.Allocate(DType::kF32, {T, c.q_dim()}));
  PHX_ASSIGN_OR_RETURN(f->o_, backend.Allocate(DType::kF32, {T, c.n_embd}));
  PHX_ASSIGN_OR_RETURN(f->gate_, backend.Allocate(DType::kF32, {T, c.n_ff}));
  PHX_ASSIGN_OR_RETURN(f->up_, backend.Allocate(DType::kF32, {T, c.n_ff}));
  PHX_ASSIGN_OR_RETURN(f->xr_, backend.Allocate(DType::kF32, {R, c.n_embd}));
  PHX_ASSIGN_OR_RETURN(f->logits_, backend.Allocate(DType::kF32, {R, c.vocab_size}));
  f->host_logits_.resize(static_cast<size_t>(R * c.vocab_size));
  return f;
}

Forward::~Forward() { backend_.ReleaseGraphs(this); }

absl::Status Forward::StageInputs(std::span<const int32_t> ids, std::span<const int32_t> pos,
                                  std::span<const int32_t> slots) {
  const int64_t n = static_cast<int64_t>(ids.size());
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(ids.data(), n * 4, ids_.tensor().Reshape({n})));
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(pos.data(), n * 4, pos_.tensor().Reshape({n})));
  return backend_.CopyToDevice(slots.data(), n * 4, slots_.tensor().Reshape({n}));
}

absl::Status Forward::Layers(int64_t T, const ops::AttentionPlan& plan, kv::KvCache& cache) {
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
  auto rows = [T](const ops::Buffer& b) { return b.tensor().Rows(0, T); };
  const ops::Tensor ids = ids_.tensor().Reshape({T});
  const ops::Tensor pos = pos_.tensor().Reshape({T});
  const ops::Tensor slots = slots_.tensor().Reshape({T});
  const ops::Tensor x = rows(x_), h = rows(h_), q = rows(q_), k = rows(k_), v = rows(v_);
  const ops::Tensor attn = rows(attn_), o = rows(o_), gate = rows(gate_), up = rows(up_);
  ops::RopeParams rope;
  rope.mode = c.rope_type == RopeType::kNeox ? ops::RopeMode::kNeox : ops::RopeMode::kNormal;
  rope.n_rot = static_cast<int32_t>(c.n_rot);
  rope.freq_base = c.rope_freq_base;
  rope.freq_scale = c.rope_scaling == RopeScaling::kLinear ? 1.f / c.rope_scale_factor : 1.f;
  rope.freq_factors = w.rope_freq_factors.empty() ? nullptr : w.rope_freq_factors.data();
  const float scale = 1.f / std::sqrt(static_cast<float>(c.head_dim));
  const int32_t hd = static_cast<int32_t>(c.head_dim);

  PHX_RETURN_IF_ERROR(backend_.Embedding(w.tok_embd, ids, x));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const LayerWeights& lw = w.layers[l];
    // The previous layer's output projection joins the residual stream in the norm's launch.
    if (l == 0) {
      PHX_RETURN_IF_ERROR(backend_.RmsNorm(x, lw.attn_norm, c.rms_eps, h));
    } else {
      PHX_RETURN_IF_ERROR(backend_.AddRmsNorm(x, o, lw.attn_norm, c.rms_eps, h));
    }
    const ops::Backend::MatmulOut qkv[] = {{&lw.wq, lw.bq.data ? &lw.bq : nullptr, &q},
                                           {&lw.wk, lw.bk.data ? &lw.bk : nullptr, &k},
                                           {&lw.wv, lw.bv.data ? &lw.bv : nullptr, &v}};
    PHX_RETURN_IF_ERROR(backend_.MatmulMany(h, qkv));
    const ops::KvLayer kv = cache.layer(static_cast<int32_t>(l));
    PHX_RETURN_IF_ERROR(backend_.RopeWriteKv(q, k, v, hd, pos, slots, rope, kv));
    PHX_RETURN_IF_ERROR(backend_.Attention(q, kv, plan, scale, attn));
    PHX_RETURN_IF_ERROR(backend_.Matmul(attn, lw.wo, nullptr, o));
    PHX_RETURN_IF_ERROR(backend_.AddRmsNorm(x, o, lw.ffn_norm, c.rms_eps, h));
    const ops::Backend::MatmulOut gate_up[] = {{&lw.w_gate, nullptr, &gate},
                                               {&lw.w_up, nullptr, &up}};
    PHX_RETURN_IF_ERROR(backend_.MatmulMany(h, gate_up));
    PHX_RETURN_IF_ERROR(backend_.SwiGlu(gate, up, gate));
    PHX_RETURN_IF_ERROR(backend_.Matmul(gate, lw.w_down, nullptr, o));
  }
  return backend_.Add(x, o, x);
}

absl::Status Forward::Head(int64_t R) {
  // Gather the rows that need logits (an embedding lookup over x), then the output head.
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
  const ops::Tensor row_ids = rows_.tensor().Reshape({R});
  const ops::Tensor xr = xr_.tensor().Rows(0, R);
  PHX_RETURN_IF_ERROR(backend_.Embedding(x_.tensor(), row_ids, xr));
  PHX_RETURN_IF_ERROR(backend_.RmsNorm(xr, w.output_norm, c.rms_eps, xr));
  return backend_.Matmul(xr, w.output, nullptr, logits_.tensor().Rows(0, R));
}

absl::StatusOr<std::span<const float>> Forward::FetchLogits(int64_t R) {
  const size_t n = static_cast<size_t>(R * model_.config().vocab_size);
  PHX_RETURN_IF_ERROR(
      backend_.CopyToHost(logits_.tensor().Rows(0, R), host_logits_.data(), n * sizeof(float)));
  return std::span<const float>(host_logits_.data(), n);
}

absl::StatusOr<std::span<const float>> Forward::Run(std::span<const int32_t> tokens,
                                                    const kv::StepLayout& layout,
                                                    kv::KvCache& cache,
                                                    std::span<const int32_t> logit_rows) {
  const ModelConfig& c = model_.config();
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t R = static_cast<int64_t>(logit_rows.size());
  if (T == 0 || T > max_tokens_ || R > max_logit_rows_) {
    return absl::InvalidArgumentError(StrCat("forward: ", T, " tokens and ", R,
                                             " logits rows exceed the step limits ", max_tokens_,
                                             " / ", max_logit_rows_));
  }
  if (layout.positions.size() != tokens.size() || layout.slot_mapping.size() != tokens.size()) {
    return absl::InternalError("forward: layout does not match the token count");
  }
  for (int32_t id : tokens) {
    if (id < 0 || id >= c.vocab_size) {
      return absl::InvalidArgumentError(
          StrCat("token id ", id, " outside the vocabulary (", c.vocab_size, ")"));
    }
  }
  for (int32_t r : logit_rows) {
    if (r < 0 || r >= T) return absl::InternalError(StrCat("forward: logits row ", r));
  }
  PHX_RETURN_IF_ERROR(layout.attention.Validate(cache.config().num_blocks));

  // A decode step (one new token per sequence) within the backend's graph buckets.
  const ops::AttentionBatch& batch = layout.attention;
  bool decode = step_graphs_ && batch.num_seqs() == T;
  for (int32_t s = 0; decode && s < batch.num_seqs(); ++s) {
    decode = batch.q_indptr[s + 1] - batch.q_indptr[s] == 1;
  }
  const int32_t padded = decode ? backend_.GraphRows(static_cast<int32_t>(T)) : 0;
  // The plan's page capacity per sequence is fixed (the model's context, or the whole cache); a
  // longer sequence makes the step eager.
  const kv::KvCacheConfig& kc = cache.config();
  int64_t max_pages = kc.num_blocks;
  if (c.context_length > 0) {
    max_pages =
        std::min<int64_t>(max_pages, (c.context_length + kc.block_size - 1) / kc.block_size);
  }
  bool fits = padded >= T && padded <= max_tokens_ && padded <= max_logit_rows_;
  for (int32_t s = 0; fits && s < batch.num_seqs(); ++s) {
    fits = batch.kv_indptr[s + 1] - batch.kv_indptr[s] <= max_pages;
  }
  if (fits) {
    return RunGraphStep(tokens, layout, cache, logit_rows, padded, static_cast<int32_t>(max_pages));
  }

  ++eager_steps_;
  PHX_RETURN_IF_ERROR(StageInputs(tokens, layout.positions, layout.slot_mapping));
  PHX_ASSIGN_OR_RETURN(auto plan, backend_.PlanAttention(batch, static_cast<int32_t>(c.n_head),
                                                         static_cast<int32_t>(c.n_head_kv),
                                                         static_cast<int32_t>(c.head_dim)));
  PHX_RETURN_IF_ERROR(Layers(T, *plan, cache));
  if (R == 0) return std::span<const float>();
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(logit_rows.data(), R * 4, rows_.tensor().Reshape({R})));
  PHX_RETURN_IF_ERROR(Head(R));
  return FetchLogits(R);
}

absl::StatusOr<std::span<const float>> Forward::RunGraphStep(std::span<const int32_t> tokens,
                                                             const kv::StepLayout& layout,
                                                             kv::KvCache& cache,
                                                             std::span<const int32_t> logit_rows,
                                                             int32_t padded, int32_t max_pages) {
  const ModelConfig& c = model_.config();
  const int64_t R = static_cast<int64_t>(logit_rows.size());
  // Padding rows: token 0 at position 0, no cache write (slot -1), logits of row 0.
  pad_ids_.assign(tokens.begin(), tokens.end());
  pad_ids_.resize(padded, 0);
  pad_pos_.assign(layout.positions.begin(), layout.positions.end());
  pad_pos_.resize(padded, 0);
  pad_slots_.assign(layout.slot_mapping.begin(), layout.slot_mapping.end());
  pad_slots_.resize(padded, -1);
  pad_rows_.assign(logit_rows.begin(), logit_rows.end());
  pad_rows_.resize(padded, 0);
  ++graph_steps_;
  PHX_RETURN_IF_ERROR(StageInputs(pad_ids_, pad_pos_, pad_slots_));
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(pad_rows_.data(), static_cast<size_t>(padded) * 4,
                                            rows_.tensor().Reshape({padded})));
  PHX_ASSIGN_OR_RETURN(
      auto plan, backend_.PlanGraphAttention(layout.attention, static_cast<int32_t>(c.n_head),
                                             static_cast<int32_t>(c.n_head_kv),
                                             static_cast<int32_t>(c.head_dim), padded, max_pages));
  const ops::GraphKey key{this, GraphShape(padded, max_pages, cache)};
  PHX_RETURN_IF_ERROR(backend_.RunGraph(key, [&]() -> absl::Status {
    PHX_RETURN_IF_ERROR(Layers(padded, *plan, cache));
    return Head(padded);
  }));
  if (R == 0) return std::span<const float>();
  return FetchLogits(R);
}

}  // namespace phx::model
