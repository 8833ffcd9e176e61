#include "runtime/model/forward.h"

#include <algorithm>
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
  if (c.n_token_types > 0) {  // every token is of type 0 (llama.cpp's "sentence A")
    PHX_ASSIGN_OR_RETURN(f->types_, backend.Allocate(DType::kI32, {T}));
    PHX_RETURN_IF_ERROR(backend.Fill(f->types_.tensor(), 0.f));
  }
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
  } else if (c.ffn_act == FfnAct::kGelu) {
    PHX_RETURN_IF_ERROR(alloc(f->up_, DType::kF32, T, c.n_ff));
  } else if (c.fused_gate_up) {
    PHX_RETURN_IF_ERROR(alloc(f->gate_up_, DType::kF32, T, 2 * c.n_ff));
  } else {
    PHX_RETURN_IF_ERROR(alloc(f->gate_, DType::kF32, T, c.n_ff));
    PHX_RETURN_IF_ERROR(alloc(f->up_, DType::kF32, T, c.n_ff));
  }
  if (c.lm_head) {
    PHX_RETURN_IF_ERROR(alloc(f->xr_, DType::kF32, R, c.n_embd));
    PHX_RETURN_IF_ERROR(alloc(f->logits_, DType::kF32, R, c.vocab_size));
    f->host_logits_.resize(static_cast<size_t>(R * c.vocab_size));
  }
  return f;
}

absl::Status Forward::Norm(int64_t T, const ops::Tensor& w, const ops::Tensor& b, bool& pending) {
  const ops::Tensor x = x_.tensor().Rows(0, T), h = h_.tensor().Rows(0, T);
  const ModelConfig& c = model_.config();
  if (c.norm == NormType::kLayer) {  // pre-LN with LayerNorm: the add, then the norm
    if (pending) PHX_RETURN_IF_ERROR(backend_.Add(x, o_.tensor().Rows(0, T), x));
    pending = false;
    return backend_.LayerNorm(x, w, b, c.norm_eps, h);
  }
  const float eps = c.rms_eps;
  if (!pending) return backend_.RmsNorm(x, w, eps, h);
  pending = false;  // x += o joins the norm's pass
  return backend_.AddRmsNorm(x, o_.tensor().Rows(0, T), w, eps, h);
}

absl::Status Forward::AttentionBlock(int64_t l, int64_t T, const ops::Tensor& pos,
                                     const ops::Tensor& slots, const ops::AttentionPlan& plan,
                                     kv::KvCache& cache, bool& pending) {
  const ModelConfig& c = model_.config();
  const LayerWeights& lw = model_.weights().layers[l];
  auto opt = [](const ops::Tensor& t) { return t.data != nullptr ? &t : nullptr; };
  const ops::Tensor x = x_.tensor().Rows(0, T), h = h_.tensor().Rows(0, T);
  const ops::Tensor attn = attn_.tensor().Rows(0, T), o = o_.tensor().Rows(0, T);
  // Post-LN blocks read the residual stream itself; the others its norm.
  const ops::Tensor& in = c.post_ln ? x : h;
  if (!c.post_ln) PHX_RETURN_IF_ERROR(Norm(T, lw.attn_norm, lw.attn_norm_b, pending));
  ops::Tensor q, k, v;
  if (c.fused_qkv) {
    const ops::Tensor qkv = qkv_.tensor().Rows(0, T);
    PHX_RETURN_IF_ERROR(backend_.Matmul(in, lw.wqkv, opt(lw.bqkv), qkv));
    q = qkv.Cols(0, c.q_dim());
    k = qkv.Cols(c.q_dim(), c.kv_dim());
    v = qkv.Cols(c.q_dim() + c.kv_dim(), c.kv_dim());
  } else {
    q = q_.tensor().Rows(0, T);
    k = k_.tensor().Rows(0, T);
    v = v_.tensor().Rows(0, T);
    const ops::Backend::MatmulOut outs[] = {
        {&lw.wq, opt(lw.bq), &q}, {&lw.wk, opt(lw.bk), &k}, {&lw.wv, opt(lw.bv), &v}};
    PHX_RETURN_IF_ERROR(backend_.MatmulMany(in, outs));
  }
  if (c.qk_norm) {  // each head on its own: w is [head_dim]
    PHX_RETURN_IF_ERROR(backend_.RmsNorm(q, lw.q_norm, c.rms_eps, q));
    PHX_RETURN_IF_ERROR(backend_.RmsNorm(k, lw.k_norm, c.rms_eps, k));
  }
  const int32_t hd = static_cast<int32_t>(c.head_dim);
  const ops::KvLayer kv = cache.layer(static_cast<int32_t>(l));
  if (c.rope_type == RopeType::kNone) {  // absolute positions were added to the input
    PHX_RETURN_IF_ERROR(backend_.WriteKv(k, v, slots, kv));
  } else {
    PHX_RETURN_IF_ERROR(backend_.RopeWriteKv(q, k, v, hd, pos, slots, rope_[l], kv));
  }
  const int32_t window = c.layers[l].sliding ? static_cast<int32_t>(c.sliding_window) : 0;
  PHX_RETURN_IF_ERROR(backend_.Attention(
      q, kv, plan, ops::AttentionOptions(c.attn_scale, c.attn_softcap, window), attn));
  PHX_RETURN_IF_ERROR(backend_.Matmul(attn, lw.wo, opt(lw.bo), o));
  if (c.post_ln) {  // x = LN(x + o)
    PHX_RETURN_IF_ERROR(backend_.Add(x, o, x));
    return backend_.LayerNorm(x, lw.attn_out_norm, lw.attn_out_norm_b, c.norm_eps, x);
  }
  if (c.post_norms) return backend_.PostNormAdd(x, o, lw.attn_post_norm, c.rms_eps, x);
  pending = true;  // the next norm adds o to x
  return absl::OkStatus();
}

