#include "runtime/kv/block_allocator.h"

#include "base/strings.h"

namespace phx::kv {

BlockAllocator::BlockAllocator(int32_t num_blocks, int32_t block_size)
    : num_blocks_(num_blocks),
      block_size_(block_size),
      refs_(num_blocks, 0),
      lru_pos_(num_blocks),
      in_lru_(num_blocks, false),
      hash_of_(num_blocks) {
  free_.reserve(num_blocks);
  for (BlockId b = num_blocks - 1; b >= 0; --b) free_.push_back(b);  // hand out 0, 1, 2, ...
}

absl::Status BlockAllocator::Allocate(int32_t n, std::vector<BlockId>* out) {
  if (n > num_available()) {
    return absl::ResourceExhaustedError(
        StrCat("KV cache: need ", n, " blocks, ", num_available(), " available"));
  }
  for (int32_t i = 0; i < n; ++i) {
    BlockId b;
    if (!free_.empty()) {
      b = free_.back();
      free_.pop_back();
    } else {
      b = lru_.front();
      Evict(b);
      free_.pop_back();  // Evict pushed it onto the free list
    }
    refs_[b] = 1;
    out->push_back(b);
  }
  return absl::OkStatus();
}

absl::StatusOr<BlockId> BlockAllocator::AllocateOne() {
  std::vector<BlockId> one;
  absl::Status s = Allocate(1, &one);
  if (!s.ok()) return s;
  return one[0];
}

void BlockAllocator::Ref(BlockId b) {
  if (refs_[b] == 0 && in_lru_[b]) {
    lru_.erase(lru_pos_[b]);
    in_lru_[b] = false;
  }
  ++refs_[b];
}

void BlockAllocator::Release(BlockId b) {
  if (refs_[b] <= 0) return;  // double release is a caller bug; keep the books consistent
  if (--refs_[b] > 0) return;
  if (hash_of_[b].has_value()) {
    lru_pos_[b] = lru_.insert(lru_.end(), b);
    in_lru_[b] = true;
  } else {
    free_.push_back(b);
  }
}

void BlockAllocator::Release(const std::vector<BlockId>& blocks) {
  for (BlockId b : blocks) Release(b);
}

bool BlockAllocator::SetHash(BlockId b, uint64_t hash) {
  if (hash_of_[b].has_value() || by_hash_.count(hash) != 0) return false;
  hash_of_[b] = hash;
  by_hash_.emplace(hash, b);
  return true;
}

std::optional<BlockId> BlockAllocator::Lookup(uint64_t hash) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  Ref(it->second);
  return it->second;
}

void BlockAllocator::Evict(BlockId b) {
  lru_.erase(lru_pos_[b]);
  in_lru_[b] = false;
  by_hash_.erase(*hash_of_[b]);
  hash_of_[b].reset();
  free_.push_back(b);
}

void BlockAllocator::ClearCache() {
  while (!lru_.empty()) Evict(lru_.front());
}

}  // namespace phx::kv
