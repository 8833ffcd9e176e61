// Ref-counted allocator of fixed-size KV-cache blocks. Pure host bookkeeping: it owns no device
// memory, only block ids (the cache tensors live in KvCache). Blocks that hold a full, hashed
// prompt prefix stay reusable after their last reference goes away ("cached") until they are
// evicted, least recently released first, to satisfy an allocation.
#pragma once

#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace phx::kv {

using BlockId = int32_t;

class BlockAllocator {
 public:
  BlockAllocator(int32_t num_blocks, int32_t block_size);

  int32_t num_blocks() const { return num_blocks_; }
  int32_t block_size() const { return block_size_; }
  // Blocks never used or evicted (no content worth keeping).
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }
  // Unreferenced blocks that still hold a cached prefix (reclaimable by eviction).
  int32_t num_cached() const { return static_cast<int32_t>(lru_.size()); }
  // Blocks with at least one reference.
  int32_t num_used() const { return num_blocks_ - num_free() - num_cached(); }
  // Blocks an allocation can obtain right now (free + evictable).
  int32_t num_available() const { return num_free() + num_cached(); }

  // Allocates `n` blocks (all or nothing), each with one reference. Prefers free blocks, then
  // evicts cached ones (least recently released first). ResourceExhausted if fewer remain.
  absl::Status Allocate(int32_t n, std::vector<BlockId>* out);
  absl::StatusOr<BlockId> AllocateOne();

  // Adds a reference (sharing a block between sequences).
  void Ref(BlockId b);
  // Drops a reference; at zero the block becomes cached (if hashed) or free.
  void Release(BlockId b);
  void Release(const std::vector<BlockId>& blocks);
  int32_t ref_count(BlockId b) const { return refs_[b]; }

  // ---- Prefix caching ------------------------------------------------------------------
  // Records that referenced block `b` holds the full block whose prefix hash chain ends in
  // `hash`. If another block already holds that hash, nothing changes (returns false).
  bool SetHash(BlockId b, uint64_t hash);
  // Finds a block holding `hash`; on a hit adds a reference (reviving a cached block).
  std::optional<BlockId> Lookup(uint64_t hash);
  // Finds a block holding `hash` without taking a reference.
  std::optional<BlockId> Peek(uint64_t hash) const {
    auto it = by_hash_.find(hash);
    return it == by_hash_.end() ? std::nullopt : std::optional<BlockId>(it->second);
  }
  // Drops every cached (unreferenced) block's hash, returning them to the free list.
  void ClearCache();

 private:
  void Evict(BlockId b);

  int32_t num_blocks_;
  int32_t block_size_;
  std::vector<int32_t> refs_;
  std::vector<BlockId> free_;  // stack of free ids
  std::list<BlockId> lru_;     // cached blocks, front = oldest
  std::vector<std::list<BlockId>::iterator> lru_pos_;
  std::vector<bool> in_lru_;
  std::vector<std::optional<uint64_t>> hash_of_;
  std::unordered_map<uint64_t, BlockId> by_hash_;
};

}  // namespace phx::kv
