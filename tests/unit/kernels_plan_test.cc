// Host-side attention planning of kernels/ (no GPU): validation of the batch form, the
// flash-decoding split plan and the prefill tile schedule.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention_plan.h"
#include "kernels/error.h"

namespace phx::kernels {
namespace {

// A batch of sequences with given query counts and KV lengths, pages assigned in order.
struct Batch {
  std::vector<int32_t> q_indptr{0}, kv_indptr{0}, indices, last;
  int32_t block_size = 16;

  Batch(const std::vector<int32_t>& nq, const std::vector<int32_t>& kv_len, int32_t bs = 16)
      : block_size(bs) {
    int32_t page = 0;
    for (size_t s = 0; s < nq.size(); ++s) {
      q_indptr.push_back(q_indptr.back() + nq[s]);
      const int32_t pages = (kv_len[s] + bs - 1) / bs;
      for (int32_t i = 0; i < pages; ++i) indices.push_back(page++);
      kv_indptr.push_back(kv_indptr.back() + pages);
      last.push_back(pages == 0 ? 0 : kv_len[s] - (pages - 1) * bs);
    }
  }
  BatchView View() const {
    BatchView v;
    v.q_indptr = q_indptr.data();
    v.kv_indptr = kv_indptr.data();
    v.kv_indices = indices.data();
    v.kv_last_page_len = last.data();
    v.num_seqs = static_cast<int32_t>(last.size());
    v.block_size = block_size;
    return v;
  }
  int32_t pages() const { return static_cast<int32_t>(indices.size()); }
};

AttentionShape Shape(int32_t n_heads, int32_t n_kv, int32_t hd, int32_t blocks) {
  AttentionShape s;
  s.n_heads = n_heads;
  s.n_kv_heads = n_kv;
  s.head_dim = hd;
  s.num_blocks = blocks;
  return s;
}

TEST(AttentionPlanTest, RejectsHeadDim96NamingIt) {
  Batch b({1}, {10});
  EXPECT_EQ(ValidateBatch(b.View(), Shape(8, 8, 96, 100)), cudaErrorInvalidValue);
  EXPECT_NE(std::string(LastErrorMessage()).find("head_dim 96"), std::string::npos)
      << LastErrorMessage();
}

TEST(AttentionPlanTest, RejectsBadBatches) {
  Batch b({1, 1}, {10, 40});
  EXPECT_EQ(ValidateBatch(b.View(), Shape(8, 3, 64, 100)), cudaErrorInvalidValue);  // GQA
  EXPECT_EQ(ValidateBatch(b.View(), Shape(8, 8, 64, 2)), cudaErrorInvalidValue);    // block id
  EXPECT_NE(std::string(LastErrorMessage()).find("block id"), std::string::npos);
  Batch more_q({20}, {10});
  EXPECT_EQ(ValidateBatch(more_q.View(), Shape(8, 8, 64, 100)), cudaErrorInvalidValue);
  Batch bad_last({1}, {10});
  bad_last.last[0] = 17;
  EXPECT_EQ(ValidateBatch(bad_last.View(), Shape(8, 8, 64, 100)), cudaErrorInvalidValue);
  EXPECT_EQ(ValidateBatch(b.View(), Shape(8, 8, 128, 100)), cudaSuccess);
}

TEST(AttentionPlanTest, DecodeSplitsOneLongSequence) {
  Batch b({1}, {4096});
  const AttentionShape shape = Shape(32, 8, 128, b.pages());
  DecodePlanOptions opt;  // 132 SMs x 4
  DecodePlan plan;
  ASSERT_EQ(PlanDecode(b.View(), shape, opt, &plan), cudaSuccess);
  EXPECT_EQ(DecodeCtasPerItem(shape), 8);
  EXPECT_EQ(plan.chunk, 256);  // the minimum chunk: 16 items x 8 CTAs fit 528
  ASSERT_EQ(plan.work.size(), 16u);
  ASSERT_EQ(plan.merge.size(), 1u);
  EXPECT_EQ(plan.merge[0].num_partials, 16);
  EXPECT_EQ(plan.num_partials, 16);
  EXPECT_EQ(plan.WorkspaceBytes(32, 128), 16u * 32 * 128 * 4 + 16u * 32 * 4);
  EXPECT_EQ(plan.PartialLseOffset(32, 128), 16u * 32 * 128 * 4);
}

TEST(AttentionPlanTest, DecodeDoesNotSplitAFullBatch) {
  Batch b(std::vector<int32_t>(64, 1), std::vector<int32_t>(64, 4096));
  DecodePlan plan;
  ASSERT_EQ(PlanDecode(b.View(), Shape(32, 8, 128, b.pages()), {}, &plan), cudaSuccess);
  EXPECT_EQ(plan.chunk, 4096);
  EXPECT_EQ(plan.work.size(), 64u);
  EXPECT_TRUE(plan.merge.empty());
  EXPECT_EQ(plan.WorkspaceBytes(32, 128), 0u);
  for (const DecodeWorkItem& w : plan.work) EXPECT_EQ(w.partial, -1);
}

TEST(AttentionPlanTest, DecodeRejectsPrefillRows) {
  Batch b({1, 3}, {10, 20});
  DecodePlan plan;
  EXPECT_FALSE(IsDecodeBatch(b.View()));
  EXPECT_EQ(PlanDecode(b.View(), Shape(8, 8, 64, b.pages()), {}, &plan), cudaErrorInvalidValue);
}

// Random batches: every token of every decoding sequence is covered exactly once, splits are
// merged, and the CTA count respects the target unless nothing is split.
TEST(AttentionPlanTest, DecodePartitionCoversEveryToken) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 200; ++iter) {
    const int n = 1 + static_cast<int>(rng() % 40);
    std::vector<int32_t> nq, lens;
    for (int s = 0; s < n; ++s) {
      nq.push_back(rng() % 5 == 0 ? 0 : 1);
      lens.push_back(1 + static_cast<int32_t>(rng() % 9000));
    }
    Batch b(nq, lens, 1 + static_cast<int32_t>(rng() % 32));
    const AttentionShape shape = Shape(32, 1 << (rng() % 4), 64, b.pages());
    DecodePlanOptions opt;
    opt.num_sms = 16 + static_cast<int32_t>(rng() % 120);
    DecodePlan plan;
    ASSERT_EQ(PlanDecode(b.View(), shape, opt, &plan), cudaSuccess);
    std::vector<int32_t> covered(n, 0);
    int32_t max_len = 0;
    int32_t splits_seen = 0;
    for (const DecodeWorkItem& w : plan.work) {
      ASSERT_EQ(nq[w.seq], 1);
      EXPECT_EQ(w.q_row, b.q_indptr[w.seq]);
      EXPECT_EQ(w.kv_begin, covered[w.seq]);  // contiguous, in order
      EXPECT_GT(w.kv_end, w.kv_begin);
      EXPECT_LE(w.kv_end - w.kv_begin, plan.chunk);
      covered[w.seq] = w.kv_end;
      if (w.partial >= 0) ++splits_seen;
    }
    for (int s = 0; s < n; ++s) {
      EXPECT_EQ(covered[s], nq[s] == 1 ? lens[s] : 0);
      if (nq[s] == 1) max_len = std::max(max_len, lens[s]);
    }
    int32_t merged = 0;
    for (const DecodeMergeItem& m : plan.merge) {
      EXPECT_GT(m.num_partials, 1);
      EXPECT_EQ(m.partial_begin, merged);
      merged += m.num_partials;
    }
    EXPECT_EQ(merged, plan.num_partials);
    EXPECT_EQ(splits_seen, plan.num_partials);
    const int64_t ctas = static_cast<int64_t>(plan.work.size()) * DecodeCtasPerItem(shape);
    if (plan.chunk != max_len) {
      EXPECT_LE(ctas, static_cast<int64_t>(opt.num_sms) * opt.ctas_per_sm);
      EXPECT_EQ(plan.chunk % 64, 0);
      EXPECT_GE(plan.chunk, opt.min_chunk);
    }
  }
}

