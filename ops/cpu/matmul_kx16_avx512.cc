// AVX-512 VNNI matmul over the Kx16 layout (repack_formats.h): Q2_K Q3_K Q4_K Q5_K Q6_K and
// IQ4_XS weights in groups of 16 rows, against activations in 8-row Q8_K panels.
//
// Per super-block (256 values) and activation row: each unit (32 values) is unpacked chunk by
// chunk into unsigned bytes in registers (a few instructions per chunk, shared by every row of
// the tile) and multiplied by 4 broadcast activation bytes with one vpdpbusd into a per-group
// int32 sum; a group's sum, times its integer scale (vpmulld), goes into the super-block's
// int32 accumulator. Types whose values are signed store them + 128 and start each group's sum
// at the activation's -128 * sum(q) (Q3_K, Q6_K, IQ4_XS); the others' mins enter once per
// super-block through the activation's 16-value sums (vpdpwssd). Then one conversion and one
// FMA per row and super-block scale by d * dx (and dmin * dx): the integer arithmetic is exact,
// as in llama.cpp's own Q8_K dot products.
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/repack_formats.h"
#include "ops/cpu/tile16_avx512.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")
// The chunk and group helpers must inline into the tile loop, or the sums go through memory.
#define PHX_INLINE inline __attribute__((always_inline))

