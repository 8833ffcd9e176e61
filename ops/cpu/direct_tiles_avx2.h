// The AVX2 decode tiles (included by matmul_avx2.cc only, after gemm_impl.h): 1-2 activation
// rows against 4 weight rows whose blocks are decoded in registers straight from the rows, for
// every quantized type (GemmDirect in gemm_impl.h calls them for tasks of up to 16 rows).
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "base/dtype.h"
#include "ops/cpu/decode_blocks.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"

namespace phx::ops::cpu::avx2 {
namespace {

inline float HSum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// An RM x 4 tile of 8-lane f32 sums: zeroed, and each sum reduced into y (StoreRow:
// accumulate ? y += v : y = v + bias).
template <int RM>
inline void ZeroTile(__m256 (&c)[RM][4]) {
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) c[m][r] = _mm256_setzero_ps();
  }
}
template <int RM>
inline void StoreTile(const __m256 (&c)[RM][4], float* y, int64_t yp, int ncols, const float* bias,
                      bool accumulate) {
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    float v[4];
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) v[r] = HSum8(c[m][r]);
    StoreRow(v, y + m * yp, ncols, bias, accumulate);
  }
}

// The 32 nibbles of a block's 16 bytes: low nibbles are values 0..15, high ones 16..31.
inline __m256i Nibbles32(const uint8_t* qs) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i k0f = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), k0f), _mm_and_si128(q, k0f));
}
// Q5_0/Q5_1's fifth bits (bit j of qh for value j) as bytes 0x10 or 0.
inline __m256i HighBits32(const uint8_t* p) {
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const __m256i spread =
      _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)),
                          _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                                           2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ULL));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit),
                          _mm256_set1_epi8(0x10));
}
inline __m256i Lut16(const int8_t* v) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(v)));
}

