// Prefix caching over the block allocator: every full block of a sequence is identified by a
// hash chain over its tokens (block i's hash covers tokens 0 .. (i+1)*block_size), so equal
// prefixes map to the same blocks, shared copy-free by reference count.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/kv/block_allocator.h"

namespace phx::kv {

// Hash of a block given its parent's hash (0 for the first block) and its tokens.
uint64_t BlockHash(uint64_t parent, std::span<const int32_t> tokens);

struct PrefixMatch {
  int32_t blocks = 0;            // leading full blocks found in the cache
  int32_t revive_blocks = 0;     // of those, currently unreferenced (cached, evictable)
  std::vector<uint64_t> hashes;  // hash chain of the matched blocks
};

// Looks up the longest cached prefix of `tokens`, at most `max_blocks` blocks, without taking
// references.
PrefixMatch MatchPrefix(const BlockAllocator& alloc, std::span<const int32_t> tokens,
                        int32_t max_blocks);

// Takes a reference on each matched block and returns their ids (in order).
std::vector<BlockId> AcquirePrefix(BlockAllocator& alloc, const PrefixMatch& m);

}  // namespace phx::kv
