// AVX-512 VNNI matmul over Q8_0 weights repacked to the Q8x16 layout (packed_formats.h):
// 16 weight rows per 512-bit register, one row per 32-bit lane. Per block of 32 values and
// activation row, eight vpdpbusd (each a 64-byte weight chunk against 4 activation bytes
// broadcast to every lane) leave the 16 rows' integer dot products in one register, which
// one conversion and one FMA scale by d_w[row] * d_x into the row tile's f32 sums. No
// horizontal reductions and no per-row weight decoding: the loop is bound by the vpdpbusd, the
// broadcast loads and the per-block float ops (convert, scale product, FMA: three per eight
// vpdpbusd), where the direct Q8_0 tiles spend most of their time unpacking blocks and
// reducing lanes.
//
// Activations come in 8-row panels (packed_formats.h), so a tile's broadcasts all sit at
// constant offsets from one pointer and the eight rows' sums stay in registers. Sixteen rows
// (two panels) run together, K a few blocks at a time: the blocks that the first panel pulls
// from memory are reused from L1 by the second at once, and the second spends its time on
// arithmetic while the first one's prefetches are in flight. Decode (one activation row)
// reads a compact copy of its row (tile16::OneRow) and streams each group with no software
// prefetch.
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/tile16_avx512.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {
namespace {

// Batched tiles prefetch the weight blocks this far ahead (the 16-row tile spends long enough
// on each block that the hardware streamer alone leaves its first loads waiting). Decode (at
// most kDecodeRows activation rows) prefetches nothing: it reads each group as one sequential
// stream, which the hardware prefetchers alone follow faster (measured on the EPYC: software
// prefetches, at any distance, slowed a sequential GEMV stream).
constexpr int64_t kPrefetchBlocks = 8;
using tile16::kDecodeRows;
// Blocks per step of the 16-row tile: both panels meet them while they are in L1.
constexpr int64_t kPairBlocks = 4;

using tile16::Load32;
using tile16::LoadF;

// Which lines of the block kPrefetchBlocks ahead a pass asks for (a block and its scales: 8.5
// lines on average).
enum class Prefetch { kNone, kAll, kFirstHalf, kSecondHalf };

// f[0..RM) += blocks [b0, b1) of one panel's first RM rows against the 16 rows of one group.
// PR: rows of the activation panel (kQ8x16PanelRows, or 1 for decode's compact copy of one
// row: tile16::OneRow).
static_assert(kQ8x16PanelRows == 8, "tile16::PanelOff's panel rows");
template <int RM, Prefetch kPf, int PR = kQ8x16PanelRows>
inline void Q8x16Blocks(const uint8_t* panel, const uint8_t* group, int64_t b0, int64_t b1,
                        __m512 (&f)[RM]) {
  for (int64_t b = b0; b < b1; ++b) {
    const uint8_t* qb = group + Q8x16QuantOffset(b);
    const uint8_t* pb = panel + b * tile16::PanelOff<PR>(kQ8x16PanelBlockBytes);
    if constexpr (kPf != Prefetch::kNone) {
      const char* ahead = reinterpret_cast<const char*>(qb) + kPrefetchBlocks * kQ8x16UnitBytes / 2;
      constexpr int l0 = kPf == Prefetch::kSecondHalf ? 4 : 0;
      constexpr int l1 = kPf == Prefetch::kFirstHalf ? 4 : 9;
      PHX_UNROLL
      for (int l = l0; l < l1; ++l) {
        _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
      }
    }
    __m512i s[RM];
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {  // -128 * sum(q): undoes the + 128 of the weights
      s[m] = _mm512_set1_epi32(Load32(pb + tile16::PanelOff<PR>(kQ8x16PanelCorrOffset) + 4 * m));
    }
    PHX_UNROLL
    for (int c = 0; c < 8; ++c) {
      const __m512i w = _mm512_load_si512(qb + 64 * c);
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) {
        const int32_t a = Load32(pb + 4 * (PR * c + m));
        s[m] = _mm512_dpbusd_epi32(s[m], w, _mm512_set1_epi32(a));
      }
    }
    const __m512 wd = _mm512_cvtph_ps(
        _mm256_load_si256(reinterpret_cast<const __m256i*>(group + Q8x16ScaleOffset(b))));
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const __m512 dx =
          _mm512_set1_ps(LoadF(pb + tile16::PanelOff<PR>(kQ8x16PanelDOffset) + 4 * m));
      f[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[m]), _mm512_mul_ps(wd, dx), f[m]);
    }
  }
}

