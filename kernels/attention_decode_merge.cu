// Merges flash-decoding partial results: for one query row and head, the splits j carry
// o_j = acc_j / sum_j and lse_j = max_j + log2(sum_j) (log2 domain); the result is
// sum_j 2^(lse_j - M) o_j / sum_j 2^(lse_j - M) with M = max_j lse_j. Empty splits carry
// (0, -inf) and add nothing; a row whose splits are all empty (a padding row) gets 0.
#include <cmath>
#include <type_traits>

#include "kernels/attention.h"
#include "kernels/device_types.cuh"

namespace phx::kernels {
namespace {

// grid (num_merge, n_heads), block head_dim threads: one output element per thread.
template <typename IO>
__global__ void DecodeMergeKernel(const PagedDecodeParams p) {
  const DecodeMergeItem item = p.merge[blockIdx.x];
  const int head = blockIdx.y;
  const int d = threadIdx.x;
  const int hd = p.kv.head_dim;
  float mx = -INFINITY;
  for (int j = 0; j < item.num_partials; ++j) {
    mx = fmaxf(mx, p.partial_lse[static_cast<int64_t>(item.partial_begin + j) * p.n_heads + head]);
  }
  float out = 0.f;
  if (mx != -INFINITY) {
    float sum = 0.f, o = 0.f;
    for (int j = 0; j < item.num_partials; ++j) {
      const int64_t pi = static_cast<int64_t>(item.partial_begin + j) * p.n_heads + head;
      const float f = exp2f(p.partial_lse[pi] - mx);
      sum += f;
      o += f * p.partial_out[pi * hd + d];
    }
    out = o / sum;
  }
  IO* orow = static_cast<IO*>(p.out) + static_cast<int64_t>(item.q_row) * p.out_stride;
  orow[static_cast<int64_t>(head) * hd + d] = FromF32<IO>(out);
}

}  // namespace

template <DType kKv, bool kF32Io>
cudaError_t RunDecodeMerge(const PagedDecodeParams& p, cudaStream_t stream) {
  using IO = std::conditional_t<kF32Io, float, typename DevType<kKv>::type>;
  const dim3 grid(p.num_merge, p.n_heads);
  DecodeMergeKernel<IO><<<grid, p.kv.head_dim, 0, stream>>>(p);
  return LaunchStatus();
}

template cudaError_t RunDecodeMerge<DType::kF16, false>(const PagedDecodeParams&, cudaStream_t);
template cudaError_t RunDecodeMerge<DType::kBF16, false>(const PagedDecodeParams&, cudaStream_t);
template cudaError_t RunDecodeMerge<DType::kF16, true>(const PagedDecodeParams&, cudaStream_t);
template cudaError_t RunDecodeMerge<DType::kBF16, true>(const PagedDecodeParams&, cudaStream_t);

}  // namespace phx::kernels