// An f16 at p (any alignment), with F16C.
inline float H2F(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// The bytes a q8-family weight row spends on 32 values (IQ4_XS: a 256-value super-block of 136).
constexpr int64_t Bytes32(DType t) {
  switch (t) {
    case DType::kQ8_0:
      return 34;
    case DType::kQ4_0:
    case DType::kIQ4_NL:
      return 18;
    case DType::kQ4_1:
      return 20;
    case DType::kQ5_0:
      return 22;
    case DType::kQ5_1:
      return 24;
    default:  // MXFP4, IQ4_XS
      return 17;
  }
}

// The distance from a tile's weight rows to the next tile's (GemmDirect's groups of kGroupRows
// rows, evenly spaced). The tiles prefetch the next tile's bytes at the offset they read, as the
// AVX-512 ones do: without it the short rows of a decode step leave the memory pipeline idle at
// every tile change (measured on a Zen 4: Q4_K's GEMV at 5632 x 2048 took 2x as long, Q6_K's 3x).
inline int64_t NextTileBytes(const uint8_t* const* w) {
  return kGroupRows * (w[kGroupRows - 1] - w[0]) / (kGroupRows - 1);
}
inline void PrefetchLines(const uint8_t* p, int64_t bytes) {
  for (int64_t l = 0; l < bytes; l += 64)
    _mm_prefetch(reinterpret_cast<const char*>(p) + l, _MM_HINT_T0);
}

// Block b of a q8-family weight row (decode_blocks.h's 32-element view) in registers: the
// signed values, d and m (DecodeBlock32's, bit for bit).
template <DType WT>
inline __m256i DecodeBlock32V(const uint8_t* row, int64_t b, float* d, float* m) {
  if constexpr (WT == DType::kQ8_0) {
    const uint8_t* blk = row + b * Bytes32(WT);
    *d = H2F(blk);
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
  } else if constexpr (WT == DType::kQ4_0) {
    const uint8_t* blk = row + b * Bytes32(WT);
    *d = H2F(blk);
    return _mm256_sub_epi8(Nibbles32(blk + 2), _mm256_set1_epi8(8));
  } else if constexpr (WT == DType::kIQ4_NL) {
    const uint8_t* blk = row + b * Bytes32(WT);
    *d = H2F(blk);
    return _mm256_shuffle_epi8(Lut16(kIQ4NLValues), Nibbles32(blk + 2));
  } else if constexpr (WT == DType::kQ4_1) {
    const uint8_t* blk = row + b * Bytes32(WT);
    *d = H2F(blk);
    *m = H2F(blk + 2);
    return Nibbles32(blk + 4);
  } else if constexpr (WT == DType::kQ5_0) {
    const uint8_t* blk = row + b * Bytes32(WT);
    *d = H2F(blk);
    return _mm256_sub_epi8(_mm256_or_si256(Nibbles32(blk + 6), HighBits32(blk + 2)),
                           _mm256_set1_epi8(16));
  } else if constexpr (WT == DType::kQ5_1) {
    const uint8_t* blk = row + b * Bytes32(WT);
    *d = H2F(blk);
    *m = H2F(blk + 2);
    return _mm256_or_si256(Nibbles32(blk + 8), HighBits32(blk + 4));
  } else if constexpr (WT == DType::kMXFP4) {
    const uint8_t* blk = row + b * Bytes32(WT);
    *d = E8M0ToFloatHalf(blk[0]);
    return _mm256_shuffle_epi8(Lut16(kFP4Values), Nibbles32(blk + 1));
  } else {
    static_assert(WT == DType::kIQ4_XS);
    const uint8_t* blk = row + (b / 8) * static_cast<int64_t>(sizeof(BlockIQ4XS));
    const int s = static_cast<int>(b % 8);
    uint16_t sh;
    std::memcpy(&sh, blk + 2, 2);
    *d = H2F(blk) * static_cast<float>(IQ4XSScale(s, sh, blk + 4));
    return _mm256_shuffle_epi8(Lut16(kIQ4NLValues), Nibbles32(blk + 8 + 16 * s));
  }
}

// Decode path: 1..2 activation rows against 4 weight rows of a q8-family type, each block
// decoded in registers straight from the rows (no panel). Q4_1/Q5_1's block mins enter as in
// Q8Tile, through the activation's -128 * sum(q) (packed_formats.h).
template <int RM, DType WT>
void Q8DirectTile(const uint8_t* act, int64_t ap, const uint8_t* const* w, int64_t K, float* y,
                  int64_t yp, int ncols, const float* bias) {
  constexpr bool kMin = Block32HasMin(WT);
  __m256 c[RM][4];
  ZeroTile(c);
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t next_tile = NextTileBytes(w);
  for (int64_t b = 0; b < K / 32; ++b) {
    __m256i wq[4];
    __m256 dw[4], mw[4];
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w[r] + b * Bytes32(WT) + next_tile), _MM_HINT_T0);
      float d = 0.f, mn = 0.f;
      wq[r] = DecodeBlock32V<WT>(w[r], b, &d, &mn);
      dw[r] = _mm256_set1_ps(d);
      mw[r] = _mm256_set1_ps(mn * (-1.f / 128));
    }
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const uint8_t* ab = act + m * ap + (b / 2) * kQ8ActPairBytes + 32 * (b % 2);
      const __m256i xq = _mm256_load_si256(reinterpret_cast<const __m256i*>(ab));
      const __m256 dx = _mm256_load_ps(reinterpret_cast<const float*>(ab + 64));
      const __m256i ax = _mm256_sign_epi8(xq, xq);
      __m256 cs = _mm256_setzero_ps();
      if constexpr (kMin) {  // -128 * sum(x) * dx in lane 0
        cs = _mm256_mul_ps(
            _mm256_cvtepi32_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(ab + 128))), dx);
      }
      PHX_UNROLL
      for (int r = 0; r < 4; ++r) {
        const __m256i d16 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wq[r], xq));
        const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(d16, ones));
        c[m][r] = _mm256_fmadd_ps(dot, _mm256_mul_ps(dw[r], dx), c[m][r]);
        if constexpr (kMin) c[m][r] = _mm256_fmadd_ps(mw[r], cs, c[m][r]);
      }
    }
  }
  StoreTile(c, y, yp, ncols, bias, false);
}

