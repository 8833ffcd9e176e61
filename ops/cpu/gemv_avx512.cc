// Float-weight GEMV (decode: at most kGemvMaxRows activation rows) for F32, F16 and BF16 weights
// against f32 activations, AVX-512. Bandwidth-bound, so the loop order is chosen for the memory
// system, not for reuse: each task walks its weight rows one at a time, each over its whole K,
// so a thread reads one sequential stream. The blocked GEMM tile (4 weight rows, K in chunks of
// 512) reads 4 interleaved 1-2 KiB pieces at a time instead, and the hardware prefetcher feeds
// that pattern at about 2/3 of the rate of a single stream on the development VM (bench/
// ops_bench --benchmark_filter=Gemv, docs/benchmarks.md). No software prefetch: it measured
// slower than the hardware's on a single stream.
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "ops/cpu/float_load_avx512.h"
#include "ops/cpu/kernels.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {
namespace {

// y[m * yp] = dot(w, x_m) + bias for RM activation rows (x_m = x + m * xp) and one weight row
// of K values. U independent accumulators per activation row hide the FMA latency.
template <int RM, DType WT>
void RowDot(const uint8_t* w, const float* x, int64_t xp, int64_t K, float* y, int64_t yp,
            float bias) {
  constexpr int U = RM == 1 ? 4 : 2;
  __m512 c[RM][U];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int u = 0; u < U; ++u) c[m][u] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 16 * U <= K; k += 16 * U) {
    __m512 wv[U];
    PHX_UNROLL
    for (int u = 0; u < U; ++u) wv[u] = LoadFloat16<WT>(w, k + 16 * u, 0xFFFF);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      PHX_UNROLL
      for (int u = 0; u < U; ++u) {
        c[m][u] = _mm512_fmadd_ps(_mm512_loadu_ps(x + m * xp + k + 16 * u), wv[u], c[m][u]);
      }
    }
  }
  for (; k < K; k += 16) {
    const __mmask16 mask = K - k >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << (K - k)) - 1);
    const __m512 wv = LoadFloat16<WT>(w, k, mask);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      c[m][0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, x + m * xp + k), wv, c[m][0]);
    }
  }
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int u = 1; u < U; ++u) c[m][0] = _mm512_add_ps(c[m][0], c[m][u]);
    y[m * yp] = _mm512_reduce_add_ps(c[m][0]) + bias;
  }
}

template <DType WT>
void GemvRows(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1) {
  using Fn = void (*)(const uint8_t*, const float*, int64_t, int64_t, float*, int64_t, float);
  constexpr Fn kFns[5] = {nullptr, RowDot<1, WT>, RowDot<2, WT>, RowDot<3, WT>, RowDot<4, WT>};
  const int64_t xp = a.act_pitch / 4;
  for (int64_t n = n0; n < n1; ++n) {
    const uint8_t* w = a.w + n * a.w_pitch;
    const float bias = a.bias ? a.bias[n] : 0.f;
    for (int64_t m = m0; m < m1; m += 4) {  // (m1 - m0 <= kGemvMaxRows: one pass)
      const int rm = static_cast<int>(std::min<int64_t>(4, m1 - m));
      kFns[rm](w, reinterpret_cast<const float*>(a.act + m * a.act_pitch), xp, a.K,
               a.y + m * a.y_pitch + n, a.y_pitch, bias);
    }
  }
}

}  // namespace

void GemvFloat(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t*) {
  switch (a.wtype) {
    case DType::kF16:
      return GemvRows<DType::kF16>(a, n0, n1, m0, m1);
    case DType::kBF16:
      return GemvRows<DType::kBF16>(a, n0, n1, m0, m1);
    default:
      return GemvRows<DType::kF32>(a, n0, n1, m0, m1);
  }
}

}  // namespace phx::ops::cpu::avx512
