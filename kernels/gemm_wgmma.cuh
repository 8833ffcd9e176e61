// Hopper GEMM on wgmma (sm_90a), included by gemm_wgmma_sm90_{f16,bf16}.cu. Compiled for every
// target architecture, but the device code exists only in the sm_90a pass
// (__CUDA_ARCH_FEAT_SM90_ALL); other passes get a trapping stub and the host launcher refuses
// devices other than compute capability 9.x.
//
// y[m, n] = x[m, k] . w[n, k]^T. CTA tile 128 x 128 x 64, two consumer warpgroups (64 rows
// each, wgmma.m64n128k16, both operands K-major in shared memory). Tiles are copied with
// cp.async into the 128-byte swizzled layout wgmma reads (16-byte chunk c of row r stored at
// chunk c ^ (r % 8); 1024-byte aligned 8-row atoms), 4 stages deep. Out-of-range rows and k are
// zero-filled (k % 8 == 0).
#pragma once

#include <type_traits>

#include "kernels/device_types.cuh"
#include "kernels/gemm.h"
#include "kernels/mma.cuh"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define PHX_WGMMA_ENABLED 1
#endif

namespace phx::kernels {

inline constexpr int kWgBM = 128, kWgBN = 128, kWgBK = 64, kWgStages = 4;
inline constexpr int kWgTileBytes = 128 * kWgBK * 2;  // one 128-row operand tile (16 KB)
inline constexpr int kWgSmemBytes = kWgStages * 2 * kWgTileBytes + 1024;  // + alignment slack

#ifdef PHX_WGMMA_ENABLED
// Shared-memory matrix descriptor: K-major operand, 128-byte swizzle, 8-row groups 1024 bytes
// apart (stride byte offset), leading byte offset unused for swizzled K-major layouts (1).
__device__ __forceinline__ uint64_t WgmmaDesc(uint32_t smem_addr) {
  return static_cast<uint64_t>((smem_addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(1) << 16) |
         (static_cast<uint64_t>(1024 >> 4) << 32) | (static_cast<uint64_t>(1) << 62);
}
__device__ __forceinline__ void WgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void WgmmaWaitAll() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
__device__ __forceinline__ void FenceProxyAsync() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

#define PHX_WGMMA_M64N128K16(TYPES)                                                                \
  asm volatile(                                                                                    \
      "{\n"                                                                                        \
      "wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPES                                         \
      " "                                                                                          \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                    \
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "           \
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "           \
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "          \
      "%64, %65, 1, 1, 1, 0, 0;\n"                                                                 \
      "}\n"                                                                                        \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),        \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),    \
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), \
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), \
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), \
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), \
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), \
        "+f"(d[63])                                                                                \
      : "l"(desc_a), "l"(desc_b))

// d (64 f32 per thread) += A (64 x 16, K-major) * B (16 x 128, K-major), scale-d = 1.
template <typename T>
__device__ __forceinline__ void WgmmaM64N128K16(float (&d)[64], uint64_t desc_a, uint64_t desc_b) {
  if constexpr (std::is_same_v<T, __half>) {
    PHX_WGMMA_M64N128K16("f16.f16");
  } else {
    PHX_WGMMA_M64N128K16("bf16.bf16");
  }
}
#undef PHX_WGMMA_M64N128K16
#endif  // PHX_WGMMA_ENABLED

