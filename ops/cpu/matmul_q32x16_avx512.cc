// AVX-512 VNNI matmul over the Q32x16 layout (repack_formats.h): Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL
// MXFP4 weights in groups of 16 rows, against the Q8x16 activation panels of the Q8_0 kernel
// (packed_formats.h). The loop is the Q8x16 kernel's (matmul_q8x16_avx512.cc): per block of 32
// values and activation row, eight vpdpbusd from a seed (Seed: the activation's sum times the
// codes' offset), one conversion and one FMA; here each 64-byte weight chunk is first made
// from a nibble vector (the codes themselves for Q4_0/Q4_1, a table lookup for IQ4_NL/MXFP4,
// the fifth bits by a masked move for Q5_0/Q5_1), which every row of the tile shares. Q4_1/Q5_1
// add their mins times the activation block's sum.
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/repack_formats.h"
#include "ops/cpu/tile16_avx512.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")
// The chunk and group helpers must inline into the tile loop, or the sums go through memory.
#define PHX_INLINE inline __attribute__((always_inline))

namespace phx::ops::cpu::avx512 {
namespace {

using tile16::Load32;
using tile16::LoadF;

// value + 128 for each 4-bit code of the table types (IQ4_NL, MXFP4; the others use no table).
PHX_INLINE __m512i Lut(DType t) {
  switch (t) {
    case DType::kIQ4_NL:
      return _mm512_broadcast_i32x4(_mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103,
                                                  -90, -75, -59, -39, -15));
    case DType::kMXFP4:  // 0 1 2 3 4 6 8 12 0 -1 -2 -3 -4 -6 -8 -12
      return _mm512_broadcast_i32x4(_mm_setr_epi8(-128, -127, -126, -125, -124, -122, -120, -116,
                                                  -128, 127, 126, 125, 124, 122, 120, 116));
    default:
      return _mm512_setzero_si512();
  }
}

// The 16 rows' f32 scales of the block whose scales start at `sc`.
template <DType T>
PHX_INLINE __m512 Scales(const uint8_t* sc) {
  if constexpr (T == DType::kMXFP4) {  // 2^(e - 128): (e - 1) << 23, or a subnormal for e < 2
    const __m512i e = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sc)));
    const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
    const __m512i sub = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
    const __mmask16 small = _mm512_cmplt_epu32_mask(e, _mm512_set1_epi32(2));
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(small, normal, sub));
  } else {
    return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sc)));
  }
}

template <DType T>
constexpr bool kQ5 = T == DType::kQ5_0 || T == DType::kQ5_1;
template <DType T>
constexpr bool kMin = T == DType::kQ4_1 || T == DType::kQ5_1;
template <DType T>
constexpr bool kLutType = T == DType::kIQ4_NL || T == DType::kMXFP4;

// Chunk C (values 4C .. 4C+3 of the block) as the bytes vpdpbusd multiplies: value + 128 for
// the table types, the codes themselves for the others (Seed makes up the difference).
template <DType T, int C>
PHX_INLINE __m512i Chunk(const uint8_t* qb, __m512i lut) {
  const __m512i v = _mm512_load_si512(qb + 64 * (C % 4));
  const __m512i k0f = _mm512_set1_epi8(0x0F);
  const __m512i n =
      C < 4 ? _mm512_and_si512(v, k0f) : _mm512_and_si512(_mm512_srli_epi16(v, 4), k0f);
  if constexpr (kQ5<T>) {
    uint64_t bits;
    std::memcpy(&bits, qb + kNibbleUnitBytes + 8 * C, 8);
    return _mm512_or_si512(n, _mm512_maskz_mov_epi8(_cvtu64_mask64(bits), _mm512_set1_epi8(0x10)));
  } else if constexpr (kLutType<T>) {
    return _mm512_shuffle_epi8(lut, n);
  } else {
    return n;
  }
}

