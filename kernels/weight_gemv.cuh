// Weight-streaming GEMV for decode and the dequantize kernel (included by weight_gemv_*.cu and
// dequantize.cu). y[m, n] = x[m, k] . w[n, k]^T with w in its device layout
// (kernels/quant_layout.h), f32 accumulation.
//
// GEMV: one warp per output column n, 8 warps per CTA, up to kGemvRowsPerPass activation rows per
// CTA (blockIdx.y selects the pass). The columns of the extra products (q/k/v, gate/up) follow
// those of the first; each warp finds its product (warp-uniform). f32 activations are read as
// two 16-byte vectors per 8 values. Each lane decodes QuantUnit<kW> units of the weight row
// (16-byte loads, lanes of a warp on consecutive units, so a warp streams contiguous bytes) and
// multiplies them with the matching 16-byte vectors of every activation row (L1/L2 hits: all
// warps of the CTA read the same rows). A warp reduction ends each column.
// Dequantize: one thread per unit, written as 16-byte vectors.
#pragma once

#include <algorithm>
#include <type_traits>

#include "kernels/device_types.cuh"
#include "kernels/gemm.h"
#include "kernels/quant_device.cuh"

namespace phx::kernels {

inline constexpr int kGemvWarps = 8;

// 8 consecutive activations as floats: one 16-byte vector of A, or two of f32.
template <typename A>
__device__ __forceinline__ void LoadX8(const A* src, float (&out)[8]) {
  if constexpr (std::is_same_v<A, float>) {
    const float4 a = __ldg(reinterpret_cast<const float4*>(src));
    const float4 b = __ldg(reinterpret_cast<const float4*>(src) + 1);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
    out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  } else {
    Unpack8<A>(__ldg(reinterpret_cast<const uint4*>(src)), out);
  }
}

// Output columns of the launch: the first product's and every extra one's.
inline int64_t GemvColumns(const WeightGemvParams& p) {
  int64_t n = p.n;
  for (int e = 0; e < p.num_extra; ++e) n += p.extra[e].n;
  return n;
}

template <DType kW, typename A, typename Y>
__global__ void __launch_bounds__(kGemvWarps * 32) WeightGemvKernel(const WeightGemvParams p) {
  using U = QuantUnit<kW>;
  constexpr int kRows = kGemvRowsPerPass;
  const int lane = threadIdx.x & 31;
  int64_t col = static_cast<int64_t>(blockIdx.x) * kGemvWarps + (threadIdx.x >> 5);
  const void* w = p.w;
  void* yv = p.y;
  int64_t ldy = p.ldy, n = p.n;
  const float* bias = p.bias;
#pragma unroll
  for (int e = 0; e < kMaxGemvExtra; ++e) {
    if (col >= n && e < p.num_extra) {
      col -= n;
      w = p.extra[e].w, yv = p.extra[e].y, ldy = p.extra[e].ldy, n = p.extra[e].n;
      bias = p.extra[e].bias;
    }
  }
  if (col >= n) return;  // warp-uniform
  const int row0 = blockIdx.y * kRows;
  const int rows = min(kRows, p.m - row0);
  const A* x = static_cast<const A*>(p.x) + static_cast<int64_t>(row0) * p.ldx;
  float acc[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) acc[r] = 0.f;

  const int64_t units = p.k / U::kVals;
#pragma unroll 2
  for (int64_t u = lane; u < units; u += 32) {
    float wv[U::kVals];
    int64_t off[U::kSegs];
    U::Load(w, n, p.k, col, u, wv, off);
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      if (r >= rows) break;
      float s = 0.f;
#pragma unroll
      for (int seg = 0; seg < U::kSegs; ++seg) {
        float xf[8];
        LoadX8<A>(x + r * p.ldx + off[seg], xf);
#pragma unroll
        for (int i = 0; i < 8; ++i) s = fmaf(wv[seg * 8 + i], xf[i], s);
      }
      acc[r] += s;
    }
  }

  Y* y = static_cast<Y*>(yv) + static_cast<int64_t>(row0) * ldy + col;
  float b = 0.f;
  if constexpr (std::is_same_v<Y, float>) {
    if (bias != nullptr) b = bias[col];
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const float v = WarpSum(acc[r]) + b;
    if (lane == r && r < rows) y[r * ldy] = FromF32<Y>(v);
  }
}

template <DType kA>
struct ActType {
  using type = typename DevType<kA>::type;
};
template <>
struct ActType<DType::kF32> {
  using type = float;
};

template <DType kW, DType kA, DType kY>
cudaError_t RunWeightGemv(const WeightGemvParams& p, cudaStream_t stream) {
  using A = typename ActType<kA>::type;
  using Y = std::conditional_t<kY == DType::kF32, float, A>;
  const dim3 grid(static_cast<unsigned>((GemvColumns(p) + kGemvWarps - 1) / kGemvWarps),
                  (p.m + kGemvRowsPerPass - 1) / kGemvRowsPerPass);
  WeightGemvKernel<kW, A, Y><<<grid, kGemvWarps * 32, 0, stream>>>(p);
  return LaunchStatus();
}

template <DType kW, typename O>
__global__ void __launch_bounds__(256) DequantizeKernel(const DequantizeParams p) {
  using U = QuantUnit<kW>;
  const int64_t units_per_row = p.cols / U::kVals;
  const int64_t total = p.rows * units_per_row;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = i / units_per_row, u = i % units_per_row;
    float v[U::kVals];
    int64_t off[U::kSegs];
    U::Load(p.w, p.rows, p.cols, row, u, v, off);
    O* out = static_cast<O*>(p.out) + row * p.cols;
#pragma unroll
    for (int seg = 0; seg < U::kSegs; ++seg) {
      float part[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) part[j] = v[seg * 8 + j];
      *reinterpret_cast<uint4*>(out + off[seg]) = Pack8<O>(part);
    }
  }
}

template <DType kW, DType kOut>
cudaError_t RunDequantize(const DequantizeParams& p, cudaStream_t stream) {
  using O = typename DevType<kOut>::type;
  const int64_t units = p.rows * (p.cols / QuantUnit<kW>::kVals);
  const int64_t blocks = std::min<int64_t>((units + 255) / 256, 65535 * 8);
  DequantizeKernel<kW, O><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
