// Block decoders shared by the CPU matmul paths: one block of any weight type turned into small
// integers and the f32 factors that scale them, exactly (every factor here is an f16 or E8M0
// value times a small integer, which f32 holds exactly). The panel decoders of gemm_impl.h and
// the load-time repackers (repack*.cc) build on these, so each type's bit layout is read in one
// place.
//
//   32-element view ("q8" family): x[j] = d * q[j] + m, q signed 8-bit (|q| <= 127).
//     Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4 (m = 0); Q4_1, Q5_1 (q unsigned 0..31, m the block min);
//     IQ4_XS seen as 8 blocks of 32 per super-block (d = d_super * (ls - 32)).
//   256-element view ("k" family): x[j] = d * sc[j / 16] * q[j] + mins[j / 16], q unsigned 0..63.
//     Q2_K (q 0..3), Q3_K (q + 4: 0..7, the -4 in mins), Q4_K, Q5_K, Q6_K (q 0..63, -32 in mins).
//
// The functions are static (internal linkage), as are base/dtype.h's block helpers: each ISA
// level's file compiles its own copy with its own -m flags (tests/unit/isa_symbols_test.sh). As
// plain inline functions the linker kept one copy for every level, and that copy could be the
// AVX-512 file's (its DecodeBlock32 held 66 VEX/EVEX instructions), which the scalar and AVX2
// levels would then run on CPUs without AVX-512.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "base/dtype.h"

namespace phx::ops::cpu {

static inline float F16At(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return F16ToF32(h);
}

// The q8 family: types whose matmul runs on 32-element blocks against Q8_0 activations.
constexpr bool IsBlock32Type(DType t) {
  switch (t) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kIQ4_NL:
    case DType::kMXFP4:
    case DType::kIQ4_XS:
      return true;
    default:
      return false;
  }
}
constexpr bool Block32HasMin(DType t) { return t == DType::kQ4_1 || t == DType::kQ5_1; }

// The 32 nibbles of a block's 16 bytes: the low nibbles are values 0..15, the high ones 16..31.
static inline void UnpackNibbles32(const uint8_t* qs, uint8_t* n) {
  for (int j = 0; j < 16; ++j) {
    n[j] = qs[j] & 0xF;
    n[j + 16] = qs[j] >> 4;
  }
}

// Q5_0/Q5_1's fifth bits: bit j of the 32-bit qh (little-endian, as the file stores it) as 0x10
// or 0 in h[j], eight at a time through a table of the 256 byte values spread to 8 bytes.
struct BitsTo0x10Table {  // a plain array: no accessor function in the per-ISA files
  uint64_t v[256];
};
constexpr BitsTo0x10Table MakeBitsTo0x10() {
  BitsTo0x10Table t{};
  for (int v = 0; v < 256; ++v) {
    for (int i = 0; i < 8; ++i) {
      if ((v >> i) & 1) t.v[v] |= uint64_t{0x10} << (8 * i);
    }
  }
  return t;
}
inline constexpr BitsTo0x10Table kBitsTo0x10 = MakeBitsTo0x10();
static inline void HighBits32(const uint8_t* qh, uint8_t* h) {
  for (int k = 0; k < 4; ++k) std::memcpy(h + 8 * k, &kBitsTo0x10.v[qh[k]], 8);
}