namespace phx::ops::cpu::avx512 {
namespace {

using tile16::Load32;
using tile16::LoadF;
PHX_INLINE __mmask64 LoadMask(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return _cvtu64_mask64(v);
}
PHX_INLINE __m512i Bcast(const uint8_t* p) { return _mm512_set1_epi32(Load32(p)); }
PHX_INLINE __m128i Load128(const uint8_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// Chunk c (0..7) of a unit's nibbles: values 4c .. 4c+3 of each row.
template <int C>
PHX_INLINE __m512i Nibble(const uint8_t* unit) {
  const __m512i v = _mm512_load_si512(unit + 64 * (C % 4));
  const __m512i k0f = _mm512_set1_epi8(0x0F);
  if constexpr (C < 4) {
    return _mm512_and_si512(v, k0f);
  } else {
    return _mm512_and_si512(_mm512_srli_epi16(v, 4), k0f);
  }
}
// Chunk c's 2-bit fields, shifted left by kShl (0 or 4) bits.
template <int C, int kShl>
PHX_INLINE __m512i TwoBit(const uint8_t* unit) {
  const __m512i h = _mm512_load_si512(unit + 64 * (C / 4));
  constexpr int f = C % 4;
  constexpr int shift = 2 * f - kShl;  // right shift (negative: left)
  const __m512i m = _mm512_set1_epi8(static_cast<char>(3 << kShl));
  if constexpr (shift > 0) {
    return _mm512_and_si512(_mm512_srli_epi16(h, shift), m);
  } else if constexpr (shift < 0) {
    return _mm512_and_si512(_mm512_slli_epi16(h, -shift), m);
  } else {
    return _mm512_and_si512(h, m);
  }
}
// Chunk c's bits as bytes `value` (0 where the bit is clear).
template <int C>
PHX_INLINE __m512i OneBit(const uint8_t* unit, char value) {
  return _mm512_maskz_mov_epi8(LoadMask(unit + 8 * C), _mm512_set1_epi8(value));
}

// Per type: the group size, how a chunk's bytes are made and which sum starts a group: zero,
// or the activation group's corr (-128 * sum(q), over 16 or 32 values), which makes up for
// the chunk bytes being value + 128 (IQ4_XS, Q6_K). Q3_K multiplies its codes as they are
// (low + 4 high = value + 4) from corr >> kSeedShift = -4 * sum(q) (exact: corr is a multiple
// of 128), one add per chunk fewer: 2-3% with the weights in cache. (Q6_K, the same way from
// corr >> 2, measured no faster. Nor did a Q6_K chunk made by one bit select, vpternlogd, of
// the unmasked nibbles and the 2-bit fields masked in pairs (0x33 / 0xCC) so that no bits sit
// above them after the shift: 1.05-1.2x at M = 1 with the weights in cache, but 1.01x end to
// end and 0.94-0.97x at M = 16. Q3_K and Q5_K with a masked byte add in place of OneBit and
// the or: 0.77-1.31x, either way.)
enum class Init { kZero, kCorr16, kCorr32 };

template <DType T>
struct Traits;

template <>
struct Traits<DType::kQ4_K> {
  static constexpr int kGroup = 32;
  static constexpr Init kInit = Init::kZero;
  static constexpr bool kMins = true;
  template <int C>
  static PHX_INLINE __m512i Chunk(const uint8_t* sb, int u) {
    return Nibble<C>(sb + kKQuants + u * kNibbleUnitBytes);
  }
  static PHX_INLINE __m512i Scale(const uint8_t* sb, int g) {
    return _mm512_cvtepu8_epi32(Load128(sb + kKHdrScales + 16 * g));
  }
  static PHX_INLINE __m512i MinPair(const uint8_t* sb, int u) {  // (m_u, m_u) per row
    const __m512i m = _mm512_cvtepu8_epi32(Load128(sb + kKHdrMins + 16 * u));
    return _mm512_or_si512(m, _mm512_slli_epi32(m, 16));
  }
};

template <>
struct Traits<DType::kQ5_K> : Traits<DType::kQ4_K> {
  template <int C>
  static PHX_INLINE __m512i Chunk(const uint8_t* sb, int u) {
    return _mm512_or_si512(
        Nibble<C>(sb + kKQuants + u * kNibbleUnitBytes),
        OneBit<C>(sb + kKQuants + 8 * kNibbleUnitBytes + u * kOneBitUnitBytes, 0x10));
  }
};

template <>
struct Traits<DType::kQ6_K> {
  static constexpr int kGroup = 16;
  static constexpr Init kInit = Init::kCorr16;
  static constexpr int kSeedShift = 0;
  static constexpr bool kMins = false;
  template <int C>
  static PHX_INLINE __m512i Chunk(const uint8_t* sb, int u) {  // (q - 32) + 128
    const __m512i lo = Nibble<C>(sb + kKQuants + u * kNibbleUnitBytes);
    const __m512i hi = TwoBit<C, 4>(sb + kKQuants + 8 * kNibbleUnitBytes + u * kTwoBitUnitBytes);
    return _mm512_add_epi8(_mm512_or_si512(lo, hi), _mm512_set1_epi8(96));
  }
  static PHX_INLINE __m512i Scale(const uint8_t* sb, int g) {
    return _mm512_cvtepi8_epi32(Load128(sb + kKHdrIScales + 16 * g));
  }
  static PHX_INLINE __m512i MinPair(const uint8_t*, int) { return _mm512_setzero_si512(); }
};

template <>
struct Traits<DType::kQ3_K> : Traits<DType::kQ6_K> {
  static constexpr int kSeedShift = 5;
  template <int C>
  static PHX_INLINE __m512i Chunk(const uint8_t* sb, int u) {  // low + 4 high = value + 4
    const __m512i lo = TwoBit<C, 0>(sb + kKQuants + u * kTwoBitUnitBytes);
    const __m512i hi = OneBit<C>(sb + kKQuants + 8 * kTwoBitUnitBytes + u * kOneBitUnitBytes, 4);
    return _mm512_or_si512(lo, hi);
  }
};

template <>
struct Traits<DType::kQ2_K> {
  static constexpr int kGroup = 16;
  static constexpr Init kInit = Init::kZero;
  static constexpr bool kMins = true;
  template <int C>
  static PHX_INLINE __m512i Chunk(const uint8_t* sb, int u) {
    return TwoBit<C, 0>(sb + kKQuants + u * kTwoBitUnitBytes);
  }
  static PHX_INLINE __m512i Scale(const uint8_t* sb, int g) {
    return _mm512_and_si512(_mm512_cvtepu8_epi32(Load128(sb + kKHdrScales + 16 * g)),
                            _mm512_set1_epi32(15));
  }
  static PHX_INLINE __m512i MinPair(const uint8_t* sb, int u) {  // (m_2u, m_2u+1) per row
    const __m512i a =
        _mm512_srli_epi32(_mm512_cvtepu8_epi32(Load128(sb + kKHdrScales + 32 * u)), 4);
    const __m512i b =
        _mm512_srli_epi32(_mm512_cvtepu8_epi32(Load128(sb + kKHdrScales + 32 * u + 16)), 4);
    return _mm512_or_si512(a, _mm512_slli_epi32(b, 16));
  }
};

template <>
struct Traits<DType::kIQ4_XS> {
  static constexpr int kGroup = 32;
  static constexpr Init kInit = Init::kCorr32;
  static constexpr bool kMins = false;
  template <int C>
  static PHX_INLINE __m512i Chunk(const uint8_t* sb, int u) {  // kIQ4NLValues[q] + 128
    const __m512i lut = _mm512_broadcast_i32x4(
        _mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103, -90, -75, -59, -39, -15));
    return _mm512_shuffle_epi8(lut, Nibble<C>(sb + kKQuantsIQ4XS + u * kNibbleUnitBytes));
  }
  static PHX_INLINE __m512i Scale(const uint8_t* sb, int g) {
    return _mm512_cvtepi8_epi32(Load128(sb + kKHdrIScales + 16 * g));
  }
  static PHX_INLINE __m512i MinPair(const uint8_t*, int) { return _mm512_setzero_si512(); }
};

// Chunks [C0, C0 + N) of unit u into s[0..RM).
static_assert(kKPanelRows == 8, "tile16::PanelOff's panel rows");

template <DType T, int RM, int C0, int N, int PR>
PHX_INLINE void Chunks(const uint8_t* sb, const uint8_t* pb, int u, __m512i (&s)[RM]) {
  if constexpr (N > 0) {
    const __m512i w = Traits<T>::template Chunk<C0>(sb, u);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      s[m] = tile16::DpbusdBcast(s[m], w, pb + 4 * (PR * (8 * u + C0) + m));
    }
    Chunks<T, RM, C0 + 1, N - 1, PR>(sb, pb, u, s);
  }
}

// One group (kGroup values, starting at chunk C0 of unit u) into acc.
template <DType T, int RM, int C0, int PR>
PHX_INLINE void Group(const uint8_t* sb, const uint8_t* pb, int u, __m512i (&acc)[RM]) {
  using Tr = Traits<T>;
  constexpr int g_per_u = 32 / Tr::kGroup;
  const int g = u * g_per_u + C0 / 4 * (g_per_u - 1);
  __m512i s[RM];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    if constexpr (Tr::kInit == Init::kCorr16) {
      s[m] = Bcast(pb + tile16::PanelOff<PR>(kKPanelCorr16) + 4 * (PR * g + m));
      if constexpr (Tr::kSeedShift > 0) {
        s[m] = _mm512_srai_epi32(s[m], Tr::kSeedShift);
      }
    } else if constexpr (Tr::kInit == Init::kCorr32) {
      s[m] = Bcast(pb + tile16::PanelOff<PR>(kKPanelCorr32) + 4 * (PR * u + m));
    } else {
      s[m] = _mm512_setzero_si512();
    }
  }
  Chunks<T, RM, C0, Tr::kGroup / 4, PR>(sb, pb, u, s);
  const __m512i sc = Tr::Scale(sb, g);
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    acc[m] = _mm512_add_epi32(acc[m], _mm512_mullo_epi32(s[m], sc));
  }
}

