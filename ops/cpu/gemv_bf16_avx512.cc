// BF16-weight GEMV (decode: at most kGemvMaxRows activation rows) with AVX-512 BF16
// (vdpbf16ps) against bf16 activation rows (quantize_bf16), on CPUs that have it. Like
// gemv_avx512.cc: one weight row at a time over its whole K, so each thread reads a single
// sequential stream (the GEMM tile of matmul_bf16_avx512.cc reads 4 rows side by side).
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "ops/cpu/kernels.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {
namespace {

// y[m * yp] = dot(w, x_m) + bias: RM bf16 activation rows (zero-padded to a multiple of 32
// values), one bf16 weight row of K values (its tail read with a masked load).
template <int RM>
void RowDot(const uint8_t* w, const uint8_t* x, int64_t xp, int64_t K, float* y, int64_t yp,
            float bias) {
  constexpr int U = RM == 1 ? 4 : 2;
  __m512 c[RM][U];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int u = 0; u < U; ++u) c[m][u] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 32 * U <= K; k += 32 * U) {
    __m512bh wv[U];
    PHX_UNROLL
    for (int u = 0; u < U; ++u) {
      wv[u] = reinterpret_cast<__m512bh>(_mm512_loadu_si512(w + 2 * (k + 32 * u)));
    }
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      PHX_UNROLL
      for (int u = 0; u < U; ++u) {
        const auto xv =
            reinterpret_cast<__m512bh>(_mm512_load_si512(x + m * xp + 2 * (k + 32 * u)));
        c[m][u] = _mm512_dpbf16_ps(c[m][u], wv[u], xv);
      }
    }
  }
  for (; k < K; k += 32) {
    const __mmask32 mask =
        K - k >= 32 ? 0xFFFFFFFFu : static_cast<__mmask32>((1ull << (K - k)) - 1);
    const auto wv = reinterpret_cast<__m512bh>(_mm512_maskz_loadu_epi16(mask, w + 2 * k));
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const auto xv = reinterpret_cast<__m512bh>(_mm512_load_si512(x + m * xp + 2 * k));
      c[m][0] = _mm512_dpbf16_ps(c[m][0], wv, xv);
    }
  }
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int u = 1; u < U; ++u) c[m][0] = _mm512_add_ps(c[m][0], c[m][u]);
    y[m * yp] = _mm512_reduce_add_ps(c[m][0]) + bias;
  }
}

}  // namespace

void GemvBf16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t*) {
  using Fn = void (*)(const uint8_t*, const uint8_t*, int64_t, int64_t, float*, int64_t, float);
  constexpr Fn kFns[5] = {nullptr, RowDot<1>, RowDot<2>, RowDot<3>, RowDot<4>};
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* w = a.w + n * a.w_pitch;
    const float bias = a.bias ? a.bias[n] : 0.f;
    for (int64_t m = m0; m < m1; m += 4) {  // (m1 - m0 <= kGemvMaxRows: one pass)
      const int rm = static_cast<int>(std::min<int64_t>(4, m1 - m));
      kFns[rm](w, a.act + m * a.act_pitch, a.act_pitch, a.K, a.y + m * a.y_pitch + n, a.y_pitch,
               bias);
    }
  }
}

}  // namespace phx::ops::cpu::avx512