// y[m][0..ncols) for the first RM rows of one panel and the 16 rows of one group.
template <int RM>
void Q8x16Tile(const uint8_t* panel, const uint8_t* group, int64_t nb, float* y, int64_t yp,
               int ncols, const float* bias) {
  __m512 f[RM];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    f[m] = _mm512_setzero_ps();
  }
  Q8x16Blocks<RM, RM <= kDecodeRows ? Prefetch::kNone : Prefetch::kAll>(panel, group, 0, nb, f);
  tile16::Store(f, RM, y, yp, ncols, bias);
}

// The same for 16 rows: two full panels, kPairBlocks blocks at a time, each pass issuing half
// of the prefetches so they spread over the step.
void Q8x16Tile16(const uint8_t* panel0, const uint8_t* panel1, const uint8_t* group, int64_t nb,
                 float* y, int64_t yp, int ncols, const float* bias) {
  __m512 f0[8], f1[8];
  PHX_UNROLL
  for (int m = 0; m < 8; ++m) {
    f0[m] = f1[m] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < nb; b += kPairBlocks) {
    const int64_t e = std::min(nb, b + kPairBlocks);
    Q8x16Blocks<8, Prefetch::kFirstHalf>(panel0, group, b, e, f0);
    Q8x16Blocks<8, Prefetch::kSecondHalf>(panel1, group, b, e, f1);
  }
  tile16::Store(f0, 8, y, yp, ncols, bias);
  tile16::Store(f1, 8, y + 8 * yp, yp, ncols, bias);
}

using TileFn = void (*)(const uint8_t*, const uint8_t*, int64_t, float*, int64_t, int,
                        const float*);
constexpr TileFn kTiles[kQ8x16PanelRows + 1] = {nullptr,      Q8x16Tile<1>, Q8x16Tile<2>,
                                                Q8x16Tile<3>, Q8x16Tile<4>, Q8x16Tile<5>,
                                                Q8x16Tile<6>, Q8x16Tile<7>, Q8x16Tile<8>};

}  // namespace

// y[m0:m1, n0:n1] with a.w the Q8x16 copy (a.w_pitch = Q8x16GroupBytes(K)) and a.act the
// activation panels (a.act_pitch = Q8x16PanelBytes(K)); n0 % 16 == 0, m0 % 8 == 0.
// Activation rows go in blocks that stay in L2 while every group of the task sweeps them;
// a group (16 rows x K) stays in L1/L2 across the block's tiles.
void GemmQ8x16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
               uint8_t* scratch) {
  constexpr int64_t kMBlock = 64;
  constexpr int64_t P = kQ8x16PanelRows;
  const int64_t nb = a.K / 32;
  if (m1 - m0 == 1 && tile16::OneRow<P>(a, n0, n1, m0, nb * kQ8x16PanelBlockBytes, scratch,
                                        [nb](const uint8_t* group, const uint8_t* row, __m512* f) {
                                          __m512 g[1] = {*f};
                                          Q8x16Blocks<1, Prefetch::kNone, 1>(row, group, 0, nb, g);
                                          *f = g[0];
                                        })) {
    return;
  }
  for (int64_t mb = m0; mb < m1; mb += kMBlock) {
    const int64_t me = std::min(m1, mb + kMBlock);
    for (int64_t n = n0; n < n1; n += kQ8x16Rows) {
      const int ncols = static_cast<int>(std::min<int64_t>(kQ8x16Rows, n1 - n));
      const uint8_t* group = a.w + (n / kQ8x16Rows) * a.w_pitch;
      const float* bias = a.bias ? a.bias + n : nullptr;
      int64_t m = mb;
      for (; m + 2 * P <= me; m += 2 * P) {
        const uint8_t* panel = a.act + (m / P) * a.act_pitch;
        Q8x16Tile16(panel, panel + a.act_pitch, group, nb, a.y + m * a.y_pitch + n, a.y_pitch,
                    ncols, bias);
      }
      for (; m < me; m += P) {
        const int rm = static_cast<int>(std::min(P, me - m));
        kTiles[rm](a.act + (m / P) * a.act_pitch, group, nb, a.y + m * a.y_pitch + n, a.y_pitch,
                   ncols, bias);
      }
    }
  }
}

}  // namespace phx::ops::cpu::avx512
