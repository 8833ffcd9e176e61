// Decoders of the GGUF blocks of the types dequantized to f16 at load (q4_0 q4_1 q5_0 q5_1 q2_K
// q3_K iq4_nl iq4_xs mxfp4), for kernels/dequantize_blocks.cu and, compiled as host code, for
// tests/unit (which checks them against base's DequantizeRow without a GPU).
//
// Blocks<T>::Decode(block, g, y) writes the 32 values of group g of a block (the whole block for
// the 32-element types; elements 32g..32g+31 of a 256-element K block), each computed as
// base/dequantize.cc computes it: the same integer fields, the same f32 operations in the same
// order, each rounded to nearest (on the device __fmul_rn / __fadd_rn / __fsub_rn, which nvcc
// cannot contract), so the values are bit-exact with the CPU reference. Bytes are read one at a
// time (the blocks, 17 to 136 bytes, are not aligned).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>

#include "base/dtype.h"

#define PHX_HD __host__ __device__ __forceinline__

namespace phx::kernels::dequant_blocks {

// base/dtype.h kIQ4NLValues and kFP4Values (the doubled E2M1 values); local tables, so the
// same code runs on the host (the decoders run once per weight at load: speed is no concern).
PHX_HD float IQ4NL(int i) {
  constexpr int8_t k[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                            1,    13,   25,  38,  53,  69,  89,  113};
  return static_cast<float>(k[i]);
}
PHX_HD float FP4(int i) {
  constexpr int8_t k[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
  return static_cast<float>(k[i]);
}

// f32 products and sums rounded to nearest one at a time (no contraction on the device).
PHX_HD float MulRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
PHX_HD float AddRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
PHX_HD float SubRn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

PHX_HD float F16At(const uint8_t* p) {
  const uint16_t bits = static_cast<uint16_t>(p[0] | (p[1] << 8));
#ifdef __CUDA_ARCH__
  return __half2float(__ushort_as_half(bits));
#else
  return F16ToF32(bits);
#endif
}

// Q4_0-style nibble: element j < 16 is the low nibble of byte j, j + 16 the high one.
PHX_HD int Nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }

// 2^(e - 128) exactly (base/dtype.h E8M0ToFloatHalf).
PHX_HD float E8M0Half(uint32_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : (e - 1) << 23;
#ifdef __CUDA_ARCH__
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
#endif
}

PHX_HD uint32_t U32At(const uint8_t* p) {
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Block bytes, and the 32 values of group g (one 32-element block; a 32-element slice of a
// 256-element block for the K types).
template <DType kT>
struct Blocks;

template <>
struct Blocks<DType::kQ4_0> {  // d, qs[16]
  static constexpr int kBytes = 18, kGroups = 1;
  PHX_HD static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b);
    for (int j = 0; j < 32; ++j) y[j] = MulRn(static_cast<float>(Nibble(b + 2, j) - 8), d);
  }
};
template <>
struct Blocks<DType::kQ4_1> {  // d, m, qs[16]
  static constexpr int kBytes = 20, kGroups = 1;
  PHX_HD static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b), m = F16At(b + 2);
    for (int j = 0; j < 32; ++j) {
      y[j] = AddRn(MulRn(static_cast<float>(Nibble(b + 4, j)), d), m);
    }
  }
};
template <>
struct Blocks<DType::kQ5_0> {  // d, qh[4], qs[16]
  static constexpr int kBytes = 22, kGroups = 1;
  PHX_HD static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b);
    const uint32_t qh = U32At(b + 2);
    for (int j = 0; j < 32; ++j) {
      const int q = Nibble(b + 6, j) | static_cast<int>(((qh >> j) & 1) << 4);
      y[j] = MulRn(static_cast<float>(q - 16), d);
    }
  }
};
template <>
struct Blocks<DType::kQ5_1> {  // d, m, qh[4], qs[16]
  static constexpr int kBytes = 24, kGroups = 1;
  PHX_HD static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b), m = F16At(b + 2);
    const uint32_t qh = U32At(b + 4);
    for (int j = 0; j < 32; ++j) {
      const int q = Nibble(b + 8, j) | static_cast<int>(((qh >> j) & 1) << 4);
      y[j] = AddRn(MulRn(static_cast<float>(q), d), m);
    }
  }
};
template <>
struct Blocks<DType::kIQ4_NL> {  // d, qs[16]
  static constexpr int kBytes = 18, kGroups = 1;
  PHX_HD static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = F16At(b);
    for (int j = 0; j < 32; ++j) y[j] = MulRn(d, IQ4NL(Nibble(b + 2, j)));
  }
};
template <>
struct Blocks<DType::kMXFP4> {  // e, qs[16]
  static constexpr int kBytes = 17, kGroups = 1;
  PHX_HD static void Decode(const uint8_t* b, int /*g*/, float (&y)[32]) {
    const float d = E8M0Half(b[0]);
    for (int j = 0; j < 32; ++j) y[j] = MulRn(FP4(Nibble(b + 1, j)), d);
  }
};
template <>
struct Blocks<DType::kQ2_K> {  // scales[16], qs[64], d, dmin
  static constexpr int kBytes = 84, kGroups = 8;
  PHX_HD static void Decode(const uint8_t* b, int g, float (&y)[32]) {
    const float d = F16At(b + 80), dmin = F16At(b + 82);
    const int c = g / 4, s = g % 4;  // elements 32g + l: 128-chunk c, 2-bit plane s
    for (int l = 0; l < 32; ++l) {
      const int q = (b[16 + 32 * c + l] >> (2 * s)) & 3;
      const uint8_t sc = b[(32 * g + l) / 16];
      const float dl = MulRn(d, static_cast<float>(sc & 0xF));
      const float ml = MulRn(dmin, static_cast<float>(sc >> 4));
      y[l] = SubRn(MulRn(dl, static_cast<float>(q)), ml);
    }
  }
};
template <>
struct Blocks<DType::kQ3_K> {  // hmask[32], qs[64], scales[12], d
  static constexpr int kBytes = 110, kGroups = 8;
  PHX_HD static void Decode(const uint8_t* b, int g, float (&y)[32]) {
    const float d = F16At(b + 108);
    const uint8_t* scales = b + 96;
    const int c = g / 4, s = g % 4;
    for (int l = 0; l < 32; ++l) {
      const int lo = (b[32 + 32 * c + l] >> (2 * s)) & 3;
      const bool hi = (b[l] >> (4 * c + s)) & 1;
      const int j = (32 * g + l) / 16;  // base/dtype.h Q3KScale
      const int sl = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
      const int sh = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      const float dl = MulRn(d, static_cast<float>((sl | (sh << 4)) - 32));
      y[l] = MulRn(dl, static_cast<float>(lo - (hi ? 0 : 4)));
    }
  }
};
template <>
struct Blocks<DType::kIQ4_XS> {  // d, scales_h, scales_l[4], qs[128]
  static constexpr int kBytes = 136, kGroups = 8;
  PHX_HD static void Decode(const uint8_t* b, int g, float (&y)[32]) {
    const float d = F16At(b);
    const int scales_h = b[2] | (b[3] << 8);
    const int lo = (b[4 + g / 2] >> (4 * (g % 2))) & 0xF;  // base/dtype.h IQ4XSScale
    const int hi = (scales_h >> (2 * g)) & 3;
    const float dl = MulRn(d, static_cast<float>((lo | (hi << 4)) - 32));
    const uint8_t* qs = b + 8 + 16 * g;
    for (int j = 0; j < 32; ++j) y[j] = MulRn(dl, IQ4NL(Nibble(qs, j)));
  }
};

}  // namespace phx::kernels::dequant_blocks

#undef PHX_HD