// The bytes of v shifted so that bit `from` of each lands on bit `to`, masked to `mask` (16-bit
// shifts: the mask drops every bit that crossed a byte).
template <int from, int to>
inline __m256i BitsTo(__m256i v, int mask) {
  __m256i r = v;
  if constexpr (from > to) r = _mm256_srli_epi16(v, from - to);
  if constexpr (from < to) r = _mm256_slli_epi16(v, to - from);
  return _mm256_and_si256(r, _mm256_set1_epi8(static_cast<char>(mask)));
}
inline __m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// Sub-block j (values 32j .. 32j+31, natural order) of K-quant super-block `blk` as unsigned
// bytes: DecodeSuperK's q (decode_blocks.h), in registers.
template <DType WT, int J>
inline __m256i SuperKSub(const uint8_t* blk) {
  constexpr int h = J / 4, k = J % 4;
  if constexpr (WT == DType::kQ2_K) {
    return BitsTo<2 * k, 0>(Load256(blk + 16 + 32 * h), 3);
  } else if constexpr (WT == DType::kQ3_K) {
    return _mm256_or_si256(BitsTo<2 * k, 0>(Load256(blk + 32 + 32 * h), 3),
                           BitsTo<4 * h + k, 2>(Load256(blk), 4));
  } else if constexpr (WT == DType::kQ4_K || WT == DType::kQ5_K) {
    constexpr int64_t qs = WT == DType::kQ5_K ? 48 : 16;
    const __m256i lo = BitsTo<4 * (J % 2), 0>(Load256(blk + qs + 32 * (J / 2)), 0xF);
    if constexpr (WT == DType::kQ4_K) {
      return lo;
    } else {
      return _mm256_or_si256(lo, BitsTo<J, 4>(Load256(blk + 16), 0x10));
    }
  } else {
    static_assert(WT == DType::kQ6_K);
    const __m256i lo = BitsTo<4 * (k / 2), 0>(Load256(blk + 64 * h + 32 * (k % 2)), 0xF);
    return _mm256_or_si256(lo, BitsTo<2 * k, 4>(Load256(blk + 128 + 32 * h), 0x30));
  }
}

// DecodeSuperKScales (decode_blocks.h) in vector code: the same values (integers, and each min
// the same single f32 product).
template <DType WT>
inline void SuperKScalesV(const uint8_t* blk, int16_t* sc16, float* mins, float* d) {
  const auto store_mins = [mins](__m128i m8, float f) {  // mins[g] = f * m8[g], g < 16
    const __m256 fv = _mm256_set1_ps(f);
    _mm256_store_ps(mins, _mm256_mul_ps(fv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(m8))));
    _mm256_store_ps(
        mins + 8,
        _mm256_mul_ps(fv, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(m8, 8)))));
  };
  if constexpr (WT == DType::kQ4_K || WT == DType::kQ5_K) {
    // Q4KScaleMin for all j: words u0 = bytes 0..3, u1 = 4..7, u2 = 8..11 of the 12 bytes.
    uint32_t u[3];
    std::memcpy(u, blk + 4, 12);
    const uint32_t sc_lo = u[0] & 0x3F3F3F3F, mn_lo = u[1] & 0x3F3F3F3F;
    const uint32_t sc_hi = (u[2] & 0x0F0F0F0F) | (((u[0] >> 6) & 0x03030303) << 4);
    const uint32_t mn_hi = ((u[2] >> 4) & 0x0F0F0F0F) | (((u[1] >> 6) & 0x03030303) << 4);
    const __m128i sm = _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi),
                                      static_cast<int>(mn_lo), static_cast<int>(mn_hi));
    const __m128i dup = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sc16),
                       _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm, dup)));
    *d = H2F(blk);
    store_mins(_mm_shuffle_epi8(_mm_srli_si128(sm, 8), dup), -H2F(blk + 2));
  } else if constexpr (WT == DType::kQ2_K) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk));
    const __m128i k0f = _mm_set1_epi8(0x0F);
    _mm256_store_si256(reinterpret_cast<__m256i*>(sc16),
                       _mm256_cvtepu8_epi16(_mm_and_si128(b, k0f)));
    *d = H2F(blk + 80);
    store_mins(_mm_and_si128(_mm_srli_epi16(b, 4), k0f), -H2F(blk + 82));
  } else if constexpr (WT == DType::kQ6_K) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192));
    _mm256_store_si256(reinterpret_cast<__m256i*>(sc16), _mm256_cvtepi8_epi16(b));
    *d = H2F(blk + 208);
    const __m256 f = _mm256_set1_ps(-32.f * *d);
    _mm256_store_ps(mins, _mm256_mul_ps(f, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b))));
    _mm256_store_ps(
        mins + 8, _mm256_mul_ps(f, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(b, 8)))));
  } else {
    static_assert(WT == DType::kQ3_K);
    // Q3KScale for all j: the low nibbles of bytes 0..7 (j < 8) and their high nibbles
    // (j >= 8), with 2 more bits from byte 8 + j % 4 at bit 2 (j / 4); minus 32.
    uint64_t lo8;
    uint32_t h;
    std::memcpy(&lo8, blk + 96, 8);
    std::memcpy(&h, blk + 104, 4);
    const __m128i k0f = _mm_set1_epi8(0x0F);
    const __m128i l = _mm_cvtsi64_si128(static_cast<int64_t>(lo8));
    const __m128i lo =
        _mm_unpacklo_epi64(_mm_and_si128(l, k0f), _mm_and_si128(_mm_srli_epi16(l, 4), k0f));
    const __m128i hi =
        _mm_and_si128(_mm_setr_epi32(static_cast<int>(h), static_cast<int>(h >> 2),
                                     static_cast<int>(h >> 4), static_cast<int>(h >> 6)),
                      _mm_set1_epi8(3));
    const __m128i v = _mm_sub_epi8(_mm_or_si128(lo, _mm_slli_epi16(hi, 4)), _mm_set1_epi8(32));
    _mm256_store_si256(reinterpret_cast<__m256i*>(sc16), _mm256_cvtepi8_epi16(v));
    *d = H2F(blk + 108);
    const __m256 f = _mm256_set1_ps(-4.f * *d);
    _mm256_store_ps(mins, _mm256_mul_ps(f, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))));
    _mm256_store_ps(
        mins + 8, _mm256_mul_ps(f, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)))));
  }
}

