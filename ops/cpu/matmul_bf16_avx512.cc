// BF16 weights with AVX-512 BF16 (vdpbf16ps), on CPUs that have it (AMD Zen 4, Intel Cooper
// Lake and later): the activations are rounded to bf16 once per matmul (as llama.cpp does for
// BF16 weights) and each vdpbf16ps multiplies 32 bf16 pairs into 16 f32 sums, twice the work of
// an f32 FMA. The weights stay where they are in the file (no copy: a BF16 model is large).
//
// Two paths:
// - Few activation rows (decode, small batches: < kPanelMinRows): dot-product tiles of RM
//   activation rows x 4 weight rows, 32 values per step, reduced once per tile; the weights are
//   read straight from their rows (each weight is used by few rows, so packing would not pay).
// - Prefill (>= kPanelMinRows rows): the task packs a panel of 64 weight rows x kKc values
//   into scratch, pair-interleaved (panel pair p = 64 columns x (w[k], w[k+1]) as 32-bit
//   units, 256 bytes), and sweeps it with an outer-product microkernel: 6 activation rows x 64
//   columns = 24 zmm accumulators; per pair 4 panel loads and 6 broadcast activation pairs feed
//   24 vdpbf16ps, with no horizontal reduction and the outputs stored as whole vectors. The
//   panel (64 KiB) stays in L2 while every activation row of the task streams past it.
// Activation rows are bf16, padded with zeros to a multiple of 32 values; the weights' K tail
// is read with a masked load (and packed as zeros).
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/transpose_avx512.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {
namespace {

constexpr int kRows = 4;  // weight rows per tile
constexpr int kRM = 6;    // activation rows per tile (24 accumulators)

template <int RM>
void Tile(const uint8_t* act, int64_t ap, const uint8_t* const* w, int64_t K, float* y, int64_t yp,
          int ncols, const float* bias) {
  __m512 c[RM][kRows];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int r = 0; r < kRows; ++r) c[m][r] = _mm512_setzero_ps();
  }
  const int64_t next_tile = 4 * (w[kRows - 1] - w[0]) / (kRows - 1);
  for (int64_t k = 0; k < K; k += 32) {
    const __mmask32 mask =
        K - k >= 32 ? 0xFFFFFFFFu : static_cast<__mmask32>((1ull << (K - k)) - 1);
    __m512bh wv[kRows];
    PHX_UNROLL
    for (int r = 0; r < kRows; ++r) {
      _mm_prefetch(reinterpret_cast<const char*>(w[r] + 2 * k) + next_tile, _MM_HINT_T0);
      wv[r] = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, w[r] + 2 * k));
    }
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const auto xv = reinterpret_cast<__m512bh>(_mm512_load_si512(act + m * ap + 2 * k));
      PHX_UNROLL
      for (int r = 0; r < kRows; ++r) c[m][r] = _mm512_dpbf16_ps(c[m][r], wv[r], xv);
    }
  }
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    for (int r = 0; r < ncols; ++r) {
      y[m * yp + r] = _mm512_reduce_add_ps(c[m][r]) + (bias ? bias[r] : 0.f);
    }
  }
}

using TileFn = void (*)(const uint8_t*, int64_t, const uint8_t* const*, int64_t, float*, int64_t,
                        int, const float*);
constexpr TileFn kTiles[kRM + 1] = {nullptr, Tile<1>, Tile<2>, Tile<3>, Tile<4>, Tile<5>, Tile<6>};

}  // namespace

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

constexpr int kPanelCols = 64;        // weight rows per panel: 4 zmm of 16 columns
constexpr int kPanelRM = 6;           // activation rows per microkernel tile
constexpr int64_t kKc = 512;          // K block in values (a multiple of 32)
constexpr int64_t kPanelMinRows = 8;  // fewer rows use the direct tiles
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

void GemmBf16Panel(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                   uint8_t* scratch) {
  for (int64_t n = n0; n < n1; n += kPanelCols) {
    const int ncols = static_cast<int>(std::min<int64_t>(kPanelCols, n1 - n));
    for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
      const int64_t kc = std::min(kKc, a.K - k0);
      PackPanel(a.w + n * a.w_pitch, a.w_pitch, ncols, k0, kc, a.K, scratch);
      const int64_t np = (kc + 31) / 32 * 16;
      for (int64_t m = m0; m < m1; m += kPanelRM) {
        const int rm = static_cast<int>(std::min<int64_t>(kPanelRM, m1 - m));
        kPanelTiles[rm](a.act + m * a.act_pitch + 2 * k0, a.act_pitch, scratch, np,
                        a.y + m * a.y_pitch + n, a.y_pitch, ncols, a.bias ? a.bias + n : nullptr,
                        k0 > 0);
      }
    }
  }
}

}  // namespace

// y[m0:m1, n0:n1] for BF16 weights (a.w rows of a.w_pitch bytes) and bf16 activation rows
// (a.act, a.act_pitch = BF16ActRowBytes(K)).
void GemmBf16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* scratch) {
  if (a.batch_variant && m1 - m0 >= kPanelMinRows) {
    return GemmBf16Panel(a, n0, n1, m0, m1, scratch);
  }
  for (int64_t n = n0; n < n1; n += kRows) {
    const int ncols = static_cast<int>(std::min<int64_t>(kRows, n1 - n));
    const uint8_t* rows[kRows];
    for (int i = 0; i < kRows; ++i) rows[i] = a.w + (n + std::min(i, ncols - 1)) * a.w_pitch;
    for (int64_t m = m0; m < m1; m += kRM) {
      const int rm = static_cast<int>(std::min<int64_t>(kRM, m1 - m));
      kTiles[rm](a.act + m * a.act_pitch, a.act_pitch, rows, a.K, a.y + m * a.y_pitch + n,
                 a.y_pitch, ncols, a.bias ? a.bias + n : nullptr);
    }
  }
}

}  // namespace phx::ops::cpu::avx512
