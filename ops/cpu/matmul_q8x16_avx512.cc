// AVX-512 VNNI matmul over Q8_0 weights repacked to the Q8x16 layout (packed_formats.h):
// 16 weight rows per 512-bit register, one row per 32-bit lane. Per block of 32 values and
// activation row, eight vpdpbusd (each a 64-byte weight chunk against 4 activation bytes
// broadcast to every lane) leave the 16 rows' integer dot products in one register, which
// one conversion and one FMA scale by d_w[row] * d_x into the row tile's f32 sums. No
// horizontal reductions and no per-row weight decoding: the loop is vpdpbusd-bound, where the
// direct Q8_0 tiles spend most of their time unpacking blocks and reducing lanes.
//
// Activations are QuantizeActQ8x16 rows (packed_formats.h): q[K] | d[nb] | corr[nb].
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {
namespace {

// Weight blocks prefetched this far ahead (the hardware streamer alone leaves the first
// loads of each block waiting on memory when a step streams the whole model).
constexpr int64_t kPrefetchBlocks = 8;

inline int32_t Load32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// y[m][0..ncols) = sum over blocks for RM activation rows and the 16 rows of one group.
template <int RM>
void Q8x16Tile(const uint8_t* act, int64_t ap, const uint8_t* group, int64_t nb,
               int64_t scale_bytes, float* y, int64_t yp, int ncols, const float* bias) {
  const int64_t K = 32 * nb;
  __m512 f[RM];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) f[m] = _mm512_setzero_ps();
  const uint8_t* quants = group + scale_bytes;
  for (int64_t b = 0; b < nb; ++b) {
    const uint8_t* qb = quants + b * kQ8x16BlockQuantBytes;
    const char* ahead = reinterpret_cast<const char*>(qb) + kPrefetchBlocks * kQ8x16BlockQuantBytes;
    PHX_UNROLL
    for (int l = 0; l < 8; ++l) _mm_prefetch(ahead + 64 * l, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(group) + (b + kPrefetchBlocks) * 32, _MM_HINT_T0);
    const __m512 wd =
        _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(group + b * 32)));
    __m512i w[8];
    PHX_UNROLL
    for (int c = 0; c < 8; ++c) w[c] = _mm512_load_si512(qb + 64 * c);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const uint8_t* a = act + m * ap + 32 * b;
      const uint8_t* ad = act + m * ap + K + 4 * b;
      // Two chains of four so consecutive vpdpbusd do not wait on each other's result.
      __m512i s0 = _mm512_set1_epi32(Load32(ad + 4 * nb));  // -128 * sum(q): undoes the + 128
      __m512i s1 = _mm512_setzero_si512();
      PHX_UNROLL
      for (int c = 0; c < 8; c += 2) {
        s0 = _mm512_dpbusd_epi32(s0, w[c], _mm512_set1_epi32(Load32(a + 4 * c)));
        s1 = _mm512_dpbusd_epi32(s1, w[c + 1], _mm512_set1_epi32(Load32(a + 4 * c + 4)));
      }
      float dx;
      std::memcpy(&dx, ad, 4);
      f[m] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                             _mm512_mul_ps(wd, _mm512_set1_ps(dx)), f[m]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << ncols) - 1);
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) _mm512_mask_storeu_ps(y + m * yp, mask, _mm512_add_ps(f[m], bv));
}

using TileFn = void (*)(const uint8_t*, int64_t, const uint8_t*, int64_t, int64_t, float*, int64_t,
                        int, const float*);
constexpr int kRM = 8;
constexpr TileFn kTiles[kRM + 1] = {nullptr,      Q8x16Tile<1>, Q8x16Tile<2>,
                                    Q8x16Tile<3>, Q8x16Tile<4>, Q8x16Tile<5>,
                                    Q8x16Tile<6>, Q8x16Tile<7>, Q8x16Tile<8>};

}  // namespace

// y[m0:m1, n0:n1] with a.w the Q8x16 copy (a.w_pitch = Q8x16GroupBytes(K)); n0 % 16 == 0.
// Activation rows go in blocks that stay in L2 while every group of the task sweeps them;
// a group (16 rows x K) stays in L1 across the block's tiles.
void GemmQ8x16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t*) {
  constexpr int64_t kMBlock = 64;
  const int64_t nb = a.K / 32, scale_bytes = Q8x16ScaleBytes(a.K);
  for (int64_t mb = m0; mb < m1; mb += kMBlock) {
    const int64_t me = std::min(m1, mb + kMBlock);
    for (int64_t n = n0; n < n1; n += kQ8x16Rows) {
      const int ncols = static_cast<int>(std::min<int64_t>(kQ8x16Rows, n1 - n));
      const uint8_t* group = a.w + (n / kQ8x16Rows) * a.w_pitch;
      for (int64_t m = mb; m < me; m += kRM) {
        const int rm = static_cast<int>(std::min<int64_t>(kRM, me - m));
        kTiles[rm](a.act + m * a.act_pitch, a.act_pitch, group, nb, scale_bytes,
                   a.y + m * a.y_pitch + n, a.y_pitch, ncols, a.bias ? a.bias + n : nullptr);
      }
    }
  }
}

}  // namespace phx::ops::cpu::avx512
