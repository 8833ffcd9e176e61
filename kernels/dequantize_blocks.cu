// GGUF blocks of the types without a weight GEMV -> f16/bf16, once at load (kernels/gemm.h
// LaunchDequantizeBlocks). One thread per 32 elements (a 32-element block, or a 32-element
// group of a 256-element K block); bytes are read one at a time because the blocks (17 to 136
// bytes) are not 16-byte aligned, and each thread writes its 32 values as four 16-byte vectors.
//
// Every value is computed as base/dequantize.cc computes it: the same integer fields, the same
// f32 operations in the same order, each rounded to nearest (__fmul_rn / __fadd_rn, so nvcc
// cannot contract them into a different rounding). Then one rounding to the output type, as the
// host's F32ToF16 / F32ToBF16 do. So the output is bit-exact with the CPU reference.
#include <algorithm>
#include <cstdint>

#include "kernels/device_types.cuh"
#include "kernels/dispatch.h"
#include "kernels/error.h"
#include "kernels/gemm.h"

namespace phx::kernels {
namespace {

// base/dtype.h kIQ4NLValues and kFP4Values (the doubled E2M1 values).
__constant__ int8_t kIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};
__constant__ int8_t kFP4[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

__device__ __forceinline__ float F16At(const uint8_t* p) {
  const unsigned short bits = static_cast<unsigned short>(p[0] | (p[1] << 8));
  return __half2float(__ushort_as_half(bits));
}

// Q4_0-style nibble: element j < 16 is the low nibble of byte j, j + 16 the high one.
__device__ __forceinline__ int Nibble(const uint8_t* qs, int j) {
  return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4;
}

// 2^(e - 128) exactly (base/dtype.h E8M0ToFloatHalf).
__device__ __forceinline__ float E8M0Half(uint32_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : (e - 1) << 23;
  return __uint_as_float(bits);
}

__device__ __forceinline__ uint32_t U32At(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Block bytes, and the 32 values of group g (one 32-element block; a 32-element slice of a
// 256-element block for the K types).
template <DType kT>
struct Blocks;

template <>
struct Blocks<DType::kQ4_0> {  // d, qs[16]
  static constexpr int kBytes = 18, kGroups = 1;
  __device__ static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b);
    for (int j = 0; j < 32; ++j) y[j] = __fmul_rn(static_cast<float>(Nibble(b + 2, j) - 8), d);
  }
};
template <>
struct Blocks<DType::kQ4_1> {  // d, m, qs[16]
  static constexpr int kBytes = 20, kGroups = 1;
  __device__ static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b), m = F16At(b + 2);
    for (int j = 0; j < 32; ++j) {
      y[j] = __fadd_rn(__fmul_rn(static_cast<float>(Nibble(b + 4, j)), d), m);
    }
  }
};
template <>
struct Blocks<DType::kQ5_0> {  // d, qh[4], qs[16]
  static constexpr int kBytes = 22, kGroups = 1;
  __device__ static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b);
    const uint32_t qh = U32At(b + 2);
    for (int j = 0; j < 32; ++j) {
      const int q = Nibble(b + 6, j) | static_cast<int>(((qh >> j) & 1) << 4);
      y[j] = __fmul_rn(static_cast<float>(q - 16), d);
    }
  }
};
template <>
struct Blocks<DType::kQ5_1> {  // d, m, qh[4], qs[16]
  static constexpr int kBytes = 24, kGroups = 1;
  __device__ static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b), m = F16At(b + 2);
    const uint32_t qh = U32At(b + 4);
    for (int j = 0; j < 32; ++j) {
      const int q = Nibble(b + 8, j) | static_cast<int>(((qh >> j) & 1) << 4);
      y[j] = __fadd_rn(__fmul_rn(static_cast<float>(q), d), m);
    }
  }
};
template <>
struct Blocks<DType::kIQ4_NL> {  // d, qs[16]
  static constexpr int kBytes = 18, kGroups = 1;
  __device__ static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b);
    for (int j = 0; j < 32; ++j) y[j] = __fmul_rn(d, static_cast<float>(kIQ4NL[Nibble(b + 2, j)]));
  }
};
template <>
struct Blocks<DType::kMXFP4> {  // e, qs[16]
  static constexpr int kBytes = 17, kGroups = 1;
  __device__ static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = E8M0Half(b[0]);
    for (int j = 0; j < 32; ++j) y[j] = __fmul_rn(static_cast<float>(kFP4[Nibble(b + 1, j)]), d);
  }
};
template <>
struct Blocks<DType::kQ2_K> {  // scales[16], qs[64], d, dmin
  static constexpr int kBytes = 84, kGroups = 8;
  __device__ static void Decode(const uint8_t* b, int g, float (&y)[32]) {
    const float d = F16At(b + 80), dmin = F16At(b + 82);
    const int c = g / 4, s = g % 4;  // elements 32g + l: 128-chunk c, 2-bit plane s
    for (int l = 0; l < 32; ++l) {
      const int q = (b[16 + 32 * c + l] >> (2 * s)) & 3;
      const uint8_t sc = b[(32 * g + l) / 16];
      const float dl = __fmul_rn(d, static_cast<float>(sc & 0xF));
      const float ml = __fmul_rn(dmin, static_cast<float>(sc >> 4));
      y[l] = __fsub_rn(__fmul_rn(dl, static_cast<float>(q)), ml);
    }
  }
};
template <>
struct Blocks<DType::kQ3_K> {  // hmask[32], qs[64], scales[12], d
  static constexpr int kBytes = 110, kGroups = 8;
  __device__ static void Decode(const uint8_t* b, int g, float (&y)[32]) {
    const float d = F16At(b + 108);
    const uint8_t* scales = b + 96;
    const int c = g / 4, s = g % 4;
    for (int l = 0; l < 32; ++l) {
      const int lo = (b[32 + 32 * c + l] >> (2 * s)) & 3;
      const bool hi = (b[l] >> (4 * c + s)) & 1;
      const int j = (32 * g + l) / 16;  // base/dtype.h Q3KScale
      const int sl = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
      const int sh = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      const float dl = __fmul_rn(d, static_cast<float>((sl | (sh << 4)) - 32));
      y[l] = __fmul_rn(dl, static_cast<float>(lo - (hi ? 0 : 4)));
    }
  }
};
template <>
struct Blocks<DType::kIQ4_XS> {  // d, scales_h, scales_l[4], qs[128]
  static constexpr int kBytes = 136, kGroups = 8;
  __device__ static void Decode(const uint8_t* b, int g, float (&y)[32]) {
    const float d = F16At(b);
    const int scales_h = b[2] | (b[3] << 8);
    const int lo = (b[4 + g / 2] >> (4 * (g % 2))) & 0xF;  // base/dtype.h IQ4XSScale
    const int hi = (scales_h >> (2 * g)) & 3;
    const float dl = __fmul_rn(d, static_cast<float>((lo | (hi << 4)) - 32));
    const uint8_t* qs = b + 8 + 16 * g;
    for (int j = 0; j < 32; ++j) y[j] = __fmul_rn(dl, static_cast<float>(kIQ4NL[Nibble(qs, j)]));
  }
};