// How far ahead a super-block's lines are software-prefetched, and where to (A/B in
// docs/benchmarks.md section 1). Decode (at most 4 activation rows) of Q4_K, IQ4_XS and Q2_K:
// not at all. Their super-blocks are read in address order, one stream per thread, which the
// hardware prefetchers feed best alone (a prefetch one super-block ahead into L1 ran them
// 0.83-0.96x as fast at M = 1). Decode of Q6_K and Q5_K, the largest super-blocks: 6 KiB ahead
// into L2 (T1), leaving L1 to the hardware prefetcher (with none, their two regions read side
// by side ran at 7-10 GB/s). Q3_K (two regions too) and every batched call: one super-block
// ahead into L1 (batched calls, whose 16-row tile of two panels reuses each super-block from
// L1, ran 3-11% slower with the far L2 prefetch).
enum class Ahead { kNone, kL1, kL2 };
template <DType T, int RM>
constexpr Ahead kAhead = RM > tile16::kDecodeRows ? Ahead::kL1
                         : (T == DType::kQ4_K || T == DType::kIQ4_XS || T == DType::kQ2_K)
                             ? Ahead::kNone
                         : (T == DType::kQ6_K || T == DType::kQ5_K) ? Ahead::kL2
                                                                    : Ahead::kL1;