absl::Status Forward::FfnBlock(int64_t l, int64_t T, bool& pending) {
  const ModelConfig& c = model_.config();
  const LayerWeights& lw = model_.weights().layers[l];
  const ops::Tensor x = x_.tensor().Rows(0, T), h = h_.tensor().Rows(0, T);
  const ops::Tensor o = o_.tensor().Rows(0, T);
  auto opt = [](const ops::Tensor& t) { return t.data != nullptr ? &t : nullptr; };
  if (c.ffn_act == FfnAct::kGelu) {  // up (+ bias), GELU, down (+ bias); no gate
    const ops::Tensor& in = c.post_ln ? x : h;
    if (!c.post_ln) PHX_RETURN_IF_ERROR(Norm(T, lw.ffn_norm, lw.ffn_norm_b, pending));
    const ops::Tensor up = up_.tensor().Rows(0, T);
    PHX_RETURN_IF_ERROR(backend_.Matmul(in, lw.w_up, opt(lw.b_up), up));
    PHX_RETURN_IF_ERROR(backend_.Gelu(up, up));
    PHX_RETURN_IF_ERROR(backend_.Matmul(up, lw.w_down, opt(lw.b_down), o));
    if (c.post_ln) {  // x = LN(x + o)
      PHX_RETURN_IF_ERROR(backend_.Add(x, o, x));
      return backend_.LayerNorm(x, lw.layer_out_norm, lw.layer_out_norm_b, c.norm_eps, x);
    }
    pending = true;
    return absl::OkStatus();
  }
  PHX_RETURN_IF_ERROR(Norm(T, lw.ffn_norm, lw.ffn_norm_b, pending));
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
  if (c.post_norms) return backend_.PostNormAdd(x, o, lw.ffn_post_norm, c.rms_eps, x);
  pending = true;
  return absl::OkStatus();
}

Forward::~Forward() { backend_.ReleaseGraphs(this); }

absl::Status Forward::StageInputs(std::span<const int32_t> ids, std::span<const int32_t> pos,
                                  std::span<const int32_t> slots) {
  const int64_t n = static_cast<int64_t>(ids.size());
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(ids.data(), n * 4, ids_.tensor().Reshape({n})));
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(pos.data(), n * 4, pos_.tensor().Reshape({n})));
  return backend_.CopyToDevice(slots.data(), n * 4, slots_.tensor().Reshape({n}));
}

absl::Status Forward::InputEmbeddings(int64_t T) {
  // What encoders add to the token embeddings, in llama.cpp's order: token type 0, the absolute
  // position, then the embedding norm.
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
  const ops::Tensor x = x_.tensor().Rows(0, T), h = h_.tensor().Rows(0, T);
  if (w.type_embd.data != nullptr) {
    PHX_RETURN_IF_ERROR(backend_.Embedding(w.type_embd, types_.tensor().Reshape({T}), h));
    PHX_RETURN_IF_ERROR(backend_.Add(x, h, x));
  }
  if (w.pos_embd.data != nullptr) {
    PHX_RETURN_IF_ERROR(backend_.Embedding(w.pos_embd, pos_.tensor().Reshape({T}), h));
    PHX_RETURN_IF_ERROR(backend_.Add(x, h, x));
  }
  if (c.embd_norm) {
    PHX_RETURN_IF_ERROR(backend_.LayerNorm(x, w.embd_norm, w.embd_norm_b, c.norm_eps, x));
  }
  return absl::OkStatus();
}

