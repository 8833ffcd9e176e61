// The paged KV cache: per-layer K and V tensors on the backend's device, a block allocator,
// and the per-sequence block tables that map token positions to cache slots.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "ops/backend.h"
#include "runtime/kv/block_allocator.h"

namespace phx::kv {

struct KvCacheConfig {
  int32_t n_layers = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t num_blocks = 0;
  int32_t block_size = 16;
  DType dtype = DType::kF16;  // f16 (llama.cpp's default) or f32

  // Bytes of K and V for one block across all layers.
  int64_t BytesPerBlock() const;
};

class KvCache {
 public:
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(ops::Backend& backend,
                                                         const KvCacheConfig& cfg);
  const KvCacheConfig& config() const { return cfg_; }
  ops::KvLayer layer(int32_t l) const { return {k_[l].tensor(), v_[l].tensor(), cfg_.block_size}; }
  BlockAllocator& allocator() { return alloc_; }
  const BlockAllocator& allocator() const { return alloc_; }

 private:
  KvCache(const KvCacheConfig& cfg) : cfg_(cfg), alloc_(cfg.num_blocks, cfg.block_size) {}
  KvCacheConfig cfg_;
  BlockAllocator alloc_;
  std::vector<ops::Buffer> k_, v_;
};

// One sequence's blocks. Position p lives in block blocks()[p / block_size].
class BlockTable {
 public:
  explicit BlockTable(int32_t block_size) : block_size_(block_size) {}
  const std::vector<BlockId>& blocks() const { return blocks_; }
  int32_t block_size() const { return block_size_; }
  // Positions the blocks can hold.
  int32_t capacity() const { return static_cast<int32_t>(blocks_.size()) * block_size_; }
  // Extra blocks needed to hold `total_tokens` positions.
  int32_t BlocksNeeded(int32_t total_tokens) const;
  // Grows the table to hold `total_tokens` positions (all or nothing).
  absl::Status Reserve(BlockAllocator& alloc, int32_t total_tokens);
  // Appends an already-referenced block (a prefix-cache hit).
  void AppendShared(BlockId b) { blocks_.push_back(b); }
  int32_t Slot(int32_t pos) const {
    return blocks_[pos / block_size_] * block_size_ + pos % block_size_;
  }
  // Drops every block reference.
  void Release(BlockAllocator& alloc);

 private:
  int32_t block_size_;
  std::vector<BlockId> blocks_;
};

// One sequence's part of a forward step: it holds `n_past` positions already and appends
// `n_new` tokens at positions n_past .. n_past + n_new - 1.
struct StepSeq {
  const BlockTable* table = nullptr;
  int32_t n_past = 0;
  int32_t n_new = 0;
};

// Host-side index arrays for one step, in the order the sequences were given.
struct StepLayout {
  ops::AttentionBatch attention;
  std::vector<int32_t> positions;     // [T]
  std::vector<int32_t> slot_mapping;  // [T]
};

// Requires every table to hold n_past + n_new positions already.
absl::StatusOr<StepLayout> BuildStepLayout(const std::vector<StepSeq>& seqs, int32_t block_size);

}  // namespace phx::kv
