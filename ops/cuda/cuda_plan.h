// The CUDA backend's attention plan (internal to ops/cuda): the device copy of one step's index
// arrays and work items, as byte offsets into `buffer`, and the decode workspace.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ops/backend.h"

namespace phx::ops::cuda {

class CudaAttentionPlan final : public AttentionPlan {
 public:
  uint64_t generation = 0;
  bool decode = false;
  int32_t n_heads = 0, n_kv_heads = 0, head_dim = 0;
  int32_t num_rows = 0;                                        // query rows of the step
  int32_t max_page = -1;                                       // largest page index referenced
  const void* buffer = nullptr;                                // device: arrays and items
  size_t kv_indptr = 0, kv_indices = 0, items = 0, merge = 0;  // byte offsets in buffer
  int32_t num_items = 0, num_merge = 0, num_partials = 0;
  void* workspace = nullptr;  // device: decode partials
  size_t lse_offset = 0;      // of partial_lse in the workspace
};

inline size_t Align16(size_t n) { return (n + 15) / 16 * 16; }

// Appends `bytes` at a 16-byte-aligned offset of `out`; returns the offset.
inline size_t AppendAligned(std::vector<uint8_t>& out, const void* data, size_t bytes) {
  const size_t off = Align16(out.size());
  out.resize(off + bytes);
  if (bytes > 0) std::memcpy(out.data() + off, data, bytes);
  return off;
}

}  // namespace phx::ops::cuda
