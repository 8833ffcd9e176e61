#include "runtime/model/forward.h"

#include <cmath>

#include "base/status.h"
#include "base/strings.h"

namespace phx::model {
namespace {

// Layer l's RoPE exactly as llama.cpp sets it up (llama_context's cparams and the per-layer
// base/scale of get_rope_freq_base/scale): YaRN's extrapolation mix and magnitude from the
// model-wide scale, the factor tensor chosen by the context (Phi-3 longrope).
ops::RopeParams LayerRope(const ModelConfig& c, const Weights& w, int64_t l, int64_t ctx) {
  ops::RopeParams p;
  p.mode = c.rope_type == RopeType::kNeox ? ops::RopeMode::kNeox : ops::RopeMode::kNormal;
  p.n_rot = static_cast<int32_t>(c.n_rot);
  p.freq_base = c.layers[l].rope_base;
  p.freq_scale = c.layers[l].rope_freq_scale;
  p.n_ctx_orig = static_cast<int32_t>(c.rope_orig_context);
  p.attn_factor = c.rope_attn_factor;
  if (c.rope_scaling == RopeScaling::kYarn) {
    p.ext_factor = 1.f;
    const float factor = 1.0f / (1.0f / c.rope_scale_factor);
    const float mscale = factor <= 1.0f ? 1.0f : 0.1f * logf(factor) + 1.0f;
    // llama.cpp cancels the gain ggml's YaRN adds (1 + 0.1 ln factor) and keeps get_mscale's.
    p.attn_factor = mscale * (1.0f / (1.0f + 0.1f * logf(factor))) * c.rope_attn_factor;
  }
  if (!w.rope_freq_factors.empty()) {
    p.freq_factors = w.rope_freq_factors.data();
  } else if (!w.rope_long.empty()) {
    p.freq_factors = ctx > c.rope_orig_context ? w.rope_long.data() : w.rope_short.data();
  }
  return p;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Forward>> Forward::Create(const Model& model, ops::Backend& backend,
                                                         int32_t max_tokens, int32_t max_logit_rows,
                                                         int64_t context_length) {
  if (max_tokens <= 0 || max_logit_rows <= 0) {
    return absl::InvalidArgumentError("forward: max_tokens and max_logit_rows must be positive");
  }
  const ModelConfig& c = model.config();
  std::unique_ptr<Forward> f(new Forward(model, backend));
  f->max_tokens_ = max_tokens;
  f->max_logit_rows_ = max_logit_rows;
  const int64_t ctx = context_length > 0 ? context_length : c.context_length;
  for (int64_t l = 0; l < c.n_layer; ++l) f->rope_.push_back(LayerRope(c, model.weights(), l, ctx));
  const int64_t T = max_tokens, R = max_logit_rows;
  auto alloc = [&](ops::Buffer& b, DType t, int64_t rows, int64_t cols) -> absl::Status {
    PHX_ASSIGN_OR_RETURN(b, backend.Allocate(t, {rows, cols}));
    return absl::OkStatus();
  };
  PHX_ASSIGN_OR_RETURN(f->ids_, backend.Allocate(DType::kI32, {T}));
  PHX_ASSIGN_OR_RETURN(f->pos_, backend.Allocate(DType::kI32, {T}));
  PHX_ASSIGN_OR_RETURN(f->slots_, backend.Allocate(DType::kI32, {T}));
  PHX_ASSIGN_OR_RETURN(f->rows_, backend.Allocate(DType::kI32, {R}));
  PHX_RETURN_IF_ERROR(alloc(f->x_, DType::kF32, T, c.n_embd));
  PHX_RETURN_IF_ERROR(alloc(f->h_, DType::kF32, T, c.n_embd));
  if (c.fused_qkv) {
    PHX_RETURN_IF_ERROR(alloc(f->qkv_, DType::kF32, T, c.q_dim() + 2 * c.kv_dim()));
  } else {
    PHX_RETURN_IF_ERROR(alloc(f->q_, DType::kF32, T, c.q_dim()));
    PHX_RETURN_IF_ERROR(alloc(f->k_, DType::kF32, T, c.kv_dim()));
    PHX_RETURN_IF_ERROR(alloc(f->v_, DType::kF32, T, c.kv_dim()));
  }
  PHX_RETURN_IF_ERROR(alloc(f->attn_, DType::kF32, T, c.q_dim()));
  PHX_RETURN_IF_ERROR(alloc(f->o_, DType::kF32, T, c.n_embd));
  if (c.moe()) {
    const int64_t TK = T * c.n_expert_used;
    PHX_RETURN_IF_ERROR(alloc(f->router_, DType::kF32, T, c.n_expert));
    PHX_RETURN_IF_ERROR(alloc(f->route_w_, DType::kF32, T, c.n_expert_used));
    PHX_RETURN_IF_ERROR(alloc(f->route_ids_, DType::kI32, T, c.n_expert_used));
    PHX_RETURN_IF_ERROR(alloc(f->e_gate_, DType::kF32, TK, c.n_ff_expert));
    PHX_RETURN_IF_ERROR(alloc(f->e_up_, DType::kF32, TK, c.n_ff_expert));
    PHX_RETURN_IF_ERROR(alloc(f->e_down_, DType::kF32, TK, c.n_embd));
  } else if (c.fused_gate_up) {
    PHX_RETURN_IF_ERROR(alloc(f->gate_up_, DType::kF32, T, 2 * c.n_ff));
  } else {
    PHX_RETURN_IF_ERROR(alloc(f->gate_, DType::kF32, T, c.n_ff));
    PHX_RETURN_IF_ERROR(alloc(f->up_, DType::kF32, T, c.n_ff));
  }
  PHX_RETURN_IF_ERROR(alloc(f->xr_, DType::kF32, R, c.n_embd));
  PHX_RETURN_IF_ERROR(alloc(f->logits_, DType::kF32, R, c.vocab_size));
  f->host_logits_.resize(static_cast<size_t>(R * c.vocab_size));
  return f;
}

absl::Status Forward::AttentionBlock(int64_t l, int64_t T, const ops::Tensor& pos,
                                     const ops::Tensor& slots, const ops::AttentionPlan& plan,
                                     kv::KvCache& cache) {
  const ModelConfig& c = model_.config();
  const LayerWeights& lw = model_.weights().layers[l];
  auto opt = [](const ops::Tensor& t) { return t.data != nullptr ? &t : nullptr; };
  const ops::Tensor x = x_.tensor().Rows(0, T), h = h_.tensor().Rows(0, T);
  const ops::Tensor attn = attn_.tensor().Rows(0, T), o = o_.tensor().Rows(0, T);
  PHX_RETURN_IF_ERROR(backend_.RmsNorm(x, lw.attn_norm, c.rms_eps, h));
  ops::Tensor q, k, v;
  if (c.fused_qkv) {
    const ops::Tensor qkv = qkv_.tensor().Rows(0, T);
    PHX_RETURN_IF_ERROR(backend_.Matmul(h, lw.wqkv, opt(lw.bqkv), qkv));
    q = qkv.Cols(0, c.q_dim());
    k = qkv.Cols(c.q_dim(), c.kv_dim());
    v = qkv.Cols(c.q_dim() + c.kv_dim(), c.kv_dim());
  } else {
    q = q_.tensor().Rows(0, T);
    k = k_.tensor().Rows(0, T);
    v = v_.tensor().Rows(0, T);
    const ops::Backend::MatmulOut outs[] = {
        {&lw.wq, opt(lw.bq), &q}, {&lw.wk, opt(lw.bk), &k}, {&lw.wv, opt(lw.bv), &v}};
    PHX_RETURN_IF_ERROR(backend_.MatmulMany(h, outs));
  }
  if (c.qk_norm) {  // each head on its own: w is [head_dim]
    PHX_RETURN_IF_ERROR(backend_.RmsNorm(q, lw.q_norm, c.rms_eps, q));
    PHX_RETURN_IF_ERROR(backend_.RmsNorm(k, lw.k_norm, c.rms_eps, k));
  }
  const int32_t hd = static_cast<int32_t>(c.head_dim);
  PHX_RETURN_IF_ERROR(backend_.Rope(q, hd, pos, rope_[l]));
  PHX_RETURN_IF_ERROR(backend_.Rope(k, hd, pos, rope_[l]));
  const ops::KvLayer kv = cache.layer(static_cast<int32_t>(l));
  PHX_RETURN_IF_ERROR(backend_.WriteKv(k, v, slots, kv));
  const int32_t window = c.layers[l].sliding ? static_cast<int32_t>(c.sliding_window) : 0;
  PHX_RETURN_IF_ERROR(backend_.Attention(
      q, kv, plan, ops::AttentionOptions(c.attn_scale, c.attn_softcap, window), attn));
  PHX_RETURN_IF_ERROR(backend_.Matmul(attn, lw.wo, opt(lw.bo), o));
  if (c.post_norms) return backend_.AddRmsNorm(x, o, lw.attn_post_norm, c.rms_eps, x);
  return backend_.Add(x, o, x);
}

absl::Status Forward::FfnBlock(int64_t l, int64_t T) {
  const ModelConfig& c = model_.config();
  const LayerWeights& lw = model_.weights().layers[l];
  const ops::Tensor x = x_.tensor().Rows(0, T), h = h_.tensor().Rows(0, T);
  const ops::Tensor o = o_.tensor().Rows(0, T);
  PHX_RETURN_IF_ERROR(backend_.RmsNorm(x, lw.ffn_norm, c.rms_eps, h));
  auto act = [&](const ops::Tensor& gate, const ops::Tensor& up) {
    return c.ffn_act == FfnAct::kGeGlu ? backend_.GeGlu(gate, up, gate)
                                       : backend_.SwiGlu(gate, up, gate);
  };
  if (c.moe()) {
    const int64_t TK = T * c.n_expert_used;
    const ops::Tensor logits = router_.tensor().Rows(0, T);
    const ops::Tensor weights = route_w_.tensor().Rows(0, T);
    const ops::Tensor ids = route_ids_.tensor().Rows(0, T);
    const ops::Tensor gate = e_gate_.tensor().Rows(0, TK), up = e_up_.tensor().Rows(0, TK);
    const ops::Tensor down = e_down_.tensor().Rows(0, TK);
    PHX_RETURN_IF_ERROR(backend_.Matmul(h, lw.router, nullptr, logits));
    PHX_RETURN_IF_ERROR(backend_.MoeRoute(logits, static_cast<int32_t>(c.n_expert_used),
                                          c.expert_weights_norm, weights, ids));
    const ops::Backend::ExpertOut gate_up[] = {{&lw.gate_exps, &gate}, {&lw.up_exps, &up}};
    PHX_RETURN_IF_ERROR(backend_.MatmulExperts(h, ids, gate_up));
    PHX_RETURN_IF_ERROR(act(gate, up));
    const ops::Backend::ExpertOut down_out[] = {{&lw.down_exps, &down}};
    PHX_RETURN_IF_ERROR(backend_.MatmulExperts(gate, ids, down_out));
    return backend_.MoeCombine(down, weights, x, x);
  }
  ops::Tensor gate, up;
  if (c.fused_gate_up) {  // ffn_up holds [gate; up]
    const ops::Tensor gu = gate_up_.tensor().Rows(0, T);
    PHX_RETURN_IF_ERROR(backend_.Matmul(h, lw.w_up, nullptr, gu));
    gate = gu.Cols(0, c.n_ff);
    up = gu.Cols(c.n_ff, c.n_ff);
  } else {
    gate = gate_.tensor().Rows(0, T);
    up = up_.tensor().Rows(0, T);
    const ops::Backend::MatmulOut outs[] = {{&lw.w_gate, nullptr, &gate}, {&lw.w_up, nullptr, &up}};
    PHX_RETURN_IF_ERROR(backend_.MatmulMany(h, outs));
  }
  PHX_RETURN_IF_ERROR(act(gate, up));
  PHX_RETURN_IF_ERROR(backend_.Matmul(gate, lw.w_down, nullptr, o));
  if (c.post_norms) return backend_.AddRmsNorm(x, o, lw.ffn_post_norm, c.rms_eps, x);
  return backend_.Add(x, o, x);
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

  PHX_RETURN_IF_ERROR(
      backend_.ScaledEmbedding(w.tok_embd, ids, c.embd_scale, x_.tensor().Rows(0, T)));
  for (int64_t l = 0; l < c.n_layer; ++l) {
    PHX_RETURN_IF_ERROR(AttentionBlock(l, T, pos, slots, *plan, cache));
    PHX_RETURN_IF_ERROR(FfnBlock(l, T));
  }
  if (R == 0) return std::span<const float>();
  // Gather the rows that need logits (an embedding lookup over x), then the output head (with
  // the final soft-cap fused into it).
  const ops::Tensor row_ids = rows_.tensor().Reshape({R});
  const ops::Tensor xr = xr_.tensor().Rows(0, R);
  const ops::Tensor logits = logits_.tensor().Rows(0, R);
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(logit_rows.data(), R * 4, row_ids));
  PHX_RETURN_IF_ERROR(backend_.Embedding(x_.tensor().Rows(0, T), row_ids, xr));
  PHX_RETURN_IF_ERROR(backend_.RmsNorm(xr, w.output_norm, c.rms_eps, xr));
  const ops::Backend::MatmulOut head{&w.output, nullptr, &logits, c.final_softcap};
  PHX_RETURN_IF_ERROR(backend_.MatmulMany(xr, {&head, 1}));
  const size_t n = static_cast<size_t>(R * c.vocab_size);
  PHX_RETURN_IF_ERROR(backend_.CopyToHost(logits, host_logits_.data(), n * sizeof(float)));
  return std::span<const float>(host_logits_.data(), n);
}

}  // namespace phx::model
