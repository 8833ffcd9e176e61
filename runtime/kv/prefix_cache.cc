#include "runtime/kv/prefix_cache.h"

namespace phx::kv {
namespace {

uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t BlockHash(uint64_t parent, std::span<const int32_t> tokens) {
  uint64_t h = Mix(parent + 0x9E3779B97F4A7C15ull);
  for (int32_t t : tokens)
    h = Mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(t)) + 0x632BE59BD9B4E019ull));
  // Never 0, so 0 can mean "no parent".
  return h == 0 ? 1 : h;
}

PrefixMatch MatchPrefix(const BlockAllocator& alloc, std::span<const int32_t> tokens,
                        int32_t max_blocks) {
  PrefixMatch m;
  const int32_t bs = alloc.block_size();
  uint64_t parent = 0;
  for (int32_t b = 0; b < max_blocks && (b + 1) * bs <= static_cast<int32_t>(tokens.size()); ++b) {
    const uint64_t h = BlockHash(parent, tokens.subspan(static_cast<size_t>(b) * bs, bs));
    const auto id = alloc.Peek(h);
    if (!id) break;
    if (alloc.ref_count(*id) == 0) ++m.revive_blocks;
    m.hashes.push_back(h);
    ++m.blocks;
    parent = h;
  }
  return m;
}

std::vector<BlockId> AcquirePrefix(BlockAllocator& alloc, const PrefixMatch& m) {
  std::vector<BlockId> ids;
  ids.reserve(m.hashes.size());
  for (uint64_t h : m.hashes) ids.push_back(*alloc.Lookup(h));
  return ids;
}

}  // namespace phx::kv
