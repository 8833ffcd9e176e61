// Expert products over rows grouped by expert (after ExpertGroupKernel, moe.cu): CTA (e, tile,
// output) runs kGemvWarps columns of expert e's matrix, one warp per column, over the expert's
// routed rows in passes of kExpertRowsPerPass: each lane decodes QuantUnit units of the weight
// row once per pass and multiplies them with every row of the pass (16-byte f32 loads of x,
// L1/L2 hits across the CTA's warps). An expert with no rows returns at once, so its weights are
// never read; the extra CTA column e == n_experts zeroes the rows whose id was out of range.
#include "kernels/moe.h"
#include "kernels/quant_device.cuh"
#include "kernels/weight_gemv.cuh"

namespace phx::kernels {
namespace {

template <DType kW>
__global__ void __launch_bounds__(kGemvWarps * 32) ExpertGemvKernel(const ExpertGemvParams p) {
  using U = QuantUnit<kW>;
  constexpr int kRows = kExpertRowsPerPass;
  const int e = blockIdx.x;
  const ExpertGemvOutput o = p.out[blockIdx.z];
  const int64_t col = static_cast<int64_t>(blockIdx.y) * kGemvWarps + (threadIdx.x >> 5);
  if (col >= o.n) return;  // warp-uniform
  const int lane = threadIdx.x & 31;
  const int* offs = static_cast<const int*>(p.workspace);
  const int* order = offs + p.n_experts + 2;
  const int begin = offs[e], end = offs[e + 1];
  if (e == p.n_experts) {  // rows with an id out of range: zeros, nothing read
    for (int i = begin + lane; i < end; i += 32)
      o.y[static_cast<int64_t>(order[i]) * o.ldy + col] = 0.f;
    return;
  }
  const int64_t w_rows = static_cast<int64_t>(p.n_experts) * o.n;
  const int64_t w_row = static_cast<int64_t>(e) * o.n + col;
  const int64_t units = p.k / U::kVals;
  for (int r0 = begin; r0 < end; r0 += kRows) {
    const int nr = min(kRows, end - r0);
    const float* x[kRows];
    int row[kRows];
#pragma unroll
    for (int j = 0; j < kRows; ++j) {
      row[j] = j < nr ? order[r0 + j] : 0;
      const int xr = p.x_per_slot ? row[j] : row[j] / p.top_k;
      x[j] = p.x + static_cast<int64_t>(xr) * p.ldx;
    }
    float acc[kRows];
#pragma unroll
    for (int j = 0; j < kRows; ++j) acc[j] = 0.f;
#pragma unroll 2
    for (int64_t u = lane; u < units; u += 32) {
      float wv[U::kVals];
      int64_t off[U::kSegs];
      U::Load(o.w, w_rows, p.k, w_row, u, wv, off);
#pragma unroll
      for (int j = 0; j < kRows; ++j) {
        if (j >= nr) break;
        float s = 0.f;
#pragma unroll
        for (int seg = 0; seg < U::kSegs; ++seg) {
          float xf[8];
          LoadX8<float>(x[j] + off[seg], xf);
#pragma unroll
          for (int i = 0; i < 8; ++i) s = fmaf(wv[seg * 8 + i], xf[i], s);
        }
        acc[j] += s;
      }
    }
#pragma unroll
    for (int j = 0; j < kRows; ++j) {
      const float v = WarpSum(acc[j]);
      if (lane == j && j < nr) o.y[static_cast<int64_t>(row[j]) * o.ldy + col] = v;
    }
  }
}

}  // namespace

template <DType kW>
cudaError_t RunExpertGemv(const ExpertGemvParams& p, cudaStream_t stream) {
  int32_t max_n = 0;
  for (int i = 0; i < p.num_outputs; ++i) max_n = max(max_n, p.out[i].n);
  const dim3 grid(p.n_experts + 1, (max_n + kGemvWarps - 1) / kGemvWarps, p.num_outputs);
  ExpertGemvKernel<kW><<<grid, kGemvWarps * 32, 0, stream>>>(p);
  return LaunchStatus();
}

template cudaError_t RunExpertGemv<DType::kF16>(const ExpertGemvParams&, cudaStream_t);
template cudaError_t RunExpertGemv<DType::kBF16>(const ExpertGemvParams&, cudaStream_t);
template cudaError_t RunExpertGemv<DType::kQ8_0>(const ExpertGemvParams&, cudaStream_t);
template cudaError_t RunExpertGemv<DType::kQ4_K>(const ExpertGemvParams&, cudaStream_t);
template cudaError_t RunExpertGemv<DType::kQ6_K>(const ExpertGemvParams&, cudaStream_t);

}  // namespace phx::kernels