absl::Status Forward::Layers(int64_t T, const ops::AttentionPlan& plan, kv::KvCache& cache) {
  const ModelConfig& c = model_.config();
  const ops::Tensor ids = ids_.tensor().Reshape({T});
  const ops::Tensor pos = pos_.tensor().Reshape({T});
  const ops::Tensor slots = slots_.tensor().Reshape({T});
  PHX_RETURN_IF_ERROR(backend_.ScaledEmbedding(model_.weights().tok_embd, ids, c.embd_scale,
                                               x_.tensor().Rows(0, T)));
  PHX_RETURN_IF_ERROR(InputEmbeddings(T));
  bool pending = false;  // whether o_ holds a block's output not yet added to x_
  for (int64_t l = 0; l < c.n_layer; ++l) {
    PHX_RETURN_IF_ERROR(AttentionBlock(l, T, pos, slots, plan, cache, pending));
    PHX_RETURN_IF_ERROR(FfnBlock(l, T, pending));
  }
  if (!pending) return absl::OkStatus();
  const ops::Tensor x = x_.tensor().Rows(0, T);
  return backend_.Add(x, o_.tensor().Rows(0, T), x);
}

absl::Status Forward::Head(int64_t R) {
  // Gather the rows that need logits (an embedding lookup over x), then the output head.
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
  const ops::Tensor row_ids = rows_.tensor().Reshape({R});
  const ops::Tensor xr = xr_.tensor().Rows(0, R);
  PHX_RETURN_IF_ERROR(backend_.Embedding(x_.tensor(), row_ids, xr));
  if (c.norm == NormType::kLayer) {
    PHX_RETURN_IF_ERROR(backend_.LayerNorm(xr, w.output_norm, w.output_norm_b, c.norm_eps, xr));
  } else {
    PHX_RETURN_IF_ERROR(backend_.RmsNorm(xr, w.output_norm, c.rms_eps, xr));
  }
  const ops::Tensor logits = logits_.tensor().Rows(0, R);
  if (c.final_softcap == 0.f) return backend_.Matmul(xr, w.output, nullptr, logits);
  // The final soft-cap is fused into the output head.
  const ops::Backend::MatmulOut head{&w.output, nullptr, &logits, c.final_softcap};
  return backend_.MatmulMany(xr, {&head, 1});
}

absl::StatusOr<std::span<const float>> Forward::FetchLogits(int64_t R) {
  const size_t n = static_cast<size_t>(R * model_.config().vocab_size);
  PHX_RETURN_IF_ERROR(
      backend_.CopyToHost(logits_.tensor().Rows(0, R), host_logits_.data(), n * sizeof(float)));
  return std::span<const float>(host_logits_.data(), n);
}

absl::Status Forward::CheckRows(std::span<const int32_t> rows, int64_t T, int64_t max_rows) const {
  if (static_cast<int64_t>(rows.size()) > max_rows) {
    return absl::InvalidArgumentError(
        StrCat("forward: ", rows.size(), " output rows exceed the step limit ", max_rows));
  }
  for (int32_t r : rows) {
    if (r < 0 || r >= T) return absl::InternalError(StrCat("forward: output row ", r));
  }
  return absl::OkStatus();
}

