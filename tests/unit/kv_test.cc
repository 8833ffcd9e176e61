#include <gtest/gtest.h>

#include <random>
#include <set>

#include "runtime/kv/prefix_cache.h"
#include "runtime/kv/block_allocator.h"
#include "runtime/kv/kv_cache.h"

namespace phx::kv {
namespace {

TEST(BlockAllocator, AllocateReleaseCounts) {
  BlockAllocator a(8, 16);
  EXPECT_EQ(a.num_free(), 8);
  std::vector<BlockId> got;
  ASSERT_TRUE(a.Allocate(5, &got).ok());
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(std::set<BlockId>(got.begin(), got.end()).size(), 5u);
  EXPECT_EQ(a.num_used(), 5);
  EXPECT_EQ(a.num_free(), 3);
  // All or nothing.
  std::vector<BlockId> more;
  absl::Status s = a.Allocate(4, &more);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(more.empty());
  EXPECT_EQ(a.num_free(), 3);
  a.Ref(got[0]);
  a.Release(got[0]);
  EXPECT_EQ(a.ref_count(got[0]), 1);
  a.Release(got);
  EXPECT_EQ(a.num_free(), 8);
  EXPECT_EQ(a.num_used(), 0);
}

TEST(BlockAllocator, CachedBlocksAreEvictedLruAndRevived) {
  BlockAllocator a(3, 4);
  std::vector<BlockId> b;
  ASSERT_TRUE(a.Allocate(3, &b).ok());
  EXPECT_TRUE(a.SetHash(b[0], 100));
  EXPECT_TRUE(a.SetHash(b[1], 200));
  EXPECT_FALSE(a.SetHash(b[2], 100));  // hash already held by another block
  a.Release(b[1]);                     // cached first (older)
  a.Release(b[0]);                     // cached second
  a.Release(b[2]);                     // no hash: free
  EXPECT_EQ(a.num_free(), 1);
  EXPECT_EQ(a.num_cached(), 2);
  EXPECT_EQ(a.num_available(), 3);
  // A hit revives a cached block.
  auto hit = a.Lookup(100);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(*hit, b[0]);
  EXPECT_EQ(a.ref_count(b[0]), 1);
  EXPECT_EQ(a.num_cached(), 1);
  // Allocating 2 takes the free block, then evicts the LRU cached one (hash 200).
  std::vector<BlockId> c;
  ASSERT_TRUE(a.Allocate(2, &c).ok());
  EXPECT_FALSE(a.Peek(200).has_value());
  EXPECT_TRUE(a.Peek(100).has_value());
  EXPECT_EQ(a.num_available(), 0);
}

TEST(BlockTable, SlotsAndLayout) {
  BlockAllocator a(16, 4);
  BlockTable t1(4), t2(4);
  ASSERT_TRUE(t1.Reserve(a, 6).ok());  // 2 blocks
  ASSERT_TRUE(t2.Reserve(a, 1).ok());  // 1 block
  EXPECT_EQ(t1.blocks().size(), 2u);
  EXPECT_EQ(t1.Slot(5), t1.blocks()[1] * 4 + 1);
  auto layout = BuildStepLayout({{&t1, 0, 6}, {&t2, 0, 1}}, 4);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->attention.q_indptr, (std::vector<int32_t>{0, 6, 7}));
  EXPECT_EQ(layout->attention.kv_indptr, (std::vector<int32_t>{0, 2, 3}));
  EXPECT_EQ(layout->attention.kv_last_page_len, (std::vector<int32_t>{2, 1}));
  EXPECT_EQ(layout->positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0}));
  EXPECT_EQ(layout->slot_mapping[6], t2.blocks()[0] * 4);
  EXPECT_TRUE(layout->attention.Validate(16).ok());
  // Decode step: one new token at position 6 lands in a new page when needed.
  ASSERT_TRUE(t1.Reserve(a, 9).ok());
  auto d = BuildStepLayout({{&t1, 8, 1}}, 4);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->attention.kv_last_page_len[0], 1);
  EXPECT_EQ(d->attention.kv_indices.size(), 3u);
  // A table too small is an error, not a crash.
  EXPECT_FALSE(BuildStepLayout({{&t2, 3, 4}}, 4).ok());
  t1.Release(a);
  t2.Release(a);
  EXPECT_EQ(a.num_free(), 16);
}

TEST(AttentionBatch, ValidateRejectsInconsistentLayouts) {
  ops::AttentionBatch b;
  b.block_size = 4;
  b.q_indptr = {0, 2};
  b.kv_indptr = {0, 1};
  b.kv_indices = {3};
  b.kv_last_page_len = {2};
  EXPECT_TRUE(b.Validate(4).ok());
  EXPECT_FALSE(b.Validate(3).ok());  // block id out of range
  b.kv_last_page_len = {5};
  EXPECT_FALSE(b.Validate(4).ok());
  b.kv_last_page_len = {1};
  EXPECT_FALSE(b.Validate(4).ok());  // 2 queries but 1 cached token
}

TEST(PrefixCache, HashChainMatchesSharedPrefixOnly) {
  BlockAllocator a(8, 4);
  const std::vector<int32_t> p1 = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<BlockId> blocks;
  ASSERT_TRUE(a.Allocate(3, &blocks).ok());
  uint64_t h = 0;
  for (int i = 0; i < 2; ++i) {
    h = BlockHash(h, std::span<const int32_t>(p1).subspan(i * 4, 4));
    ASSERT_TRUE(a.SetHash(blocks[i], h));
  }
  std::vector<int32_t> p2 = {1, 2, 3, 4, 5, 6, 7, 8, 42, 43};
  auto m = MatchPrefix(a, p2, 10);
  EXPECT_EQ(m.blocks, 2);
  EXPECT_EQ(m.revive_blocks, 0);  // still referenced by the first sequence
  p2[5] = 99;                     // differs in block 1: only block 0 matches
  EXPECT_EQ(MatchPrefix(a, p2, 10).blocks, 1);
  p2[0] = 99;  // same tokens later cannot match without the same parent chain
  EXPECT_EQ(MatchPrefix(a, p2, 10).blocks, 0);
  // Release: blocks become cached; a match now revives them.
  a.Release(blocks);
  auto m2 = MatchPrefix(a, p1, 2);
  EXPECT_EQ(m2.blocks, 2);
  EXPECT_EQ(m2.revive_blocks, 2);
  auto ids = AcquirePrefix(a, m2);
  EXPECT_EQ(ids, (std::vector<BlockId>{blocks[0], blocks[1]}));
  EXPECT_EQ(a.num_used(), 2);
}

}  // namespace
}  // namespace phx::kv
