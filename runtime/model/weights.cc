// Model::BindWeights: finds every tensor the config asks for, checks its shape (GGUF order,
// dims[0] contiguous) and type, and adopts it on the backend; matmul weights also get the
// backend's prepared copy. A tensor the config does not use is an error, as in llama.cpp: it
// means a feature this description lacks (or a damaged file).
#include <cstring>
#include <set>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/model/model.h"

namespace phx::model {
namespace {

enum class Use { kVector, kMatrix, kExperts, kEmbedding, kEmbeddingAndMatrix, kHostVector };

// One tensor a config asks for: its GGUF dims, how the forward uses it, and where it goes.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> dims;
  Use use;
  bool required;
  ops::Tensor* slot = nullptr;         // device tensors
  std::vector<float>* host = nullptr;  // kHostVector
};

// Every tensor of `c`, in file-independent order, bound into `w`.
std::vector<TensorSpec> PlanTensors(const ModelConfig& c, Weights& w) {
  const int64_t D = c.n_embd, F = c.n_ff, V = c.vocab_size, QD = c.q_dim(), KVD = c.kv_dim();
  const int64_t E = c.n_expert, FE = c.n_ff_expert, HD = c.head_dim, R2 = c.n_rot / 2;
  std::vector<TensorSpec> t;
  auto add = [&](std::string name, std::vector<int64_t> dims, Use use, ops::Tensor* slot,
                 bool required = true) {
    t.push_back({std::move(name), std::move(dims), use, required, slot, nullptr});
  };
  add("token_embd.weight", {D, V},
      c.lm_head && c.tied_output ? Use::kEmbeddingAndMatrix : Use::kEmbedding, &w.tok_embd);
  if (c.pos_embd) add("position_embd.weight", {D, c.context_length}, Use::kEmbedding, &w.pos_embd);
  if (c.n_token_types > 0) {
    add("token_types.weight", {D, c.n_token_types}, Use::kEmbedding, &w.type_embd);
  }
  if (c.embd_norm) {
    add("token_embd_norm.weight", {D}, Use::kVector, &w.embd_norm);
    add("token_embd_norm.bias", {D}, Use::kVector, &w.embd_norm_b);
  }
  const bool layer_norm = c.norm == NormType::kLayer;
  w.layers.resize(c.n_layer);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    LayerWeights& lw = w.layers[l];
    const std::string p = StrCat("blk.", l, ".");
    if (!c.post_ln) {
      add(p + "attn_norm.weight", {D}, Use::kVector, &lw.attn_norm);
      if (layer_norm) add(p + "attn_norm.bias", {D}, Use::kVector, &lw.attn_norm_b);
    }
    if (c.fused_qkv) {
      add(p + "attn_qkv.weight", {D, QD + 2 * KVD}, Use::kMatrix, &lw.wqkv);
      add(p + "attn_qkv.bias", {QD + 2 * KVD}, Use::kVector, &lw.bqkv, c.qkv_bias);
    } else {
      add(p + "attn_q.weight", {D, QD}, Use::kMatrix, &lw.wq);
      add(p + "attn_k.weight", {D, KVD}, Use::kMatrix, &lw.wk);
      add(p + "attn_v.weight", {D, KVD}, Use::kMatrix, &lw.wv);
      if (c.qkv_bias) {
        add(p + "attn_q.bias", {QD}, Use::kVector, &lw.bq);
        add(p + "attn_k.bias", {KVD}, Use::kVector, &lw.bk);
        add(p + "attn_v.bias", {KVD}, Use::kVector, &lw.bv);
      }
    }
    add(p + "attn_output.weight", {QD, D}, Use::kMatrix, &lw.wo);
    if (c.out_bias) add(p + "attn_output.bias", {D}, Use::kVector, &lw.bo);
    if (c.qk_norm) {
      add(p + "attn_q_norm.weight", {HD}, Use::kVector, &lw.q_norm);
      add(p + "attn_k_norm.weight", {HD}, Use::kVector, &lw.k_norm);
    }
    if (c.post_norms) {
      add(p + "post_attention_norm.weight", {D}, Use::kVector, &lw.attn_post_norm);
      add(p + "post_ffw_norm.weight", {D}, Use::kVector, &lw.ffn_post_norm);
    }
    if (c.post_ln) {
      add(p + "attn_output_norm.weight", {D}, Use::kVector, &lw.attn_out_norm);
      add(p + "attn_output_norm.bias", {D}, Use::kVector, &lw.attn_out_norm_b);
      add(p + "layer_output_norm.weight", {D}, Use::kVector, &lw.layer_out_norm);
      add(p + "layer_output_norm.bias", {D}, Use::kVector, &lw.layer_out_norm_b);
    } else {
      add(p + "ffn_norm.weight", {D}, Use::kVector, &lw.ffn_norm);
      if (layer_norm) add(p + "ffn_norm.bias", {D}, Use::kVector, &lw.ffn_norm_b);
    }
    if (c.ffn_bias) {
      add(p + "ffn_up.bias", {c.fused_gate_up ? 2 * F : F}, Use::kVector, &lw.b_up);
      add(p + "ffn_down.bias", {D}, Use::kVector, &lw.b_down);
    }
    if (c.moe()) {
      add(p + "ffn_gate_inp.weight", {D, E}, Use::kMatrix, &lw.router);
      add(p + "ffn_gate_exps.weight", {D, FE, E}, Use::kExperts, &lw.gate_exps);
      add(p + "ffn_up_exps.weight", {D, FE, E}, Use::kExperts, &lw.up_exps);
      add(p + "ffn_down_exps.weight", {FE, D, E}, Use::kExperts, &lw.down_exps);
    } else if (c.ffn_act == FfnAct::kGelu) {  // no gate
      add(p + "ffn_up.weight", {D, F}, Use::kMatrix, &lw.w_up);
      add(p + "ffn_down.weight", {F, D}, Use::kMatrix, &lw.w_down);
    } else if (c.fused_gate_up) {
      add(p + "ffn_up.weight", {D, 2 * F}, Use::kMatrix, &lw.w_up);
      add(p + "ffn_down.weight", {F, D}, Use::kMatrix, &lw.w_down);
    } else {
      add(p + "ffn_gate.weight", {D, F}, Use::kMatrix, &lw.w_gate);
      add(p + "ffn_up.weight", {D, F}, Use::kMatrix, &lw.w_up);
      add(p + "ffn_down.weight", {F, D}, Use::kMatrix, &lw.w_down);
    }
  }
  if (c.lm_head) {
    add("output_norm.weight", {D}, Use::kVector, &w.output_norm);
    if (layer_norm) add("output_norm.bias", {D}, Use::kVector, &w.output_norm_b);
    if (!c.tied_output) add("output.weight", {D, V}, Use::kMatrix, &w.output);
  }
  auto host = [&](std::string name, std::vector<float>* out) {
    t.push_back({std::move(name), {R2}, Use::kHostVector, true, nullptr, out});
  };
  if (c.has_rope_freq_factors) host("rope_freqs.weight", &w.rope_freq_factors);
  if (c.has_longrope_factors) {
    host("rope_factors_long.weight", &w.rope_long);
    host("rope_factors_short.weight", &w.rope_short);
  }
  return t;
}