// Decode path for the K-quants: 1..2 activation rows (Q8_K super-blocks) against 4 weight rows,
// each super-block unpacked in registers straight from the rows (no panel): per sub-block one
// maddubs (q <= 63, so no pair saturates) and one madd by its two 16-value scales.
template <int RM, DType WT>
void KDirectTile(const uint8_t* act, int64_t ap, const uint8_t* const* w, int64_t K, float* y,
                 int64_t yp, int ncols, const float* bias) {
  constexpr int64_t sbb = SuperKBytes(WT);
  __m256 c[RM][4];
  ZeroTile(c);
  const int64_t next_tile = NextTileBytes(w);
  for (int64_t s = 0; s < K / 256; ++s) {
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) {
      const uint8_t* blk = w[r] + s * sbb;
      PrefetchLines(blk + next_tile, sbb);
      alignas(32) int16_t sc16[16];
      alignas(32) float mins[16];
      float d;
      SuperKScalesV<WT>(blk, sc16, mins, &d);
      __m256i acc[RM];
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) acc[m] = _mm256_setzero_si256();
      const auto sub = [&]<int J>() {
        const __m256i q = SuperKSub<WT, J>(blk);
        const __m256i sc =
            _mm256_set_m128i(_mm_set1_epi16(sc16[2 * J + 1]), _mm_set1_epi16(sc16[2 * J]));
        PHX_UNROLL
        for (int m = 0; m < RM; ++m) {
          const __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(
              act + m * ap + s * kKActBytes + 32 * kKLaneSubBlock[J]));
          acc[m] = _mm256_add_epi32(acc[m], _mm256_madd_epi16(_mm256_maddubs_epi16(q, x), sc));
        }
      };
      sub.template operator()<0>();
      sub.template operator()<1>();
      sub.template operator()<2>();
      sub.template operator()<3>();
      sub.template operator()<4>();
      sub.template operator()<5>();
      sub.template operator()<6>();
      sub.template operator()<7>();
      const __m256 m0 = _mm256_load_ps(mins), m1 = _mm256_load_ps(mins + 8);
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) {
        const uint8_t* ab = act + m * ap + s * kKActBytes;
        const __m256 dx = _mm256_broadcast_ss(reinterpret_cast<const float*>(ab + kKActDOffset));
        __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[m]), _mm256_mul_ps(_mm256_set1_ps(d), dx),
                                   c[m][r]);
        v = _mm256_fmadd_ps(
            m0, _mm256_load_ps(reinterpret_cast<const float*>(ab + kKActBsumOffset)), v);
        c[m][r] = _mm256_fmadd_ps(
            m1, _mm256_load_ps(reinterpret_cast<const float*>(ab + kKActBsumOffset + 32)), v);
      }
    }
  }
  StoreTile(c, y, yp, ncols, bias, false);
}

}  // namespace
}  // namespace phx::ops::cpu::avx2
