// BF16 weights with AVX-512 BF16 (vdpbf16ps), on CPUs that have it (AMD Zen 4, Intel Cooper
// Lake and later): the activations are rounded to bf16 once per matmul (as llama.cpp does for
// BF16 weights) and each vdpbf16ps multiplies 32 bf16 pairs into 16 f32 sums, twice the work of
// an f32 FMA. The weights are read from PrepareMatmul's 64-row group copy, or from the file
// where there is none (PHX_CPU_COPY_FLOAT=0, PHX_CPU_REPACK=0, expert slices).
//
// One summation order per output element, whatever M or the thread split (batch invariance by
// construction, as matmul_float_panel_avx512.cc): output n is lane n % 64 of a 64-column panel
// of pair-interleaved weights (pair p = 64 columns x (w[2p], w[2p + 1]) as 32-bit units, 256
// bytes); within each K block of kKc values it is one chain of vdpbf16ps over the block's
// ceil(kc / 2) pairs in order, and the blocks are combined in order (y = block 0 + bias, then
// y += each next block). The microkernel: RM <= 6 activation rows x 64 columns = 4 * RM zmm
// accumulators; per pair 4 panel loads and RM broadcast activation pairs feed 4 * RM vdpbf16ps,
// with no horizontal reduction and the outputs stored as whole vectors. The panel comes from:
// - the 64-row group layout PrepareMatmul writes at load (repack_formats.h: the same pairs),
//   read in place (GemmBf16Groups; decode reads each group as one sequential stream);
// - weights where they lie (GemmBf16): each task packs 64 rows x kKc values into scratch
//   (transposed, K tail as zeros), kept in L2 while its activation rows stream past.
// Activation rows are bf16, padded with zeros to a multiple of 32 values.
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/repack_formats.h"
#include "ops/cpu/transpose_avx512.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {

// One activation row as bf16 (round to nearest even, subnormals to zero as vdpbf16ps reads
// them), padded with zeros to BF16ActRowBytes(K).
void QuantizeActBf16(const float* x, int64_t K, uint8_t* out) {
  int64_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(x + k));
    _mm512_storeu_si512(out + 2 * k, reinterpret_cast<__m512i>(v));
  }
  if (k < K) {
    const int64_t n = K - k;
    const __mmask16 lo = static_cast<__mmask16>(n >= 16 ? 0xFFFF : (1u << n) - 1);
    const __mmask16 hi = static_cast<__mmask16>(n <= 16 ? 0 : (1u << (n - 16)) - 1);
    const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + k + 16),
                                           _mm512_maskz_loadu_ps(lo, x + k));
    _mm512_storeu_si512(out + 2 * k, reinterpret_cast<__m512i>(v));
  }
}