// The problems `spec` has in `f` on `backend` (presence, shape, type), naming the tensor.
absl::Status CheckTensor(const gguf::File& f, const TensorSpec& spec, const ops::Backend& backend) {
  const gguf::TensorInfo* t = f.FindTensor(spec.name);
  if (t == nullptr) {
    if (!spec.required) return absl::OkStatus();
    return absl::NotFoundError(StrCat("tensor ", spec.name, " is missing"));
  }
  if (t->dims != spec.dims) {
    return absl::InvalidArgumentError(StrCat("tensor ", spec.name, " has shape [",
                                             StrJoin(t->dims, ", "), "], expected [",
                                             StrJoin(spec.dims, ", "), "]"));
  }
  if ((spec.use == Use::kVector || spec.use == Use::kHostVector) && t->type != DType::kF32) {
    return absl::UnimplementedError(
        StrCat("tensor ", spec.name, " has type ", DTypeName(t->type), ", expected f32"));
  }
  // Block scales llama.cpp would reject (ggml_validate_row_data): NaN/inf f16 scales, MXFP4's
  // exponent 0xFF. A model with them computes NaNs, so it is refused at load.
  if (IsQuantized(t->type)) {
    const int64_t bad = FirstInvalidBlock(
        t->type, t->data, static_cast<int64_t>(t->n_bytes) / GetDTypeInfo(t->type)->block_bytes);
    if (bad >= 0) {
      return absl::InvalidArgumentError(StrCat("tensor ", spec.name, " (", DTypeName(t->type),
                                               "): block ", bad, " has a non-finite scale"));
    }
  }
  absl::Status s;
  if (spec.use == Use::kMatrix || spec.use == Use::kEmbeddingAndMatrix) {
    s = backend.CheckSupported(ops::Op::kMatmul, t->type);
  }
  if (spec.use == Use::kExperts) s = backend.CheckSupported(ops::Op::kMatmulExperts, t->type);
  if (s.ok() && (spec.use == Use::kEmbedding || spec.use == Use::kEmbeddingAndMatrix)) {
    s = backend.CheckSupported(ops::Op::kEmbedding, t->type);
  }
  return s.ok() ? s : Annotate(s, StrCat("tensor ", spec.name));
}

}  // namespace