// The int32 a block's sum starts at, from the activation's corr = -128 * sum(q): the table
// types' chunks are value + 128, so corr undoes the + 128; the others multiply their codes as
// they are (Q4_0 0..15 for value + 8, Q5_0 0..31 for value + 16: -8 or -16 * sum(q), exact
// shifts of corr; Q4_1 and Q5_1, whose codes are the values: nothing).
template <DType T>
PHX_INLINE int32_t Seed(int32_t corr) {
  if constexpr (kLutType<T>) {
    return corr;
  } else if constexpr (T == DType::kQ4_0) {
    return corr >> 4;
  } else if constexpr (T == DType::kQ5_0) {
    return corr >> 3;
  } else {
    return 0;
  }
}

template <DType T, int RM, int PR, int C>
PHX_INLINE void Chunks(const uint8_t* qb, const uint8_t* pb, __m512i lut, __m512i (&s)[RM]) {
  if constexpr (C < 8) {
    const __m512i w = Chunk<T, C>(qb, lut);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      s[m] = tile16::DpbusdBcast(s[m], w, pb + 4 * (PR * C + m));
    }
    Chunks<T, RM, PR, C + 1>(qb, pb, lut, s);
  }
}

// Batched calls prefetch each block's bytes 6 blocks ahead into L1. Decode of one row
// (tile16::OneRow) reads two groups side by side, two sequential streams (G = 2), and
// prefetches each stream 2 KiB ahead into L1 (kAheadBytes): at M = 1 on the 1B FFN shapes,
// streaming, paired runs measured 1.02-1.43x against one stream with no software prefetch
// (docs/benchmarks.md section 1); two streams alone gained only on ffn_down (1.1x), a
// prefetch into L2 slowed weights that were in cache by 10-20%, and one stream with a
// prefetch gained ~1.05x. 2-4 activation rows read one stream with no prefetch.
using tile16::kDecodeRows;
template <DType T>
constexpr int64_t kBlockBytes = Q32x16UnitBytes(T) / Q32x16UnitBlocks(T);  // on average
// How far ahead into L1 a block's bytes are prefetched (0: not at all).
template <DType T, int RM, int G>
constexpr int64_t kAheadBytes = RM > kDecodeRows ? 6 * kBlockBytes<T>
                                : G == 2         ? 2048
                                                 : 0;

// f[g * RM + m] += blocks [b0, b1) of the panel's first RM rows against the 16 rows of group g
// (G groups, `gap` bytes apart). PR: rows of the activation panel (kQ8x16PanelRows, or 1 for
// decode's compact copy of one row: tile16::OneRow).
static_assert(kQ8x16PanelRows == 8, "tile16::PanelOff's panel rows");
template <DType T, int RM, int PR = kQ8x16PanelRows, int G = 1>
void Range(const uint8_t* group, const uint8_t* panel, int64_t b0, int64_t b1, __m512* facc,
           int64_t gap = 0) {
  const __m512i lut = Lut(T);
  __m512 f[G * RM];
  PHX_UNROLL
  for (int m = 0; m < G * RM; ++m) {
    f[m] = facc[m];
  }
  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t* pb = panel + b * tile16::PanelOff<PR>(kQ8x16PanelBlockBytes);
    PHX_UNROLL
    for (int g = 0; g < G; ++g) {
      const uint8_t* sc = group + g * gap + Q32x16ScaleOffset(T, b);
      const uint8_t* qb = group + g * gap + Q32x16QuantOffset(T, b);
      if constexpr (kAheadBytes<T, RM, G> != 0) {
        const char* ahead = reinterpret_cast<const char*>(qb + kAheadBytes<T, RM, G>);
        PHX_UNROLL
        for (int64_t l = 0; l < kBlockBytes<T>; l += 64) {
          _mm_prefetch(ahead + l, _MM_HINT_T0);
        }
      }
      __m512i s[RM];
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) {
        s[m] = _mm512_set1_epi32(
            Seed<T>(Load32(pb + tile16::PanelOff<PR>(kQ8x16PanelCorrOffset) + 4 * m)));
      }
      Chunks<T, RM, PR, 0>(qb, pb, lut, s);
      const __m512 wd = Scales<T>(sc);
      __m512* fg = f + g * RM;
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) {
        const float dx = LoadF(pb + tile16::PanelOff<PR>(kQ8x16PanelDOffset) + 4 * m);
        fg[m] =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[m]), _mm512_mul_ps(wd, _mm512_set1_ps(dx)), fg[m]);
      }
      if constexpr (kMin<T>) {  // + m_w * dx * sum(q), the sum from the activation's corr
        const __m512 wm =
            _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sc + 32)));
        PHX_UNROLL
        for (int m = 0; m < RM; ++m) {
          const float bs =
              static_cast<float>(Load32(pb + tile16::PanelOff<PR>(kQ8x16PanelCorrOffset) + 4 * m)) *
              LoadF(pb + tile16::PanelOff<PR>(kQ8x16PanelDOffset) + 4 * m) * (-1.f / 128);
          fg[m] = _mm512_fmadd_ps(wm, _mm512_set1_ps(bs), fg[m]);
        }
      }
    }
  }
  PHX_UNROLL
  for (int m = 0; m < G * RM; ++m) {
    facc[m] = f[m];
  }
}