absl::Status Forward::Validate(std::span<const int32_t> tokens, const kv::StepLayout& layout,
                               const kv::KvCache& cache, std::span<const int32_t> rows,
                               int64_t max_rows) const {
  const ModelConfig& c = model_.config();
  const int64_t T = static_cast<int64_t>(tokens.size());
  if (T == 0 || T > max_tokens_) {
    return absl::InvalidArgumentError(
        StrCat("forward: ", T, " tokens exceed the step limit ", max_tokens_));
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
  PHX_RETURN_IF_ERROR(CheckRows(rows, T, max_rows));
  if (!c.lm_head && !rows.empty()) {  // `rows` are logits rows
    return absl::FailedPreconditionError(
        StrCat(c.arch, " is an embedding model (no output head): it cannot generate text"));
  }
  PHX_RETURN_IF_ERROR(CheckPositions(layout));
  return layout.attention.Validate(cache.config().num_blocks);
}

absl::Status Forward::RunLayersEager(std::span<const int32_t> tokens, const kv::StepLayout& layout,
                                     kv::KvCache& cache) {
  const ModelConfig& c = model_.config();
  ++eager_steps_;
  PHX_RETURN_IF_ERROR(StageInputs(tokens, layout.positions, layout.slot_mapping));
  const ops::AttentionBatch* batch = &layout.attention;
  ops::AttentionBatch bidirectional;
  if (!c.causal) {  // every token sees its whole sequence
    bidirectional = layout.attention;
    bidirectional.causal = false;
    batch = &bidirectional;
  }
  PHX_ASSIGN_OR_RETURN(auto plan, backend_.PlanAttention(*batch, static_cast<int32_t>(c.n_head),
                                                         static_cast<int32_t>(c.n_head_kv),
                                                         static_cast<int32_t>(c.head_dim)));
  return Layers(static_cast<int64_t>(tokens.size()), *plan, cache);
}

absl::StatusOr<std::span<const float>> Forward::RunHidden(std::span<const int32_t> tokens,
                                                          const kv::StepLayout& layout,
                                                          kv::KvCache& cache,
                                                          std::span<const int32_t> rows) {
  PHX_ASSIGN_OR_RETURN(Outputs out, RunWithHidden(tokens, layout, cache, {}, rows));
  return out.hidden;
}

absl::StatusOr<Forward::Outputs> Forward::RunWithHidden(std::span<const int32_t> tokens,
                                                        const kv::StepLayout& layout,
                                                        kv::KvCache& cache,
                                                        std::span<const int32_t> logit_rows,
                                                        std::span<const int32_t> hidden_rows) {
  PHX_RETURN_IF_ERROR(Validate(tokens, layout, cache, logit_rows, max_logit_rows_));
  PHX_RETURN_IF_ERROR(CheckRows(hidden_rows, static_cast<int64_t>(tokens.size()), max_tokens_));
  PHX_RETURN_IF_ERROR(RunLayersEager(tokens, layout, cache));
  Outputs out;
  const int64_t R = static_cast<int64_t>(logit_rows.size());
  if (R > 0) {
    PHX_RETURN_IF_ERROR(
        backend_.CopyToDevice(logit_rows.data(), R * 4, rows_.tensor().Reshape({R})));
    PHX_RETURN_IF_ERROR(Head(R));
    PHX_ASSIGN_OR_RETURN(out.logits, FetchLogits(R));
  }
  if (!hidden_rows.empty()) {
    PHX_ASSIGN_OR_RETURN(out.hidden, FetchHidden(hidden_rows));
  }
  return out;
}

absl::StatusOr<std::span<const float>> Forward::FetchHidden(std::span<const int32_t> rows) {
  // Gather the rows from x into h (free scratch of max_tokens rows after the layers; the row ids
  // go to slots_, whose cache writes are done), then the output norm where the model has one.
  const ModelConfig& c = model_.config();
  const Weights& w = model_.weights();
  const int64_t R = static_cast<int64_t>(rows.size());
  const ops::Tensor ids = slots_.tensor().Reshape({R});
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(rows.data(), R * 4, ids));
  const ops::Tensor hr = h_.tensor().Rows(0, R);
  PHX_RETURN_IF_ERROR(backend_.Embedding(x_.tensor(), ids, hr));
  if (w.output_norm.data != nullptr) {
    if (c.norm == NormType::kLayer) {
      PHX_RETURN_IF_ERROR(backend_.LayerNorm(hr, w.output_norm, w.output_norm_b, c.norm_eps, hr));
    } else {
      PHX_RETURN_IF_ERROR(backend_.RmsNorm(hr, w.output_norm, c.rms_eps, hr));
    }
  }
  const size_t n = static_cast<size_t>(R * c.n_embd);
  if (host_hidden_.size() < n) host_hidden_.resize(n);
  PHX_RETURN_IF_ERROR(backend_.CopyToHost(hr, host_hidden_.data(), n * sizeof(float)));
  return std::span<const float>(host_hidden_.data(), n);
}

absl::StatusOr<std::span<const float>> Forward::Run(std::span<const int32_t> tokens,
                                                    const kv::StepLayout& layout,
                                                    kv::KvCache& cache,
                                                    std::span<const int32_t> logit_rows) {
  const ModelConfig& c = model_.config();
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t R = static_cast<int64_t>(logit_rows.size());
  PHX_RETURN_IF_ERROR(Validate(tokens, layout, cache, logit_rows, max_logit_rows_));

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

  PHX_RETURN_IF_ERROR(RunLayersEager(tokens, layout, cache));
  if (R == 0) return std::span<const float>();
  PHX_RETURN_IF_ERROR(backend_.CopyToDevice(logit_rows.data(), R * 4, rows_.tensor().Reshape({R})));
  PHX_RETURN_IF_ERROR(Head(R));
  return FetchLogits(R);
}

absl::Status Forward::CheckPositions(const kv::StepLayout& layout) const {
  const ModelConfig& c = model_.config();
  if (!c.pos_embd) return absl::OkStatus();
  for (int32_t p : layout.positions) {
    if (p < 0 || p >= c.context_length) {
      return absl::InvalidArgumentError(StrCat("position ", p, " is beyond ", c.arch, "'s ",
                                               c.context_length,
                                               " position embeddings (context_length)"));
    }
  }
  return absl::OkStatus();
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
