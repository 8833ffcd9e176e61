#include "ops/backend.h"

#include "base/status.h"
#include "base/strings.h"

namespace phx::ops {

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kMatmul:
      return "matmul";
    case Op::kRmsNorm:
      return "rms_norm";
    case Op::kRope:
      return "rope";
    case Op::kWriteKv:
      return "write_kv";
    case Op::kAttention:
      return "attention";
    case Op::kSwiGlu:
      return "swiglu";
    case Op::kAdd:
      return "add";
    case Op::kEmbedding:
      return "embedding";
    case Op::kSoftmax:
      return "softmax";
    case Op::kPenalties:
      return "penalties";
    case Op::kHeadRmsNorm:
      return "per-head rms_norm";
    case Op::kPostNormAdd:
      return "post-norm add";
    case Op::kRopeScaled:
      return "rope (YaRN / magnitude scaling)";
    case Op::kAttentionSoftcap:
      return "attention soft-capping";
    case Op::kSlidingWindow:
      return "sliding-window attention";
    case Op::kGeGlu:
      return "geglu";
    case Op::kScaledEmbedding:
      return "scaled embedding";
    case Op::kLogitSoftcap:
      return "logit soft-capping";
    case Op::kMoeRoute:
      return "moe_route";
    case Op::kMatmulExperts:
      return "matmul_experts";
    case Op::kMoeCombine:
      return "moe_combine";
    case Op::kLayerNorm:
      return "layer_norm";
    case Op::kGelu:
      return "gelu";
    case Op::kBidirectionalAttention:
      return "bidirectional (non-causal) attention";
  }
  return "?";
}

absl::Status Backend::CheckSupported(Op op, DType dtype) const {
  if (Supports(op, dtype)) return absl::OkStatus();
  return absl::UnimplementedError(
      StrCat(name(), " backend: ", OpName(op), " does not support ", DTypeName(dtype)));
}

// Default implementations: what the Llama set can express, an error naming the op otherwise
// (a backend overrides what it runs, and answers Supports accordingly).
absl::Status Backend::NotImplemented(Op op) const {
  return absl::UnimplementedError(StrCat(name(), " backend: ", OpName(op), " is not implemented"));
}

absl::Status Backend::MatmulMany(const Tensor& x, std::span<const MatmulOut> outs) {
  for (const MatmulOut& o : outs) {
    if (o.softcap != 0.f) return NotImplemented(Op::kLogitSoftcap);
    PHX_RETURN_IF_ERROR(Matmul(x, *o.w, o.bias, *o.y));
  }
  return absl::OkStatus();
}

absl::Status Backend::PostNormAdd(const Tensor&, const Tensor&, const Tensor&, float,
                                  const Tensor&) {
  return NotImplemented(Op::kPostNormAdd);
}

absl::Status Backend::LayerNorm(const Tensor&, const Tensor&, const Tensor&, float, const Tensor&) {
  return NotImplemented(Op::kLayerNorm);
}

absl::Status Backend::Gelu(const Tensor&, const Tensor&) { return NotImplemented(Op::kGelu); }

absl::Status Backend::GeGlu(const Tensor&, const Tensor&, const Tensor&) {
  return NotImplemented(Op::kGeGlu);
}

absl::Status Backend::ScaledEmbedding(const Tensor& table, const Tensor& ids, float scale,
                                      const Tensor& out) {
  if (scale == 1.f) return Embedding(table, ids, out);
  return NotImplemented(Op::kScaledEmbedding);
}

absl::Status Backend::MoeRoute(const Tensor&, int32_t, bool, const Tensor&, const Tensor&) {
  return NotImplemented(Op::kMoeRoute);
}

absl::Status Backend::MatmulExperts(const Tensor&, const Tensor&, std::span<const ExpertOut>) {
  return NotImplemented(Op::kMatmulExperts);
}

absl::Status Backend::MoeCombine(const Tensor&, const Tensor&, const Tensor&, const Tensor&) {
  return NotImplemented(Op::kMoeCombine);
}

absl::Status Backend::AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& w, float eps,
                                 const Tensor& y) {
  absl::Status s = Add(x, delta, x);
  if (!s.ok()) return s;
  return RmsNorm(x, w, eps, y);
}

absl::Status Backend::RopeWriteKv(const Tensor& q, const Tensor& k, const Tensor& v,
                                  int32_t head_dim, const Tensor& positions,
                                  const Tensor& slot_mapping, const RopeParams& rope,
                                  const KvLayer& cache) {
  absl::Status s = Rope(q, head_dim, positions, rope);
  if (s.ok()) s = Rope(k, head_dim, positions, rope);
  if (s.ok()) s = WriteKv(k, v, slot_mapping, cache);
  return s;
}

absl::StatusOr<std::unique_ptr<AttentionPlan>> Backend::PlanGraphAttention(
    const AttentionBatch& batch, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim,
    int32_t padded_rows, int32_t max_pages_per_seq) {
  (void)batch, (void)n_heads, (void)n_kv_heads, (void)head_dim, (void)padded_rows;
  (void)max_pages_per_seq;
  return absl::UnimplementedError(StrCat(name(), " backend: no step graphs"));
}

int32_t AttentionBatch::kv_len(int32_t seq) const {
  const int32_t pages = kv_indptr[seq + 1] - kv_indptr[seq];
  return pages == 0 ? 0 : (pages - 1) * block_size + kv_last_page_len[seq];
}

absl::Status AttentionBatch::Validate(int32_t num_blocks) const {
  const size_t s = kv_last_page_len.size();
  if (q_indptr.size() != s + 1 || kv_indptr.size() != s + 1) {
    return absl::InvalidArgumentError("attention batch: indptr sizes do not match sequence count");
  }
  if (q_indptr[0] != 0 || kv_indptr[0] != 0 ||
      kv_indptr[s] != static_cast<int32_t>(kv_indices.size())) {
    return absl::InvalidArgumentError("attention batch: indptr must start at 0 and end at size");
  }
  for (size_t i = 0; i < s; ++i) {
    const int32_t nq = q_indptr[i + 1] - q_indptr[i];
    const int32_t np = kv_indptr[i + 1] - kv_indptr[i];
    if (nq < 0 || np < 0) return absl::InvalidArgumentError("attention batch: indptr decreases");
    if (np > 0 && (kv_last_page_len[i] < 1 || kv_last_page_len[i] > block_size)) {
      return absl::InvalidArgumentError(StrCat("attention batch: last_page_len ",
                                               kv_last_page_len[i], " of sequence ", i,
                                               " outside 1..", block_size));
    }
    if (nq > kv_len(static_cast<int32_t>(i))) {
      return absl::InvalidArgumentError(StrCat("attention batch: sequence ", i, " has ", nq,
                                               " queries but ", kv_len(static_cast<int32_t>(i)),
                                               " cached tokens"));
    }
  }
  for (int32_t b : kv_indices) {
    if (b < 0 || b >= num_blocks) {
      return absl::InvalidArgumentError(StrCat("attention batch: block id ", b, " out of range"));
    }
  }
  return absl::OkStatus();
}

}  // namespace phx::ops