namespace {

constexpr int kPanelCols = kFloatGroupRows;  // weight rows per panel: 4 zmm of 16 columns
constexpr int kPanelRM = 6;                  // activation rows per microkernel tile
constexpr int64_t kKc = kFloatKBlock;        // K block in values (a multiple of 32)
static_assert(kPanelCols == 64 && kKc % 32 == 0);
constexpr int64_t kPanelPairBytes = 4 * kPanelCols;
static_assert(kKc / 2 * kPanelPairBytes <= kGemmScratchBytes);

// Packs values [k0, k0 + kc) of `rows` (<= kPanelCols) weight rows into a panel of
// ceil(kc / 32) * 16 pairs; missing rows and values past K are zeros.
void PackPanel(const uint8_t* w, int64_t pitch, int rows, int64_t k0, int64_t kc, int64_t K,
               uint8_t* panel) {
  for (int g = 0; g < kPanelCols / 16; ++g) {
    for (int64_t k = 0; k < kc; k += 32) {
      const int64_t left = K - (k0 + k);
      const __mmask32 mask = left >= 32 ? 0xFFFFFFFFu : static_cast<__mmask32>((1ull << left) - 1);
      __m512i r[16];
      PHX_UNROLL
      for (int i = 0; i < 16; ++i) {
        const int row = 16 * g + i;
        r[i] = row < rows ? _mm512_maskz_loadu_epi16(mask, w + row * pitch + 2 * (k0 + k))
                          : _mm512_setzero_si512();
      }
      Transpose16x16(r);
      uint8_t* out = panel + (k / 2) * kPanelPairBytes + 64 * g;
      PHX_UNROLL
      for (int i = 0; i < 16; ++i) _mm512_store_si512(out + i * kPanelPairBytes, r[i]);
    }
  }
}

// y[0:RM, 0:ncols] (+)= act[0:RM] . panel over np pairs: accumulate ? y += tile : y = tile +
// bias.
template <int RM>
void PanelTile(const uint8_t* act, int64_t ap, const uint8_t* panel, int64_t np, float* y,
               int64_t yp, int ncols, const float* bias, bool accumulate) {
  __m512 c[RM][4];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) c[m][g] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < np; ++p) {
    const uint8_t* wp = panel + p * kPanelPairBytes;
    __m512bh wv[4];
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) {
      wv[g] = reinterpret_cast<__m512bh>(_mm512_load_si512(wp + 64 * g));
    }
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      int32_t pair;
      std::memcpy(&pair, act + m * ap + 4 * p, 4);
      const auto xv = reinterpret_cast<__m512bh>(_mm512_set1_epi32(pair));
      PHX_UNROLL
      for (int g = 0; g < 4; ++g) c[m][g] = _mm512_dpbf16_ps(c[m][g], wv[g], xv);
    }
  }
  StoreTile<RM>(c, y, yp, ncols, bias, accumulate);
}

using PanelTileFn = void (*)(const uint8_t*, int64_t, const uint8_t*, int64_t, float*, int64_t, int,
                             const float*, bool);
constexpr PanelTileFn kPanelTiles[kPanelRM + 1] = {
    nullptr, PanelTile<1>, PanelTile<2>, PanelTile<3>, PanelTile<4>, PanelTile<5>, PanelTile<6>};

// Rows [m0, m1) of y[:, n : n + ncols] for K block k0 (kc values) whose pairs are `panel`.
void Sweep(const GemmArgs& a, const uint8_t* panel, int64_t n, int ncols, int64_t k0, int64_t kc,
           int64_t m0, int64_t m1) {
  const int64_t np = (kc + 1) / 2;  // the same pairs on both paths (odd K: a zero high half)
  for (int64_t m = m0; m < m1; m += kPanelRM) {
    const int rm = static_cast<int>(std::min<int64_t>(kPanelRM, m1 - m));
    kPanelTiles[rm](a.act + m * a.act_pitch + 2 * k0, a.act_pitch, panel, np,
                    a.y + m * a.y_pitch + n, a.y_pitch, ncols, a.bias ? a.bias + n : nullptr,
                    k0 > 0);
  }
}

}  // namespace

// y[m0:m1, n0:n1] for BF16 weights (a.w rows of a.w_pitch bytes) and bf16 activation rows
// (a.act, a.act_pitch = BF16ActRowBytes(K)).
void GemmBf16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* scratch) {
  for (int64_t n = n0; n < n1; n += kPanelCols) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanelCols, n1 - n));
    for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
      const int64_t kc = std::min(kKc, a.K - k0);
      PackPanel(a.w + n * a.w_pitch, a.w_pitch, ncols, k0, kc, a.K, scratch);
      Sweep(a, scratch, n, ncols, k0, kc, m0, m1);
    }
  }
}

// The same from the 64-row group layout (a.w the copy, a.w_pitch = FloatGroupBytes, n0 % 64 ==
// 0): each K block's pairs are read in place.
void GemmBf16Groups(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t*) {
  for (int64_t n = n0; n < n1; n += kPanelCols) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanelCols, n1 - n));
    const uint8_t* group = a.w + (n / kPanelCols) * a.w_pitch;
    for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
      Sweep(a, group + (k0 / 2) * kPanelPairBytes, n, ncols, k0, std::min(kKc, a.K - k0), m0, m1);
    }
  }
}

}  // namespace phx::ops::cpu::avx512