// Block b (32 elements) of a weight row of type t.
static inline void DecodeBlock32(DType t, const uint8_t* row, int64_t b, int8_t* q, float* d,
                                 float* m) {
  *m = 0.f;
  uint8_t n[32];
  switch (t) {
    case DType::kQ8_0: {
      const uint8_t* blk = row + b * 34;
      *d = F16At(blk);
      std::memcpy(q, blk + 2, 32);
      return;
    }
    case DType::kQ4_0:
    case DType::kIQ4_NL: {
      const uint8_t* blk = row + b * 18;
      *d = F16At(blk);
      UnpackNibbles32(blk + 2, n);
      for (int j = 0; j < 32; ++j) {
        q[j] = static_cast<int8_t>(t == DType::kQ4_0 ? n[j] - 8 : kIQ4NLValues[n[j]]);
      }
      return;
    }
    case DType::kQ4_1: {
      const uint8_t* blk = row + b * 20;
      *d = F16At(blk);
      *m = F16At(blk + 2);
      UnpackNibbles32(blk + 4, n);
      std::memcpy(q, n, 32);
      return;
    }
    case DType::kQ5_0:
    case DType::kQ5_1: {
      const bool q51 = t == DType::kQ5_1;
      const uint8_t* blk = row + b * (q51 ? 24 : 22);
      *d = F16At(blk);
      if (q51) *m = F16At(blk + 2);
      uint8_t hb[32];
      HighBits32(blk + (q51 ? 4 : 2), hb);
      UnpackNibbles32(blk + (q51 ? 8 : 6), n);
      for (int j = 0; j < 32; ++j) {
        const int v = n[j] | hb[j];
        q[j] = static_cast<int8_t>(q51 ? v : v - 16);
      }
      return;
    }
    case DType::kMXFP4: {
      const uint8_t* blk = row + b * 17;
      *d = E8M0ToFloatHalf(blk[0]);
      UnpackNibbles32(blk + 1, n);
      for (int j = 0; j < 32; ++j) q[j] = kFP4Values[n[j]];
      return;
    }
    case DType::kIQ4_XS: {
      const uint8_t* blk = row + (b / 8) * static_cast<int64_t>(sizeof(BlockIQ4XS));
      const int s = static_cast<int>(b % 8);
      uint16_t sh;
      std::memcpy(&sh, blk + 2, 2);
      *d = F16At(blk) * static_cast<float>(IQ4XSScale(s, sh, blk + 4));
      UnpackNibbles32(blk + 8 + 16 * s, n);
      for (int j = 0; j < 32; ++j) q[j] = kIQ4NLValues[n[j]];
      return;
    }
    default:
      std::memset(q, 0, 32);
      *d = 0.f;
  }
}

// The bytes of one super-block of a K-quant type (Q2_K .. Q6_K).
constexpr int64_t SuperKBytes(DType t) {
  switch (t) {
    case DType::kQ2_K:
      return sizeof(BlockQ2_K);
    case DType::kQ3_K:
      return sizeof(BlockQ3_K);
    case DType::kQ4_K:
      return sizeof(BlockQ4_K);
    case DType::kQ5_K:
      return sizeof(BlockQ5_K);
    case DType::kQ6_K:
      return sizeof(BlockQ6_K);
    default:
      return 0;
  }
}

// The scales of K-quant super-block `blk` (DecodeSuperK's sc16, mins and d; below), with f16
// values read by h2f (F16At here; the AVX2 kernels pass F16C's conversion, the same values).
template <class H2F>
static inline void DecodeSuperKScales(DType t, const uint8_t* blk, H2F h2f, int16_t* sc16,
                                      float* mins, float* d) {
  switch (t) {
    case DType::kQ2_K: {
      *d = h2f(blk + 80);
      const float dmin = h2f(blk + 82);
      for (int g = 0; g < 16; ++g) {
        sc16[g] = blk[g] & 0xF;
        mins[g] = -dmin * static_cast<float>(blk[g] >> 4);
      }
      return;
    }
    case DType::kQ3_K: {
      *d = h2f(blk + 108);
      for (int g = 0; g < 16; ++g) {
        sc16[g] = static_cast<int16_t>(Q3KScale(g, blk + 96));
        mins[g] = -4.f * *d * static_cast<float>(sc16[g]);
      }
      return;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      *d = h2f(blk);
      const float dmin = h2f(blk + 2);
      for (int j = 0; j < 8; ++j) {
        uint8_t s, m;
        Q4KScaleMin(j, blk + 4, &s, &m);
        sc16[2 * j] = sc16[2 * j + 1] = s;
        mins[2 * j] = mins[2 * j + 1] = -dmin * static_cast<float>(m);
      }
      return;
    }
    case DType::kQ6_K: {
      *d = h2f(blk + 208);
      const auto* scales = reinterpret_cast<const int8_t*>(blk + 192);
      for (int g = 0; g < 16; ++g) {
        sc16[g] = scales[g];
        mins[g] = -32.f * *d * static_cast<float>(scales[g]);
      }
      return;
    }
    default:
      for (int g = 0; g < 16; ++g) sc16[g] = 0, mins[g] = 0.f;
      *d = 0.f;
  }
}

