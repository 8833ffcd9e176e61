#include "runtime/model/forward.h"

#include <cmath>

#include "base/status.h"
#include "base/strings.h"

namespace phx::model {

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

absl::StatusOr<std::span<const float>> Forward::Run(std::span<const int32_t> tokens,
                                                    const kv::StepLayout& layout,
                                                    kv::KvCache& cache,
                                                    std::span<const int32_t> logit_rows) {
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
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

  auto rows = [T](const ops::Buffer& b) { return b.tensor().Rows(0, T); };
  const ops::Tensor ids = ids_.tensor().Reshape({T});
  const ops::Tensor pos = pos_.tensor().Reshape({T});
  const ops::Tensor slots = slots_.tensor().Reshape({T});
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(tokens.data(), T * 4, ids));
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(layout.positions.data(), T * 4, pos));
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(layout.slot_mapping.data(), T * 4, slots));
  PHX_ASSIGN_OR_RETURN(
      auto plan,
      backend_.PlanAttention(layout.attention, static_cast<int32_t>(c.n_head),
                             static_cast<int32_t>(c.n_head_kv), static_cast<int32_t>(c.head_dim)));

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
    PHX_RETURN_IF_ERROR(backend_.RmsNorm(x, lw.attn_norm, c.rms_eps, h));
    const ops::Backend::MatmulOut qkv[] = {{&lw.wq, lw.bq.data ? &lw.bq : nullptr, &q},
                                           {&lw.wk, lw.bk.data ? &lw.bk : nullptr, &k},
                                           {&lw.wv, lw.bv.data ? &lw.bv : nullptr, &v}};
    PHX_RETURN_IF_ERROR(backend_.MatmulMany(h, qkv));
    PHX_RETURN_IF_ERROR(backend_.Rope(q, hd, pos, rope));
    PHX_RETURN_IF_ERROR(backend_.Rope(k, hd, pos, rope));
    const ops::KvLayer kv = cache.layer(static_cast<int32_t>(l));
    PHX_RETURN_IF_ERROR(backend_.WriteKv(k, v, slots, kv));
    PHX_RETURN_IF_ERROR(backend_.Attention(q, kv, *plan, scale, attn));
    PHX_RETURN_IF_ERROR(backend_.Matmul(attn, lw.wo, nullptr, o));
    PHX_RETURN_IF_ERROR(backend_.Add(x, o, x));
    PHX_RETURN_IF_ERROR(backend_.RmsNorm(x, lw.ffn_norm, c.rms_eps, h));
    const ops::Backend::MatmulOut gate_up[] = {{&lw.w_gate, nullptr, &gate},
                                               {&lw.w_up, nullptr, &up}};
    PHX_RETURN_IF_ERROR(backend_.MatmulMany(h, gate_up));
    PHX_RETURN_IF_ERROR(backend_.SwiGlu(gate, up, gate));
    PHX_RETURN_IF_ERROR(backend_.Matmul(gate, lw.w_down, nullptr, o));
    PHX_RETURN_IF_ERROR(backend_.Add(x, o, x));
  }
  if (R == 0) return std::span<const float>();
  // Gather the rows that need logits (an embedding lookup over x), then the output head.
  const ops::Tensor row_ids = rows_.tensor().Reshape({R});
  const ops::Tensor xr = xr_.tensor().Rows(0, R);
  const ops::Tensor logits = logits_.tensor().Rows(0, R);
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(logit_rows.data(), R * 4, row_ids));
  PHX_RETURN_IF_ERROR(backend_.Embedding(x, row_ids, xr));
  PHX_RETURN_IF_ERROR(backend_.RmsNorm(xr, w.output_norm, c.rms_eps, xr));
  PHX_RETURN_IF_ERROR(backend_.Matmul(xr, w.output, nullptr, logits));
  const size_t n = static_cast<size_t>(R * c.vocab_size);
  PHX_RETURN_IF_ERROR(backend_.CopyToHost(logits, host_logits_.data(), n * sizeof(float)));
  return std::span<const float>(host_logits_.data(), n);
}

}  // namespace phx::model