template <DType T, int RM>
constexpr int64_t kAheadBytes = kAhead<T, RM> == Ahead::kL2 ? 6144 : KSuperBytes(T);

// f[m] += row m of the panel super-block `pb` times the 16 rows of super-block `sb`.
// `ahead`: a later super-block of the group, whose lines the units prefetch a few at a time
// (all at once would fill the miss buffers and stall; decode streams the whole model).
template <DType T, int RM, int PR = kKPanelRows>
PHX_INLINE void SuperBlock(const uint8_t* sb, const uint8_t* pb, const char* ahead,
                           __m512 (&f)[RM]) {
  using Tr = Traits<T>;
  constexpr int kLines = static_cast<int>(KSuperBytes(T) / 64);
  __m512i acc[RM];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    acc[m] = _mm512_setzero_si512();
  }
  for (int u = 0; u < 8; ++u) {
    for (int l = u * kLines / 8; l < (u + 1) * kLines / 8; ++l) {
      if constexpr (kAhead<T, RM> == Ahead::kL2) {
        _mm_prefetch(ahead + 64 * l, _MM_HINT_T1);
      } else if constexpr (kAhead<T, RM> == Ahead::kL1) {
        _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
      }
    }
    Group<T, RM, 0, PR>(sb, pb, u, acc);
    if constexpr (Tr::kGroup == 16) {
      Group<T, RM, 4, PR>(sb, pb, u, acc);
    }
  }
  const __m512 d = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sb)));
  __m512 dx[RM];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    dx[m] = _mm512_set1_ps(LoadF(pb + tile16::PanelOff<PR>(kKPanelD) + 4 * m));
    f[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[m]), _mm512_mul_ps(d, dx[m]), f[m]);
  }
  if constexpr (Tr::kMins) {
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      acc[m] = _mm512_setzero_si512();
    }
    for (int u = 0; u < 8; ++u) {
      const __m512i mp = Tr::MinPair(sb, u);
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) {
        acc[m] = _mm512_dpwssd_epi32(
            acc[m], mp, Bcast(pb + tile16::PanelOff<PR>(kKPanelSums) + 4 * (PR * u + m)));
      }
    }
    const __m512 ndmin = _mm512_sub_ps(
        _mm512_setzero_ps(),
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(sb + 32))));
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      f[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[m]), _mm512_mul_ps(ndmin, dx[m]), f[m]);
    }
  }
}

// Super-blocks [s0, s1) of G groups (`gap` bytes apart) against the first RM rows of one
// panel: f[g * RM + m], in memory between calls (a 16-row tile keeps two panels' sums).
template <DType T, int RM, int PR = kKPanelRows, int G = 1>
void Range(const uint8_t* group, const uint8_t* panel, int64_t s0, int64_t s1, __m512* facc,
           int64_t gap = 0) {
  __m512 f[G][RM];
  PHX_UNROLL
  for (int m = 0; m < G * RM; ++m) {
    f[m / RM][m % RM] = facc[m];
  }
  constexpr int64_t sbb = KSuperBytes(T);
  for (int64_t s = s0; s < s1; ++s) {
    PHX_UNROLL
    for (int g = 0; g < G; ++g) {
      const uint8_t* sb = group + g * gap + s * sbb;
      SuperBlock<T, RM, PR>(sb, panel + s * tile16::PanelOff<PR>(kKPanelSuperBytes),
                            reinterpret_cast<const char*>(sb + kAheadBytes<T, RM>), f[g]);
    }
  }
  PHX_UNROLL
  for (int m = 0; m < G * RM; ++m) {
    facc[m] = f[m / RM][m % RM];
  }
}