TEST(AttentionPlanTest, ChooseDecodeChunkEdgeCases) {
  DecodePlanOptions opt;
  EXPECT_EQ(ChooseDecodeChunk({}, 8, opt), 0);
  EXPECT_EQ(ChooseDecodeChunk({100}, 8, opt), 100);      // below min_chunk: never split
  EXPECT_EQ(ChooseDecodeChunk({100000}, 1, opt), 256);   // 391 items <= 528
  EXPECT_EQ(ChooseDecodeChunk({100000}, 8, opt), 1536);  // ceil(100000 / 1536) * 8 = 528
}

// The fixed plan of a CUDA-graph bucket: `splits` items per row (padding rows included), every
// token of every real row covered exactly once, padding rows empty, one merge per row.
TEST(AttentionPlanTest, FixedDecodePlanCoversTokensAndPadsRows) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 100; ++iter) {
    const int n = 1 + static_cast<int>(rng() % 12);
    std::vector<int32_t> lens;
    for (int s = 0; s < n; ++s) lens.push_back(1 + static_cast<int32_t>(rng() % 3000));
    Batch b(std::vector<int32_t>(n, 1), lens);
    const int32_t padded = n + static_cast<int32_t>(rng() % 5);
    const int32_t splits = 1 + static_cast<int32_t>(rng() % 66 % kMaxFixedSplits);
    DecodePlan plan;
    ASSERT_EQ(PlanDecodeFixed(b.View(), Shape(32, 8, 128, b.pages()), padded, splits, &plan),
              cudaSuccess);
    ASSERT_EQ(plan.work.size(), static_cast<size_t>(padded * splits));
    EXPECT_EQ(plan.merge.size(), splits > 1 ? static_cast<size_t>(padded) : 0u);
    EXPECT_EQ(plan.num_partials, splits > 1 ? padded * splits : 0);
    for (int32_t r = 0; r < padded; ++r) {
      const int32_t len = r < n ? lens[r] : 0;
      int32_t covered = 0, prev_end = 0;
      for (int32_t i = 0; i < splits; ++i) {
        const DecodeWorkItem& w = plan.work[static_cast<size_t>(r) * splits + i];
        EXPECT_EQ(w.q_row, r);
        EXPECT_EQ(w.seq, r);
        EXPECT_EQ(w.kv_begin, std::min(prev_end, len)) << "contiguous";
        EXPECT_LE(w.kv_begin, w.kv_end);
        EXPECT_EQ(w.partial, splits > 1 ? r * splits + i : -1);
        covered += w.kv_end - w.kv_begin;
        prev_end = w.kv_end;
      }
      EXPECT_EQ(covered, len) << "row " << r;
      if (splits > 1) {
        EXPECT_EQ(plan.merge[r].q_row, r);
        EXPECT_EQ(plan.merge[r].partial_begin, r * splits);
        EXPECT_EQ(plan.merge[r].num_partials, splits);
      }
    }
  }
}

