// F32/F16 (and BF16 where the CPU lacks AVX-512 BF16) weights, prefill shapes (AVX-512): the
// task packs a panel of 64 weight rows x kKc values into scratch as f32, transposed (panel row
// k = 64 columns of value k, 256 bytes; F16 converted with vcvtph2ps while packing), and sweeps it
// with an outer-product microkernel: 6 activation rows x 64 columns = 24 zmm accumulators; per
// value 4 panel loads and 6 broadcast activations feed 24 FMAs, with no horizontal reduction and
// whole-vector stores. The panel (128 KiB) stays in L2 while every activation row of the task
// streams past it. Few activation rows keep the dot-product tiles of matmul_avx512.cc
// (GemmFloatDriver).
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "ops/cpu/kernels.h"
#include "ops/cpu/transpose_avx512.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {
namespace {

constexpr int kCols = 64;     // weight rows per panel: 4 zmm of 16 columns
constexpr int kRM = 6;        // activation rows per microkernel tile
constexpr int64_t kKc = 512;  // K block in values
constexpr int64_t kRowBytes = 4 * kCols;
static_assert(kKc * kRowBytes <= kGemmScratchBytes);

// Packs values [k0, k0 + kc) of `rows` (<= kCols) F32, F16 or BF16 weight rows; missing rows and
// values are zeros (the panel holds ceil(kc / 16) * 16 rows).
void PackPanel(const uint8_t* w, int64_t pitch, DType t, int rows, int64_t k0, int64_t kc,
               uint8_t* panel) {
  for (int g = 0; g < kCols / 16; ++g) {
    for (int64_t k = 0; k < kc; k += 16) {
      const int64_t left = kc - k;
      const __mmask16 mask = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
      __m512i r[16];
      PHX_UNROLL
      for (int i = 0; i < 16; ++i) {
        const int row = 16 * g + i;
        if (row >= rows) {
          r[i] = _mm512_setzero_si512();
        } else if (t == DType::kF16) {
          const __m256i h = _mm256_maskz_loadu_epi16(mask, w + row * pitch + 2 * (k0 + k));
          r[i] = _mm512_castps_si512(_mm512_cvtph_ps(h));
        } else if (t == DType::kBF16) {
          const __m256i h = _mm256_maskz_loadu_epi16(mask, w + row * pitch + 2 * (k0 + k));
          r[i] = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
        } else {
          r[i] = _mm512_maskz_loadu_epi32(mask, w + row * pitch + 4 * (k0 + k));
        }
      }
      Transpose16x16(r);
      uint8_t* out = panel + k * kRowBytes + 64 * g;
      PHX_UNROLL
      for (int i = 0; i < 16; ++i) _mm512_store_si512(out + i * kRowBytes, r[i]);
    }
  }
}

// y[0:RM, 0:ncols] (+)= x[0:RM, 0:kc] . panel: accumulate ? y += tile : y = tile + bias.
template <int RM>
void Tile(const float* x, int64_t xp, const uint8_t* panel, int64_t kc, float* y, int64_t yp,
          int ncols, const float* bias, bool accumulate) {
  __m512 c[RM][4];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) c[m][g] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    const auto* wp = reinterpret_cast<const float*>(panel + k * kRowBytes);
    __m512 wv[4];
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) wv[g] = _mm512_load_ps(wp + 16 * g);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const __m512 xv = _mm512_set1_ps(x[m * xp + k]);
      PHX_UNROLL
      for (int g = 0; g < 4; ++g) c[m][g] = _mm512_fmadd_ps(xv, wv[g], c[m][g]);
    }
  }
  StoreTile<RM>(c, y, yp, ncols, bias, accumulate);
}

using TileFn = void (*)(const float*, int64_t, const uint8_t*, int64_t, float*, int64_t, int,
                        const float*, bool);
constexpr TileFn kTiles[kRM + 1] = {nullptr, Tile<1>, Tile<2>, Tile<3>, Tile<4>, Tile<5>, Tile<6>};

}  // namespace

void GemmFloatPanel(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                    uint8_t* scratch) {
  const int64_t xp = a.act_pitch / 4;
  for (int64_t n = n0; n < n1; n += kCols) {
    const int ncols = static_cast<int>(std::min<int64_t>(kCols, n1 - n));
    for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
      const int64_t kc = std::min(kKc, a.K - k0);
      PackPanel(a.w + n * a.w_pitch, a.w_pitch, a.wtype, ncols, k0, kc, scratch);
      for (int64_t m = m0; m < m1; m += kRM) {
        const int rm = static_cast<int>(std::min<int64_t>(kRM, m1 - m));
        kTiles[rm](reinterpret_cast<const float*>(a.act) + m * xp + k0, xp, scratch, kc,
                   a.y + m * a.y_pitch + n, a.y_pitch, ncols, a.bias ? a.bias + n : nullptr,
                   k0 > 0);
      }
    }
  }
}

}  // namespace phx::ops::cpu::avx512
