// Tiled tensor-core GEMM on mma.sync (sm_80+), included by gemm_mma_{f16,bf16}.cu.
// y[m, n] = x[m, k] . w[n, k]^T. CTA tile 128 x 128 x 32, 8 warps as 2 (m) x 4 (n), each warp
// 64 x 32 (4 x 4 m16n8k16 tiles). A 4-stage cp.async pipeline feeds padded shared-memory tiles
// (row = 32 + 8 elements: conflict-free ldmatrix). Rows past m / n and k past the end are
// zero-filled, so any m, n and k % 8 == 0 work.
#pragma once

#include <type_traits>

#include "kernels/device_types.cuh"
#include "kernels/gemm.h"
#include "kernels/mma.cuh"

namespace phx::kernels {

inline constexpr int kMmaBM = 128, kMmaBN = 128, kMmaBK = 32, kMmaStages = 4;
inline constexpr int kMmaStride = kMmaBK + 8;  // elements per shared-memory row
inline constexpr int kMmaSmemBytes = kMmaStages * (kMmaBM + kMmaBN) * kMmaStride * 2;

template <typename T, typename Y>
__global__ void __launch_bounds__(256) MmaGemmKernel(const GemmParams p) {
  extern __shared__ uint4 smem[];
  T* tiles = reinterpret_cast<T*>(smem);
  constexpr int kStageElems = (kMmaBM + kMmaBN) * kMmaStride;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp / 4, wn = warp % 4;
  const int g = lane >> 2, t = lane & 3;
  const int64_t bm = static_cast<int64_t>(blockIdx.y) * kMmaBM;
  const int64_t bn = static_cast<int64_t>(blockIdx.x) * kMmaBN;
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  const int ktiles = (p.k + kMmaBK - 1) / kMmaBK;

  auto load_tile = [&](int stage, int kt) {
    T* sa = tiles + stage * kStageElems;
    const int k0 = kt * kMmaBK;
    for (int c = tid; c < (kMmaBM + kMmaBN) * (kMmaBK / 8); c += 256) {
      const int row = c / (kMmaBK / 8), part = c % (kMmaBK / 8);
      const int gk = k0 + part * 8;
      const T* src;
      bool ok;
      if (row < kMmaBM) {
        ok = bm + row < p.m && gk < p.k;
        src = ok ? x + (bm + row) * p.ldx + gk : x;
      } else {
        ok = bn + row - kMmaBM < p.n && gk < p.k;
        src = ok ? w + (bn + row - kMmaBM) * p.ldw + gk : w;
      }
      CpAsync16(sa + row * kMmaStride + part * 8, src, ok);
    }
  };

  float acc[4][4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;

#pragma unroll
  for (int s = 0; s < kMmaStages - 1; ++s) {
    if (s < ktiles) load_tile(s, s);
    CpAsyncCommit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    CpAsyncWait<kMmaStages - 2>();
    __syncthreads();  // tile kt visible; every warp is done with the stage refilled below
    const int next = kt + kMmaStages - 1;
    if (next < ktiles) load_tile(next % kMmaStages, next);
    CpAsyncCommit();

    const T* sa = tiles + (kt % kMmaStages) * kStageElems;
    const T* sb = sa + kMmaBM * kMmaStride;
#pragma unroll
    for (int ks = 0; ks < kMmaBK / 16; ++ks) {
      uint32_t af[4][4], bf[4][2];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) {
        LdMatrixX4(af[mt],
                   sa + (wm * 64 + mt * 16 + (lane % 16)) * kMmaStride + ks * 16 + (lane / 16) * 8);
      }
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        uint32_t r[4];
        LdMatrixX4(r, sb + (wn * 32 + np * 16 + (lane % 8) + (lane / 16) * 8) * kMmaStride +
                          ks * 16 + ((lane / 8) % 2) * 8);
        bf[2 * np][0] = r[0];
        bf[2 * np][1] = r[1];
        bf[2 * np + 1][0] = r[2];
        bf[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) Mma16816<T>(acc[mt][nt], af[mt], bf[nt][0], bf[nt][1]);
    }
  }
  CpAsyncWait<0>();

  Y* y = static_cast<Y*>(p.y);
#pragma unroll
  for (int mt = 0; mt < 4; ++mt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int64_t row = bm + wm * 64 + mt * 16 + g + half * 8;
      if (row >= p.m) continue;
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int64_t col = bn + wn * 32 + nt * 8 + 2 * t;
        if (col < p.n) y[row * p.ldy + col] = FromF32<Y>(acc[mt][nt][2 * half]);
        if (col + 1 < p.n) y[row * p.ldy + col + 1] = FromF32<Y>(acc[mt][nt][2 * half + 1]);
      }
    }
  }
}

template <DType kT, DType kY>
cudaError_t RunMmaGemm(const GemmParams& p, cudaStream_t stream) {
  using T = typename DevType<kT>::type;
  using Y = std::conditional_t<kY == DType::kF32, float, T>;
  if (cudaError_t e = cudaFuncSetAttribute(
          MmaGemmKernel<T, Y>, cudaFuncAttributeMaxDynamicSharedMemorySize, kMmaSmemBytes);
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid((p.n + kMmaBN - 1) / kMmaBN, (p.m + kMmaBM - 1) / kMmaBM);
  MmaGemmKernel<T, Y><<<grid, 256, kMmaSmemBytes, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