absl::Status CheckTensors(const gguf::File& f, const ModelConfig& c, const ops::Backend& backend) {
  Weights scratch;
  const std::vector<TensorSpec> specs = PlanTensors(c, scratch);
  std::set<std::string_view> used;
  for (const TensorSpec& spec : specs) {
    PHX_RETURN_IF_ERROR(CheckTensor(f, spec, backend));
    used.insert(spec.name);
  }
  for (const auto& t : f.tensors()) {
    if (!used.count(t.name)) {
      return absl::InvalidArgumentError(StrCat("tensor ", t.name, " is not used by the ", c.arch,
                                               " family (a feature it lacks?)"));
    }
  }
  return absl::OkStatus();
}

absl::Status Model::BindWeights(ops::Backend& backend, const LoadProgress& progress) {
  const ModelConfig& c = config_;
  if (absl::Status s = CheckTensors(*file_, c, backend); !s.ok()) return Annotate(s, path_);
  uint64_t total = 0, done = 0;
  for (const auto& t : file_->tensors()) total += t.n_bytes;
  for (const TensorSpec& spec : PlanTensors(c, weights_)) {
    const gguf::TensorInfo* t = file_->FindTensor(spec.name);
    if (t == nullptr) continue;  // optional (CheckTensors passed)
    const std::vector<int64_t>& d = spec.dims;
    if (spec.use == Use::kHostVector) {  // small f32 vectors the host keeps (RoPE factors)
      spec.host->resize(static_cast<size_t>(d[0]));
      std::memcpy(spec.host->data(), t->data, t->n_bytes);
      continue;
    }
    ops::Tensor host;
    if (d.size() == 1) {
      host = ops::Tensor::View(t->data, t->type, {d[0]});
    } else if (d.size() == 2) {
      host = ops::Tensor::View(t->data, t->type, {d[1], d[0]});
    } else {
      host = ops::Tensor::View(t->data, t->type, {d[2], d[1], d[0]});
    }
    PHX_ASSIGN_OR_RETURN(ops::Buffer buf, backend.AdoptWeight(host));
    *spec.slot = buf.tensor();
    if (spec.use == Use::kMatrix || spec.use == Use::kEmbeddingAndMatrix ||
        spec.use == Use::kExperts) {
      // Experts are prepared as one [E * rows, cols] matrix (MatmulExperts slices it).
      const ops::Tensor flat =
          spec.use == Use::kExperts ? spec.slot->Reshape({d[2] * d[1], d[0]}) : *spec.slot;
      PHX_ASSIGN_OR_RETURN(std::unique_ptr<ops::PreparedWeight> prep, backend.PrepareMatmul(flat));
      if (prep) prepared_.push_back(std::move(prep));
    }
    adopted_.push_back(std::move(buf));
    done += t->n_bytes;
    if (spec.use != Use::kVector) weight_bytes_ += t->n_bytes;
    if (progress) progress(done, total);
  }
  if (c.lm_head && c.tied_output) weights_.output = weights_.tok_embd;
  return absl::OkStatus();
}

}  // namespace phx::model