template <DType T>
using RangeFn = void (*)(const uint8_t*, const uint8_t*, int64_t, int64_t, __m512*, int64_t);
template <DType T>
constexpr RangeFn<T> kRanges[kQ8x16PanelRows + 1] = {nullptr,     Range<T, 1>, Range<T, 2>,
                                                     Range<T, 3>, Range<T, 4>, Range<T, 5>,
                                                     Range<T, 6>, Range<T, 7>, Range<T, 8>};

template <DType T>
void Gemm(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* scratch) {
  constexpr int64_t P = kQ8x16PanelRows;
  constexpr int64_t kPairBlocks = 4;  // blocks per step of a two-panel tile
  const int64_t blocks = a.K / 32;
  if (m1 - m0 == 1 && tile16::OneRow<P>(
                          a, n0, n1, m0, blocks * kQ8x16PanelBlockBytes, scratch,
                          [&](const uint8_t* group, const uint8_t* row, __m512* f) {
                            Range<T, 1, 1>(group, row, 0, blocks, f);
                          },
                          [&](const uint8_t* group, int64_t gap, const uint8_t* row, __m512* f) {
                            Range<T, 1, 1, 2>(group, row, 0, blocks, f, gap);
                          })) {
    return;
  }
  tile16::Gemm<P, kPairBlocks>(
      a, n0, n1, m0, m1, blocks,
      [](const uint8_t* group, const uint8_t* panel, int64_t b0, int64_t b1, __m512* f) {
        Range<T, P>(group, panel, b0, b1, f);
      },
      [](int rm, const uint8_t* group, const uint8_t* panel, int64_t b0, int64_t b1, __m512* f) {
        kRanges<T>[rm](group, panel, b0, b1, f, 0);
      });
}

}  // namespace

// y[m0:m1, n0:n1] with a.w the Q32x16 copy (a.w_pitch = Q32x16GroupBytes) and a.act the Q8x16
// activation panels; n0 % 16 == 0, m0 % 8 == 0.
void GemmQ32x16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                uint8_t* scratch) {
  switch (a.wtype) {
    case DType::kQ4_0:
      return Gemm<DType::kQ4_0>(a, n0, n1, m0, m1, scratch);
    case DType::kQ4_1:
      return Gemm<DType::kQ4_1>(a, n0, n1, m0, m1, scratch);
    case DType::kQ5_0:
      return Gemm<DType::kQ5_0>(a, n0, n1, m0, m1, scratch);
    case DType::kQ5_1:
      return Gemm<DType::kQ5_1>(a, n0, n1, m0, m1, scratch);
    case DType::kIQ4_NL:
      return Gemm<DType::kIQ4_NL>(a, n0, n1, m0, m1, scratch);
    case DType::kMXFP4:
      return Gemm<DType::kMXFP4>(a, n0, n1, m0, m1, scratch);
    default:
      return;
  }
}

}  // namespace phx::ops::cpu::avx512
