#include "runtime/model/model.h"

#include "base/status.h"
#include "base/strings.h"

namespace phx::model {
namespace {

enum class Use { kVector, kMatrix, kEmbedding, kEmbeddingAndMatrix };

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::Load(const std::string& path, ops::Backend& backend,
                                                   const LoadProgress& progress) {
  std::unique_ptr<Model> m(new Model());
  m->path_ = path;
  PHX_ASSIGN_OR_RETURN(m->file_, gguf::File::Open(path));
  auto cfg = ConfigFromGguf(*m->file_);
  if (!cfg.ok()) return Annotate(cfg.status(), path);
  m->config_ = *cfg;
  auto tok = tok::Tokenizer::FromGguf(*m->file_);
  if (!tok.ok()) return Annotate(tok.status(), StrCat(path, ": tokenizer"));
  m->tokenizer_ = std::move(*tok);
  PHX_RETURN_IF_ERROR(m->BindWeights(backend, progress));
  return m;
}

absl::Status Model::BindWeights(ops::Backend& backend, const LoadProgress& progress) {
  const ModelConfig& c = config_;
  uint64_t total = 0, done = 0;
  for (const auto& t : file_->tensors()) total += t.n_bytes;

  // Finds `name`, checks its GGUF dims (dims[0] contiguous) and type, and adopts it as a
  // [rows, cols] view. Absent optional tensors give an empty view.
  auto bind = [&](const std::string& name, std::vector<int64_t> dims, Use use, ops::Tensor* out,
                  bool required = true) -> absl::Status {
    const gguf::TensorInfo* t = file_->FindTensor(name);
    if (t == nullptr) {
      if (!required) return absl::OkStatus();
      return absl::NotFoundError(StrCat(path_, ": tensor ", name, " is missing"));
    }
    if (t->dims != dims) {
      return absl::InvalidArgumentError(StrCat(path_, ": tensor ", name, " has shape [",
                                               StrJoin(t->dims, ", "), "], expected [",
                                               StrJoin(dims, ", "), "]"));
    }
    if (use == Use::kVector && t->type != DType::kF32) {
      return absl::UnimplementedError(
          StrCat(path_, ": tensor ", name, " has type ", DTypeName(t->type), ", expected f32"));
    }
    absl::Status s;
    if (use == Use::kMatrix || use == Use::kEmbeddingAndMatrix) {
      s = backend.CheckSupported(ops::Op::kMatmul, t->type);
    }
    if (s.ok() && (use == Use::kEmbedding || use == Use::kEmbeddingAndMatrix)) {
      s = backend.CheckSupported(ops::Op::kEmbedding, t->type);
    }
    if (!s.ok()) return Annotate(s, StrCat(path_, ": tensor ", name));
    // Block scales llama.cpp would reject (ggml_validate_row_data): NaN/inf f16 scales, MXFP4's
    // exponent 0xFF. A model with them computes NaNs, so it is refused at load.
    if (IsQuantized(t->type)) {
      const int64_t bad = FirstInvalidBlock(
          t->type, t->data, static_cast<int64_t>(t->n_bytes) / GetDTypeInfo(t->type)->block_bytes);
      if (bad >= 0) {
        return absl::InvalidArgumentError(StrCat(path_, ": tensor ", name, " (", DTypeName(t->type),
                                                 "): block ", bad, " has a non-finite scale"));
      }
    }
    const ops::Tensor host = dims.size() == 1
                                 ? ops::Tensor::View(t->data, t->type, {dims[0]})
                                 : ops::Tensor::View(t->data, t->type, {dims[1], dims[0]});
    PHX_ASSIGN_OR_RETURN(ops::Buffer buf, backend.AdoptWeight(host));
    *out = buf.tensor();
    if (use == Use::kMatrix || use == Use::kEmbeddingAndMatrix) {
      PHX_ASSIGN_OR_RETURN(std::unique_ptr<ops::PreparedWeight> prep, backend.PrepareMatmul(*out));
      if (prep) prepared_.push_back(std::move(prep));
    }
    adopted_.push_back(std::move(buf));
    done += t->n_bytes;
    if (use != Use::kVector) weight_bytes_ += t->n_bytes;
    if (progress) progress(done, total);
    return absl::OkStatus();
  };

  const int64_t D = c.n_embd, F = c.n_ff, V = c.vocab_size, QD = c.q_dim(), KVD = c.kv_dim();
  PHX_RETURN_IF_ERROR(bind("token_embd.weight", {D, V},
                           c.tied_output ? Use::kEmbeddingAndMatrix : Use::kEmbedding,
                           &weights_.tok_embd));
  weights_.layers.resize(c.n_layer);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    LayerWeights& w = weights_.layers[l];
    const std::string p = StrCat("blk.", l, ".");
    PHX_RETURN_IF_ERROR(bind(p + "attn_norm.weight", {D}, Use::kVector, &w.attn_norm));
    PHX_RETURN_IF_ERROR(bind(p + "attn_q.weight", {D, QD}, Use::kMatrix, &w.wq));
    PHX_RETURN_IF_ERROR(bind(p + "attn_k.weight", {D, KVD}, Use::kMatrix, &w.wk));
    PHX_RETURN_IF_ERROR(bind(p + "attn_v.weight", {D, KVD}, Use::kMatrix, &w.wv));
    PHX_RETURN_IF_ERROR(bind(p + "attn_q.bias", {QD}, Use::kVector, &w.bq, c.qkv_bias));
    PHX_RETURN_IF_ERROR(bind(p + "attn_k.bias", {KVD}, Use::kVector, &w.bk, c.qkv_bias));
    PHX_RETURN_IF_ERROR(bind(p + "attn_v.bias", {KVD}, Use::kVector, &w.bv, c.qkv_bias));
    PHX_RETURN_IF_ERROR(bind(p + "attn_output.weight", {QD, D}, Use::kMatrix, &w.wo));
    PHX_RETURN_IF_ERROR(bind(p + "ffn_norm.weight", {D}, Use::kVector, &w.ffn_norm));
    PHX_RETURN_IF_ERROR(bind(p + "ffn_gate.weight", {D, F}, Use::kMatrix, &w.w_gate));
    PHX_RETURN_IF_ERROR(bind(p + "ffn_up.weight", {D, F}, Use::kMatrix, &w.w_up));
    PHX_RETURN_IF_ERROR(bind(p + "ffn_down.weight", {F, D}, Use::kMatrix, &w.w_down));
  }
  PHX_RETURN_IF_ERROR(bind("output_norm.weight", {D}, Use::kVector, &weights_.output_norm));
  if (c.tied_output) {
    weights_.output = weights_.tok_embd;
  } else {
    PHX_RETURN_IF_ERROR(bind("output.weight", {D, V}, Use::kMatrix, &weights_.output));
  }
  if (c.has_rope_freq_factors) {
    const gguf::TensorInfo* t = file_->FindTensor("rope_freqs.weight");
    if (t->type != DType::kF32 || t->n_elements != static_cast<uint64_t>(c.n_rot / 2)) {
      return absl::InvalidArgumentError(
          StrCat(path_, ": rope_freqs.weight must be f32 [", c.n_rot / 2, "]"));
    }
    weights_.rope_freq_factors.resize(t->n_elements);
    std::memcpy(weights_.rope_freq_factors.data(), t->data, t->n_bytes);
  }
  return absl::OkStatus();
}

}  // namespace phx::model