template <typename T, typename Y>
__global__ void __launch_bounds__(256, 1) WgmmaGemmKernel(const GemmParams p) {
#ifdef PHX_WGMMA_ENABLED
  extern __shared__ uint8_t smem_raw[];
  const uint32_t raw_addr = SmemAddr(smem_raw);
  uint8_t* smem = smem_raw + ((1024 - (raw_addr & 1023)) & 1023);  // 1024-byte aligned
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wg = warp / 4;  // warpgroup: rows wg*64 .. wg*64+63 of the tile
  const int64_t bm = static_cast<int64_t>(blockIdx.y) * kWgBM;
  const int64_t bn = static_cast<int64_t>(blockIdx.x) * kWgBN;
  const T* x = static_cast<const T*>(p.x);
  const T* w = static_cast<const T*>(p.w);
  const int ktiles = (p.k + kWgBK - 1) / kWgBK;

  // Stage s: A tile at smem + s * 2 * kWgTileBytes, B tile kWgTileBytes after it.
  auto load_tile = [&](int stage, int kt) {
    uint8_t* base = smem + stage * 2 * kWgTileBytes;
    const int k0 = kt * kWgBK;
    for (int c = tid; c < 2 * 128 * 8; c += 256) {
      const int is_b = c >= 128 * 8;
      const int row = (c % (128 * 8)) / 8, chunk = c % 8;
      const int gk = k0 + chunk * 8;
      const T* src;
      bool ok;
      if (!is_b) {
        ok = bm + row < p.m && gk < p.k;
        src = ok ? x + (bm + row) * p.ldx + gk : x;
      } else {
        ok = bn + row < p.n && gk < p.k;
        src = ok ? w + (bn + row) * p.ldw + gk : w;
      }
      uint8_t* dst = base + is_b * kWgTileBytes + row * 128 + ((chunk ^ (row & 7)) << 4);
      CpAsync16(dst, src, ok);
    }
  };

  float d[64];
#pragma unroll
  for (int i = 0; i < 64; ++i) d[i] = 0.f;

#pragma unroll
  for (int s = 0; s < kWgStages - 1; ++s) {
    if (s < ktiles) load_tile(s, s);
    CpAsyncCommit();
  }
  for (int kt = 0; kt < ktiles; ++kt) {
    CpAsyncWait<kWgStages - 2>();
    FenceProxyAsync();  // this thread's cp.async writes -> visible to the tensor cores' proxy
    __syncthreads();    // tile kt complete; both warpgroups finished the stage refilled below
    const int next = kt + kWgStages - 1;
    if (next < ktiles) load_tile(next % kWgStages, next);
    CpAsyncCommit();

    const uint32_t a_addr = SmemAddr(smem + (kt % kWgStages) * 2 * kWgTileBytes) + wg * 64 * 128;
    const uint32_t b_addr = SmemAddr(smem + (kt % kWgStages) * 2 * kWgTileBytes + kWgTileBytes);
    WgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kWgBK / 16; ++kk) {
      WgmmaM64N128K16<T>(d, WgmmaDesc(a_addr + kk * 32), WgmmaDesc(b_addr + kk * 32));
    }
    WgmmaCommit();
    WgmmaWaitAll();
  }
  CpAsyncWait<0>();

  // Accumulator layout: warp (warp % 4) of the warpgroup holds rows 16 * (warp % 4) + g and
  // + 8; d[4j + e] is column 8j + 2t + (e & 1), row + 8 for e >= 2.
  const int g = lane >> 2, t = lane & 3;
  Y* y = static_cast<Y*>(p.y);
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int64_t row = bm + wg * 64 + (warp % 4) * 16 + g + half * 8;
    if (row >= p.m) continue;
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int64_t col = bn + j * 8 + 2 * t;
      if (col < p.n) y[row * p.ldy + col] = FromF32<Y>(d[4 * j + 2 * half]);
      if (col + 1 < p.n) y[row * p.ldy + col + 1] = FromF32<Y>(d[4 * j + 2 * half + 1]);
    }
  }
#elif defined(__CUDA_ARCH__)
  __trap();  // not an sm_90a pass: the host launcher never launches this
#endif
}

template <DType kT, DType kY>
cudaError_t RunWgmmaGemm(const GemmParams& p, cudaStream_t stream) {
  using T = typename DevType<kT>::type;
  using Y = std::conditional_t<kY == DType::kF32, float, T>;
  if (cudaError_t e = cudaFuncSetAttribute(
          WgmmaGemmKernel<T, Y>, cudaFuncAttributeMaxDynamicSharedMemorySize, kWgSmemBytes);
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid((p.n + kWgBN - 1) / kWgBN, (p.m + kWgBM - 1) / kWgBM);
  WgmmaGemmKernel<T, Y><<<grid, 256, kWgSmemBytes, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