// Sub-block j (values 32j .. 32j + 31) of K-quant super-block `blk`: q unsigned, in order.
static inline void DecodeSuperKSub(DType t, const uint8_t* blk, int j, uint8_t* q) {
  const int h = j / 4, k = j % 4;  // the 128-value half, and the 32-value quarter in it
  switch (t) {
    case DType::kQ2_K:
      for (int i = 0; i < 32; ++i) q[i] = (blk[16 + 32 * h + i] >> (2 * k)) & 3;
      return;
    case DType::kQ3_K:
      for (int i = 0; i < 32; ++i) {
        const int lo = (blk[32 + 32 * h + i] >> (2 * k)) & 3;
        const int hi = (blk[i] >> (4 * h + k)) & 1;
        q[i] = static_cast<uint8_t>(lo | (hi << 2));
      }
      return;
    case DType::kQ4_K:
      for (int i = 0; i < 32; ++i) q[i] = (blk[16 + 32 * (j / 2) + i] >> (4 * (j % 2))) & 0xF;
      return;
    case DType::kQ5_K:
      for (int i = 0; i < 32; ++i) {
        const int lo = (blk[48 + 32 * (j / 2) + i] >> (4 * (j % 2))) & 0xF;
        q[i] = static_cast<uint8_t>(lo | (((blk[16 + i] >> j) & 1) << 4));
      }
      return;
    case DType::kQ6_K:
      for (int i = 0; i < 32; ++i) {
        const int lo = (blk[64 * h + 32 * (k % 2) + i] >> (4 * (k / 2))) & 0xF;
        const int hi = (blk[128 + 32 * h + i] >> (2 * k)) & 3;
        q[i] = static_cast<uint8_t>(lo | (hi << 4));
      }
      return;
    default:
      std::memset(q, 0, 32);
  }
}

// Super-block sb (256 elements) of a K-quant weight row: q in natural order.
static inline void DecodeSuperK(DType t, const uint8_t* row, int64_t sb, uint8_t* q, int16_t* sc16,
                                float* mins, float* d) {
  const uint8_t* blk = row + sb * SuperKBytes(t);
  DecodeSuperKScales(t, blk, F16At, sc16, mins, d);
  for (int j = 0; j < 8; ++j) DecodeSuperKSub(t, blk, j, q + 32 * j);
}

// Calls f(std::integral_constant<DType, T>{}) for the quantized matmul type t (the q8 and K
// families), so that a kernel templated on the type is picked once per call; nothing for any
// other type.
template <class F>
static inline void WithQuantType(DType t, F&& f) {
  switch (t) {
#define PHX_QUANT_TYPE(T) \
  case DType::T:          \
    return f(std::integral_constant<DType, DType::T>{});
    PHX_QUANT_TYPE(kQ8_0)
    PHX_QUANT_TYPE(kQ4_0)
    PHX_QUANT_TYPE(kQ4_1)
    PHX_QUANT_TYPE(kQ5_0)
    PHX_QUANT_TYPE(kQ5_1)
    PHX_QUANT_TYPE(kIQ4_NL)
    PHX_QUANT_TYPE(kMXFP4)
    PHX_QUANT_TYPE(kIQ4_XS)
    PHX_QUANT_TYPE(kQ2_K)
    PHX_QUANT_TYPE(kQ3_K)
    PHX_QUANT_TYPE(kQ4_K)
    PHX_QUANT_TYPE(kQ5_K)
    PHX_QUANT_TYPE(kQ6_K)
#undef PHX_QUANT_TYPE
    default:
      return;
  }
}

}  // namespace phx::ops::cpu
