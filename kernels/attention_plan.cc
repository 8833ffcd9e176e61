#include "kernels/attention_plan.h"

#include <algorithm>

#include "kernels/error.h"

namespace phx::kernels {
namespace {

constexpr int32_t kChunkAlign = 64;

int64_t CountItems(const std::vector<int32_t>& kv_lens, int32_t chunk) {
  int64_t n = 0;
  for (int32_t len : kv_lens) n += len <= 0 ? 0 : (len + chunk - 1) / chunk;
  return n;
}

}  // namespace

cudaError_t ValidateBatch(const BatchView& b, const AttentionShape& shape) {
  if (shape.head_dim != 64 && shape.head_dim != 128) {
    return InvalidArgument("attention: head_dim %d is not supported (supported: 64, 128)",
                           shape.head_dim);
  }
  if (shape.n_kv_heads <= 0 || shape.n_heads <= 0 || shape.n_heads % shape.n_kv_heads != 0) {
    return InvalidArgument("attention: n_heads %d is not a positive multiple of n_kv_heads %d",
                           shape.n_heads, shape.n_kv_heads);
  }
  if (b.block_size <= 0) return InvalidArgument("attention: block_size %d", b.block_size);
  if (b.num_seqs < 0) return InvalidArgument("attention: num_seqs %d", b.num_seqs);
  if (b.num_seqs > 0 &&
      (b.q_indptr == nullptr || b.kv_indptr == nullptr || b.kv_last_page_len == nullptr)) {
    return InvalidArgument("attention: null index array");
  }
  if (b.num_seqs == 0) return cudaSuccess;
  if (b.q_indptr[0] != 0 || b.kv_indptr[0] != 0) {
    return InvalidArgument("attention: indptr must start at 0 (q %d, kv %d)", b.q_indptr[0],
                           b.kv_indptr[0]);
  }
  for (int32_t s = 0; s < b.num_seqs; ++s) {
    const int32_t nq = b.num_q(s);
    const int32_t np = b.kv_indptr[s + 1] - b.kv_indptr[s];
    if (nq < 0 || np < 0) return InvalidArgument("attention: indptr decreases at sequence %d", s);
    if (np > 0 && (b.kv_last_page_len[s] < 1 || b.kv_last_page_len[s] > b.block_size)) {
      return InvalidArgument("attention: last_page_len %d of sequence %d outside 1..%d",
                             b.kv_last_page_len[s], s, b.block_size);
    }
    if (nq > b.kv_len(s)) {
      return InvalidArgument("attention: sequence %d has %d queries but %d cached tokens", s, nq,
                             b.kv_len(s));
    }
  }
  const int32_t pages = b.kv_indptr[b.num_seqs];
  if (pages > 0 && b.kv_indices == nullptr) return InvalidArgument("attention: null kv_indices");
  for (int32_t i = 0; i < pages; ++i) {
    if (b.kv_indices[i] < 0 || b.kv_indices[i] >= shape.num_blocks) {
      return InvalidArgument("attention: block id %d out of range 0..%d", b.kv_indices[i],
                             shape.num_blocks - 1);
    }
  }
  return cudaSuccess;
}

size_t DecodePlan::PartialLseOffset(int32_t n_heads, int32_t head_dim) const {
  return static_cast<size_t>(num_partials) * n_heads * head_dim * sizeof(float);
}

size_t DecodePlan::WorkspaceBytes(int32_t n_heads, int32_t head_dim) const {
  if (num_partials == 0) return 0;
  return PartialLseOffset(n_heads, head_dim) +
         static_cast<size_t>(num_partials) * n_heads * sizeof(float);
}

int32_t DecodeCtasPerItem(const AttentionShape& shape) {
  const int32_t group = shape.n_heads / shape.n_kv_heads;
  return shape.n_kv_heads * ((group + kDecodeHeadsPerCta - 1) / kDecodeHeadsPerCta);
}

int32_t ChooseDecodeChunk(const std::vector<int32_t>& kv_lens, int32_t ctas_per_item,
                          const DecodePlanOptions& opt) {
  int32_t max_len = 0;
  for (int32_t len : kv_lens) max_len = std::max(max_len, len);
  if (max_len == 0) return 0;
  const int64_t target = static_cast<int64_t>(opt.num_sms) * opt.ctas_per_sm;
  const int32_t min_chunk = std::max(opt.min_chunk, kChunkAlign);
  if (max_len <= min_chunk || CountItems(kv_lens, max_len) * ctas_per_item >= target) {
    return max_len;
  }
  // Items decrease as the chunk grows: binary search, in units of kChunkAlign tokens, for the
  // smallest chunk whose CTA count does not exceed the target.
  int32_t lo = (min_chunk + kChunkAlign - 1) / kChunkAlign;
  int32_t hi = (max_len + kChunkAlign - 1) / kChunkAlign;  // always fits (checked above)
  while (lo < hi) {
    const int32_t mid = lo + (hi - lo) / 2;
    if (CountItems(kv_lens, mid * kChunkAlign) * ctas_per_item <= target) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return std::min(lo * kChunkAlign, max_len);
}

bool IsDecodeBatch(const BatchView& b) {
  for (int32_t s = 0; s < b.num_seqs; ++s) {
    if (b.num_q(s) > 1) return false;
  }
  return true;
}

cudaError_t PlanDecode(const BatchView& b, const AttentionShape& shape,
                       const DecodePlanOptions& opt, DecodePlan* plan) {
  if (cudaError_t e = ValidateBatch(b, shape); e != cudaSuccess) return e;
  if (opt.num_sms <= 0 || opt.ctas_per_sm <= 0) {
    return InvalidArgument("decode plan: num_sms %d, ctas_per_sm %d", opt.num_sms, opt.ctas_per_sm);
  }
  *plan = DecodePlan{};
  std::vector<int32_t> lens;
  for (int32_t s = 0; s < b.num_seqs; ++s) {
    const int32_t nq = b.num_q(s);
    if (nq > 1) {
      return InvalidArgument("decode plan: sequence %d has %d query rows (decode takes 1)", s, nq);
    }
    if (nq == 1) lens.push_back(b.kv_len(s));
  }
  const int32_t group = shape.n_heads / shape.n_kv_heads;
  plan->head_chunks = (group + kDecodeHeadsPerCta - 1) / kDecodeHeadsPerCta;
  plan->chunk = ChooseDecodeChunk(lens, DecodeCtasPerItem(shape), opt);
  for (int32_t s = 0; s < b.num_seqs; ++s) {
    if (b.num_q(s) != 1) continue;
    const int32_t len = b.kv_len(s);
    const int32_t splits = (len + plan->chunk - 1) / plan->chunk;
    const int32_t q_row = b.q_indptr[s];
    if (splits > 1) {
      plan->merge.push_back({q_row, plan->num_partials, splits, 0});
    }
    for (int32_t i = 0; i < splits; ++i) {
      DecodeWorkItem w{};
      w.q_row = q_row;
      w.seq = s;
      w.kv_begin = i * plan->chunk;
      w.kv_end = std::min(len, (i + 1) * plan->chunk);
      w.partial = splits > 1 ? plan->num_partials++ : -1;
      w.kv_len = len;
      plan->work.push_back(w);
    }
  }
  return cudaSuccess;
}

int32_t FixedDecodeSplits(const AttentionShape& shape, int32_t padded_rows,
                          const DecodePlanOptions& opt) {
  const int64_t per_row =
      static_cast<int64_t>(std::max(padded_rows, 1)) * std::max(DecodeCtasPerItem(shape), 1);
  const int64_t target =
      static_cast<int64_t>(std::max(opt.num_sms, 1)) * std::max(opt.ctas_per_sm, 1);
  const int64_t splits = (target + per_row - 1) / per_row;
  return static_cast<int32_t>(std::clamp<int64_t>(splits, 1, kMaxFixedSplits));
}

cudaError_t PlanDecodeFixed(const BatchView& b, const AttentionShape& shape, int32_t padded_rows,
                            int32_t splits, DecodePlan* plan) {
  if (cudaError_t e = ValidateBatch(b, shape); e != cudaSuccess) return e;
  if (splits < 1 || splits > kMaxFixedSplits || padded_rows < b.num_seqs) {
    return InvalidArgument("fixed decode plan: %d splits (1..%d), %d rows for %d sequences", splits,
                           kMaxFixedSplits, padded_rows, b.num_seqs);
  }
  for (int32_t s = 0; s < b.num_seqs; ++s) {
    if (b.num_q(s) != 1) {
      return InvalidArgument("fixed decode plan: sequence %d has %d query rows (needs 1)", s,
                             b.num_q(s));
    }
  }
  *plan = DecodePlan{};
  const int32_t group = shape.n_heads / shape.n_kv_heads;
  plan->head_chunks = (group + kDecodeHeadsPerCta - 1) / kDecodeHeadsPerCta;
  plan->num_partials = splits > 1 ? padded_rows * splits : 0;
  for (int32_t r = 0; r < padded_rows; ++r) {
    const bool real = r < b.num_seqs;
    const int32_t len = real ? b.kv_len(r) : 0;
    const int32_t chunk = (len + splits - 1) / splits;
    plan->chunk = std::max(plan->chunk, chunk);
    const int32_t q_row = real ? b.q_indptr[r] : r;
    if (splits > 1) plan->merge.push_back({q_row, r * splits, splits, 0});
    for (int32_t i = 0; i < splits; ++i) {
      DecodeWorkItem w{};
      w.q_row = q_row;
      w.seq = r;
      w.kv_begin = std::min(len, i * chunk);
      w.kv_end = std::min(len, (i + 1) * chunk);
      w.partial = splits > 1 ? r * splits + i : -1;
      w.kv_len = len;
      plan->work.push_back(w);
    }
  }
  return cudaSuccess;
}

int32_t PrefillTileKvExtent(const PrefillTile& t, int32_t group) {
  const int32_t last_q = std::min(t.nq - 1, (t.row_begin + kPrefillTileRows - 1) / group);
  return t.kv_len - t.nq + last_q + 1;
}

cudaError_t PlanPrefill(const BatchView& b, const AttentionShape& shape, PrefillPlan* plan) {
  if (cudaError_t e = ValidateBatch(b, shape); e != cudaSuccess) return e;
  plan->tiles.clear();
  const int32_t group = shape.n_heads / shape.n_kv_heads;
  for (int32_t s = 0; s < b.num_seqs; ++s) {
    const int32_t nq = b.num_q(s);
    const int64_t rows = static_cast<int64_t>(nq) * group;
    for (int64_t r = 0; r < rows; r += kPrefillTileRows) {
      PrefillTile t{};
      t.seq = s;
      t.q_begin = b.q_indptr[s];
      t.nq = nq;
      t.kv_len = b.kv_len(s);
      t.row_begin = static_cast<int32_t>(r);
      plan->tiles.push_back(t);
    }
  }
  // Longest first, so the long causal tiles do not start last and form a tail.
  std::stable_sort(plan->tiles.begin(), plan->tiles.end(),
                   [group](const PrefillTile& a, const PrefillTile& c) {
                     return PrefillTileKvExtent(a, group) > PrefillTileKvExtent(c, group);
                   });
  return cudaSuccess;
}

}  // namespace phx::kernels