template <DType kT, typename O>
__global__ void __launch_bounds__(256) DequantizeBlocksKernel(const DequantizeBlocksParams p) {
  using B = Blocks<kT>;
  const auto* src = static_cast<const uint8_t*>(p.src);
  const int64_t groups = p.n / 32;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < groups;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float y[32];
    B::Decode(src + (i / B::kGroups) * B::kBytes, static_cast<int>(i % B::kGroups), y);
    uint4* out = reinterpret_cast<uint4*>(static_cast<O*>(p.out) + i * 32);
#pragma unroll
    for (int v = 0; v < 4; ++v) {
      float part[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) part[j] = y[8 * v + j];
      out[v] = Pack8<O>(part);
    }
  }
}

template <DType kT, typename O>
cudaError_t Run(const DequantizeBlocksParams& p, cudaStream_t stream) {
  const int64_t groups = p.n / 32;
  const int64_t blocks = std::min<int64_t>((groups + 255) / 256, 65535 * 8);
  DequantizeBlocksKernel<kT, O><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return LaunchStatus();
}

template <typename O>
cudaError_t RunType(const DequantizeBlocksParams& p, cudaStream_t stream) {
  switch (p.src_dtype) {
    case DType::kQ4_0:
      return Run<DType::kQ4_0, O>(p, stream);
    case DType::kQ4_1:
      return Run<DType::kQ4_1, O>(p, stream);
    case DType::kQ5_0:
      return Run<DType::kQ5_0, O>(p, stream);
    case DType::kQ5_1:
      return Run<DType::kQ5_1, O>(p, stream);
    case DType::kIQ4_NL:
      return Run<DType::kIQ4_NL, O>(p, stream);
    case DType::kMXFP4:
      return Run<DType::kMXFP4, O>(p, stream);
    case DType::kQ2_K:
      return Run<DType::kQ2_K, O>(p, stream);
    case DType::kQ3_K:
      return Run<DType::kQ3_K, O>(p, stream);
    case DType::kIQ4_XS:
      return Run<DType::kIQ4_XS, O>(p, stream);
    default:  // the validator accepted only the types above
      return InvalidArgument("dequantize blocks: %s", KernelTypeName(p.src_dtype));
  }
}

}  // namespace

cudaError_t LaunchDequantizeBlocks(const DequantizeBlocksParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateDequantizeBlocks(p); e != cudaSuccess) return e;
  if (p.n == 0) return cudaSuccess;
  if (p.out_dtype == DType::kBF16) return RunType<__nv_bfloat16>(p, stream);
  return RunType<__half>(p, stream);
}

}  // namespace phx::kernels
