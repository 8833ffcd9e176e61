// Host-side planning of paged attention (plain C++, unit-tested without a GPU): argument checks
// of a batch in FlashInfer's indptr/indices/last_page_len form, the flash-decoding split-k plan
// (how many CTAs each (sequence, KV head) gets, workspace size) and the prefill tile schedule.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/attention.h"

namespace phx::kernels {

// A batch's index arrays on the host (the device copies go into the launch parameters).
struct BatchView {
  const int32_t* q_indptr = nullptr;          // [num_seqs + 1]
  const int32_t* kv_indptr = nullptr;         // [num_seqs + 1]
  const int32_t* kv_indices = nullptr;        // [kv_indptr[num_seqs]]
  const int32_t* kv_last_page_len = nullptr;  // [num_seqs]
  int32_t num_seqs = 0;
  int32_t block_size = 16;

  int32_t num_q(int32_t s) const { return q_indptr[s + 1] - q_indptr[s]; }
  int32_t kv_len(int32_t s) const {
    const int32_t pages = kv_indptr[s + 1] - kv_indptr[s];
    return pages == 0 ? 0 : (pages - 1) * block_size + kv_last_page_len[s];
  }
};

struct AttentionShape {
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t num_blocks = 0;  // pages in the cache (kv_indices must be below)
};

// Same rules as ops::AttentionBatch::Validate, plus the kernel's shape limits (head_dim 64/128,
// n_heads a multiple of n_kv_heads).
cudaError_t ValidateBatch(const BatchView& b, const AttentionShape& shape);

// ---- Decode --------------------------------------------------------------------------------
struct DecodePlanOptions {
  int32_t num_sms = 132;    // multiprocessors of the device
  int32_t ctas_per_sm = 4;  // resident decode CTAs per SM to aim for
  int32_t min_chunk = 256;  // never split a sequence into pieces shorter than this
};

struct DecodePlan {
  std::vector<DecodeWorkItem> work;
  std::vector<DecodeMergeItem> merge;
  int32_t num_partials = 0;
  int32_t chunk = 0;        // tokens per split (the longest kv_len when nothing is split)
  int32_t head_chunks = 1;  // CTAs per KV head along the query heads of its group

  // Bytes of partial_out + partial_lse for this plan (0 when nothing is split); partial_lse
  // starts at PartialLseOffset within the workspace.
  size_t WorkspaceBytes(int32_t n_heads, int32_t head_dim) const;
  size_t PartialLseOffset(int32_t n_heads, int32_t head_dim) const;
};

// CTAs the decode kernel launches per work item.
int32_t DecodeCtasPerItem(const AttentionShape& shape);
// The chunk length the planner picks for these lengths (exposed for tests): the smallest
// chunk >= min_chunk, a multiple of 64, whose work items fill num_sms * ctas_per_sm CTAs without
// exceeding them; the longest length when the batch alone fills the device.
int32_t ChooseDecodeChunk(const std::vector<int32_t>& kv_lens, int32_t ctas_per_item,
                          const DecodePlanOptions& opt);
// Plans a decode step: every sequence has 0 or 1 query rows (else cudaErrorInvalidValue).
cudaError_t PlanDecode(const BatchView& b, const AttentionShape& shape,
                       const DecodePlanOptions& opt, DecodePlan* plan);
// True when every sequence has at most one query row (the decode kernel applies).
bool IsDecodeBatch(const BatchView& b);

// ---- Decode with a fixed launch shape (CUDA graphs) ----------------------------------------
// A plan whose item counts depend only on (padded_rows, splits), so a captured graph replays it
// with new contents: sequence s (exactly one query row each) gets `splits` items covering its
// kv_len in chunks of ceil(kv_len / splits) tokens (trailing items may be empty); rows
// num_seqs .. padded_rows - 1 are padding with `splits` empty items each (sequence index = row,
// so the device kv_indptr must have padded_rows + 1 entries, the padding ones repeating the
// last). splits > 1: every row has a merge item (padding rows come out 0); splits == 1: items
// write the output directly.
inline constexpr int32_t kMaxFixedSplits = 64;
cudaError_t PlanDecodeFixed(const BatchView& b, const AttentionShape& shape, int32_t padded_rows,
                            int32_t splits, DecodePlan* plan);
// The splits a fixed plan of `padded_rows` rows uses: enough items to fill
// num_sms * ctas_per_sm CTAs, in 1..kMaxFixedSplits.
int32_t FixedDecodeSplits(const AttentionShape& shape, int32_t padded_rows,
                          const DecodePlanOptions& opt);

// ---- Prefill -------------------------------------------------------------------------------
struct PrefillPlan {
  std::vector<PrefillTile> tiles;  // longest work first
};
// KV tokens a tile visits (its causal horizon), the schedule's sort key.
int32_t PrefillTileKvExtent(const PrefillTile& t, int32_t group);
cudaError_t PlanPrefill(const BatchView& b, const AttentionShape& shape, PrefillPlan* plan);

}  // namespace phx::kernels