TEST(AttentionPlanTest, FixedDecodePlanRejectsWhatItCannotHold) {
  Batch b({1, 1}, {10, 20});
  DecodePlan plan;
  EXPECT_EQ(PlanDecodeFixed(b.View(), Shape(8, 8, 64, b.pages()), 1, 4, &plan),
            cudaErrorInvalidValue);  // 2 sequences, 1 row
  EXPECT_EQ(PlanDecodeFixed(b.View(), Shape(8, 8, 64, b.pages()), 2, 0, &plan),
            cudaErrorInvalidValue);
  EXPECT_EQ(PlanDecodeFixed(b.View(), Shape(8, 8, 64, b.pages()), 2, kMaxFixedSplits + 1, &plan),
            cudaErrorInvalidValue);
  Batch prefill({2, 1}, {10, 20});
  EXPECT_EQ(PlanDecodeFixed(prefill.View(), Shape(8, 8, 64, prefill.pages()), 2, 4, &plan),
            cudaErrorInvalidValue);
  EXPECT_NE(std::string(LastErrorMessage()).find("2 query rows"), std::string::npos);
}

TEST(AttentionPlanTest, FixedDecodeSplitsFillTheDevice) {
  DecodePlanOptions opt;  // 132 SMs x 4
  // 8 KV heads, group 4: 8 CTAs per item. Batch 1: 528 / 8 = 66 -> capped at 64.
  EXPECT_EQ(FixedDecodeSplits(Shape(32, 8, 128, 1), 1, opt), kMaxFixedSplits);
  EXPECT_EQ(FixedDecodeSplits(Shape(32, 8, 128, 1), 16, opt), 5);  // ceil(528 / 128)
  EXPECT_EQ(FixedDecodeSplits(Shape(32, 8, 128, 1), 64, opt), 2);
  EXPECT_EQ(FixedDecodeSplits(Shape(32, 8, 128, 1), 256, opt), 1);
}

TEST(AttentionPlanTest, PrefillTilesCoverRowsLongestFirst) {
  // GQA group 4: 100 query tokens = 400 packed rows = 7 tiles; 3 tokens = 12 rows = 1 tile.
  Batch b({100, 3, 0}, {300, 50, 20});
  const AttentionShape shape = Shape(16, 4, 64, b.pages());
  PrefillPlan plan;
  ASSERT_EQ(PlanPrefill(b.View(), shape, &plan), cudaSuccess);
  ASSERT_EQ(plan.tiles.size(), 8u);
  std::vector<int32_t> rows_seen(3, 0);
  for (size_t i = 0; i < plan.tiles.size(); ++i) {
    const PrefillTile& t = plan.tiles[i];
    EXPECT_EQ(t.q_begin, b.q_indptr[t.seq]);
    EXPECT_EQ(t.row_begin % kPrefillTileRows, 0);
    rows_seen[t.seq] += std::min(kPrefillTileRows, t.nq * 4 - t.row_begin);
    if (i > 0) {
      EXPECT_GE(PrefillTileKvExtent(plan.tiles[i - 1], 4), PrefillTileKvExtent(t, 4));
    }
  }
  EXPECT_EQ(rows_seen[0], 400);
  EXPECT_EQ(rows_seen[1], 12);
  EXPECT_EQ(rows_seen[2], 0);
  // The first tile of sequence 0 sees 200 + 16 tokens (rows 0..63 = query tokens 0..15).
  PrefillTile first{0, 0, 100, 300, 0, {}};
  EXPECT_EQ(PrefillTileKvExtent(first, 4), 216);
}

}  // namespace
}  // namespace phx::kernels
