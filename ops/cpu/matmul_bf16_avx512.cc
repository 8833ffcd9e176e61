// BF16 weights with AVX-512 BF16 (vdpbf16ps), on CPUs that have it (AMD Zen 4, Intel Cooper
// Lake and later): the activations are rounded to bf16 once per matmul (as llama.cpp does for
// BF16 weights) and each vdpbf16ps multiplies 32 bf16 pairs into 16 f32 sums, twice the work of
// an f32 FMA. The weights stay where they are in the file (no copy: a BF16 model is large).
//
// Tile: RM activation rows x 4 weight rows, 32 values per step; the 4 x RM accumulators are
// reduced once per tile. Activation rows are bf16, padded with zeros to a multiple of 32
// values; the weights' K tail is read with a masked load.
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "ops/cpu/kernels.h"

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

// y[m0:m1, n0:n1] for BF16 weights (a.w rows of a.w_pitch bytes) and bf16 activation rows
// (a.act, a.act_pitch = BF16ActRowBytes(K)).
void GemmBf16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t*) {
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