// Decode of one row in two streams (tile16::OneRow's pairs: group i of each half of the
// range side by side), for the types it speeds up. Paired at M = 1 on the 1B FFN shapes,
// streaming (docs/benchmarks.md section 1): Q3_K 1.22-1.46x, Q6_K 0.99-1.20x (each with its
// prefetch above; 0.96-0.98x with the weights in cache); not kept for Q5_K (0.81-0.93x) nor
// Q2_K, Q4_K and IQ4_XS (0.83-1.13x, as often slower as faster).
template <DType T>
constexpr bool kPairDecode = T == DType::kQ3_K || T == DType::kQ6_K;

template <DType T>
using RangeFn = void (*)(const uint8_t*, const uint8_t*, int64_t, int64_t, __m512*, int64_t);

template <DType T>
constexpr RangeFn<T> kRanges[kKPanelRows + 1] = {nullptr,     Range<T, 1>, Range<T, 2>,
                                                 Range<T, 3>, Range<T, 4>, Range<T, 5>,
                                                 Range<T, 6>, Range<T, 7>, Range<T, 8>};

template <DType T>
void Gemm(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* scratch) {
  constexpr int64_t P = kKPanelRows;
  constexpr int64_t kPairSupers = 2;  // super-blocks per step of a two-panel tile
  const int64_t supers = a.K / 256;
  const auto one = [supers](const uint8_t* group, const uint8_t* row, __m512* f) {
    Range<T, 1, 1>(group, row, 0, supers, f);
  };
  const auto pair = [&] {  // nullptr: one stream
    if constexpr (kPairDecode<T>) {
      return [supers](const uint8_t* group, int64_t gap, const uint8_t* row, __m512* f) {
        Range<T, 1, 1, 2>(group, row, 0, supers, f, gap);
      };
    } else {
      return nullptr;
    }
  }();
  if (m1 - m0 == 1 &&
      tile16::OneRow<P>(a, n0, n1, m0, supers * kKPanelSuperBytes, scratch, one, pair)) {
    return;
  }
  tile16::Gemm<P, kPairSupers>(
      a, n0, n1, m0, m1, supers,
      [](const uint8_t* group, const uint8_t* panel, int64_t s0, int64_t s1, __m512* f) {
        Range<T, P>(group, panel, s0, s1, f);
      },
      [](int rm, const uint8_t* group, const uint8_t* panel, int64_t s0, int64_t s1, __m512* f) {
        kRanges<T>[rm](group, panel, s0, s1, f, 0);
      });
}

}  // namespace

// y[m0:m1, n0:n1] with a.w the Kx16 copy (a.w_pitch = KGroupBytes) and a.act the K panels
// (a.act_pitch = KPanelBytes(K)); n0 % 16 == 0, m0 % 8 == 0.
void GemmKx16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* scratch) {
  switch (a.wtype) {
    case DType::kQ2_K:
      return Gemm<DType::kQ2_K>(a, n0, n1, m0, m1, scratch);
    case DType::kQ3_K:
      return Gemm<DType::kQ3_K>(a, n0, n1, m0, m1, scratch);
    case DType::kQ4_K:
      return Gemm<DType::kQ4_K>(a, n0, n1, m0, m1, scratch);
    case DType::kQ5_K:
      return Gemm<DType::kQ5_K>(a, n0, n1, m0, m1, scratch);
    case DType::kQ6_K:
      return Gemm<DType::kQ6_K>(a, n0, n1, m0, m1, scratch);
    case DType::kIQ4_XS:
      return Gemm<DType::kIQ4_XS>(a, n0, n1, m0, m1, scratch);
    default:
      return;
  }
}

}  // namespace phx::ops::cpu::avx512
