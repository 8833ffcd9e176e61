// AVX2 + FMA + F16C matmul tiles: 2 activation rows x 4 weight rows per tile, 8-lane f32
// accumulators reduced once per tile. Q8 uses the sign trick (maddubs(|x|, sign(w, x)));
// K-quants multiply unsigned 4/6-bit weights by signed activations with maddubs then apply the
// 16-value scales with madd.
#define PHX_ISA_NS avx2
#include <immintrin.h>

#include "ops/cpu/gemm_impl.h"
// After gemm_impl.h (StoreRow, PHX_UNROLL).
#include "ops/cpu/direct_tiles_avx2.h"
#include "ops/cpu/quantize_act_impl.h"

namespace phx::ops::cpu::avx2 {

VecKernels GetVecKernels();

namespace {

template <DType WT>
inline __m256 LoadW8(const uint8_t* p, int64_t k) {
  if constexpr (WT == DType::kF32) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p) + k);
  } else if constexpr (WT == DType::kF16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * k)));
  } else {
    const __m256i u =
        _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * k)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
  }
}

template <DType WT>
inline float LoadW1(const uint8_t* p, int64_t k) {
  if constexpr (WT == DType::kF32) {
    return reinterpret_cast<const float*>(p)[k];
  } else if constexpr (WT == DType::kF16) {
    return _cvtsh_ss(reinterpret_cast<const uint16_t*>(p)[k]);
  } else {
    return BF16ToF32(reinterpret_cast<const uint16_t*>(p)[k]);
  }
}

template <int RM, DType WT>
void FloatTile(const float* x, int64_t xp, const uint8_t* const* w, int64_t kc, float* y,
               int64_t yp, int ncols, const float* bias, bool accumulate) {
  __m256 c[RM][4];
  ZeroTile(c);
  int64_t k = 0;
  for (; k + 8 <= kc; k += 8) {
    __m256 wv[4];
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) wv[r] = LoadW8<WT>(w[r], k);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const __m256 xv = _mm256_loadu_ps(x + m * xp + k);
      PHX_UNROLL
      for (int r = 0; r < 4; ++r) c[m][r] = _mm256_fmadd_ps(xv, wv[r], c[m][r]);
    }
  }
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    float v[4];
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) {
      v[r] = HSum8(c[m][r]);
      for (int64_t j = k; j < kc; ++j) v[r] += x[m * xp + j] * LoadW1<WT>(w[r], j);
    }
    StoreRow(v, y + m * yp, ncols, bias, accumulate);
  }
}

struct FloatTiles {
  static constexpr int kRM = 2;
  static void Run(int rm, const float* x, int64_t xp, const uint8_t* const* w, DType wt, int64_t kc,
                  float* y, int64_t yp, int ncols, const float* bias, bool acc) {
    switch (wt) {
      case DType::kF16:
        return rm == 2 ? FloatTile<2, DType::kF16>(x, xp, w, kc, y, yp, ncols, bias, acc)
                       : FloatTile<1, DType::kF16>(x, xp, w, kc, y, yp, ncols, bias, acc);
      case DType::kBF16:
        return rm == 2 ? FloatTile<2, DType::kBF16>(x, xp, w, kc, y, yp, ncols, bias, acc)
                       : FloatTile<1, DType::kBF16>(x, xp, w, kc, y, yp, ncols, bias, acc);
      default:
        return rm == 2 ? FloatTile<2, DType::kF32>(x, xp, w, kc, y, yp, ncols, bias, acc)
                       : FloatTile<1, DType::kF32>(x, xp, w, kc, y, yp, ncols, bias, acc);
    }
  }
};

template <int RM, bool kMin>
void Q8Tile(const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t np, float* y, int64_t yp,
            int ncols, const float* bias, bool accumulate) {
  __m256 c[RM][4];
  ZeroTile(c);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t p = 0; p < np; ++p) {
    const uint8_t* wb = wg + p * kQ8WGroupPairBytes;
    PHX_UNROLL
    for (int h = 0; h < 2; ++h) {
      __m256i wq[4];
      PHX_UNROLL
      for (int r = 0; r < 4; ++r) {
        wq[r] =
            _mm256_load_si256(reinterpret_cast<const __m256i*>(wb + r * kQ8WRowPairBytes + 32 * h));
      }
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) {
        const uint8_t* ab = act + m * ap + p * kQ8ActPairBytes;
        const __m256i xq = _mm256_load_si256(reinterpret_cast<const __m256i*>(ab + 32 * h));
        const __m256 dx = _mm256_load_ps(reinterpret_cast<const float*>(ab + 64 + 32 * h));
        const __m256i ax = _mm256_sign_epi8(xq, xq);
        __m256 cs = _mm256_setzero_ps();
        if constexpr (kMin) {  // -128 * sum(x) * dx in lane 0 (packed_formats.h)
          cs = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_load_si256(
                                 reinterpret_cast<const __m256i*>(ab + 128 + 32 * h))),
                             dx);
        }
        PHX_UNROLL
        for (int r = 0; r < 4; ++r) {
          const __m256i d16 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(wq[r], xq));
          const __m256i d32 = _mm256_madd_epi16(d16, ones);
          const uint8_t* wr = wb + r * kQ8WRowPairBytes;
          const __m256 dw =
              _mm256_load_ps(reinterpret_cast<const float*>(wr + kQ8WDOffset + 32 * h));
          c[m][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d32), _mm256_mul_ps(dw, dx), c[m][r]);
          if constexpr (kMin) {
            const __m256 mw =
                _mm256_load_ps(reinterpret_cast<const float*>(wr + kQ8WMinOffset + 32 * h));
            c[m][r] = _mm256_fmadd_ps(mw, cs, c[m][r]);
          }
        }
      }
    }
  }
  StoreTile(c, y, yp, ncols, bias, accumulate);
}

struct Q8Tiles {
  static constexpr int kRM = 2;
  static constexpr bool kDirect = true;
  static constexpr int64_t kDirectMaxRows = 16;
  static constexpr bool HasDirect(DType t) { return IsBlock32Type(t); }
  template <int RM, DType T>
  static constexpr auto* kDirectTile = &Q8DirectTile<RM, T>;
  static void Run(int rm, const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t np, float* y,
                  int64_t yp, int ncols, const float* bias, bool acc, bool has_min) {
    if (has_min) {
      if (rm == 2) return Q8Tile<2, true>(act, ap, wg, np, y, yp, ncols, bias, acc);
      return Q8Tile<1, true>(act, ap, wg, np, y, yp, ncols, bias, acc);
    }
    if (rm == 2) return Q8Tile<2, false>(act, ap, wg, np, y, yp, ncols, bias, acc);
    Q8Tile<1, false>(act, ap, wg, np, y, yp, ncols, bias, acc);
  }
};

template <int RM>
void KTile(const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t ns, float* y, int64_t yp,
           int ncols, const float* bias, bool accumulate) {
  __m256 c[RM][4];
  ZeroTile(c);
  for (int64_t s = 0; s < ns; ++s) {
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const uint8_t* ab = act + m * ap + s * kKActBytes;
      const __m256 dx = _mm256_broadcast_ss(reinterpret_cast<const float*>(ab + kKActDOffset));
      const __m256 bs0 = _mm256_load_ps(reinterpret_cast<const float*>(ab + kKActBsumOffset));
      const __m256 bs1 = _mm256_load_ps(reinterpret_cast<const float*>(ab + kKActBsumOffset + 32));
      PHX_UNROLL
      for (int r = 0; r < 4; ++r) {
        const uint8_t* wr = wg + (s * kGroupRows + r) * kKWRowBytes;
        __m256i acc = _mm256_setzero_si256();
        PHX_UNROLL
        for (int l = 0; l < 8; ++l) {
          const __m256i t = _mm256_maddubs_epi16(
              _mm256_load_si256(reinterpret_cast<const __m256i*>(wr + 32 * l)),
              _mm256_load_si256(reinterpret_cast<const __m256i*>(ab + 32 * l)));
          acc = _mm256_add_epi32(
              acc, _mm256_madd_epi16(t, _mm256_load_si256(reinterpret_cast<const __m256i*>(
                                            wr + kKWScOffset + 32 * l))));
        }
        const __m256 d =
            _mm256_mul_ps(_mm256_broadcast_ss(reinterpret_cast<const float*>(wr + kKWDOffset)), dx);
        __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), d, c[m][r]);
        v = _mm256_fmadd_ps(_mm256_load_ps(reinterpret_cast<const float*>(wr + kKWMinsOffset)), bs0,
                            v);
        c[m][r] = _mm256_fmadd_ps(
            _mm256_load_ps(reinterpret_cast<const float*>(wr + kKWMinsOffset + 32)), bs1, v);
      }
    }
  }
  StoreTile(c, y, yp, ncols, bias, accumulate);
}

struct KTiles {
  static constexpr int kRM = 2;
  static constexpr bool kDirect = true;
  static constexpr int64_t kDirectMaxRows = 16;
  static constexpr bool HasDirect(DType t) { return MatmulFamily(t) == Family::kK; }
  template <int RM, DType T>
  static constexpr auto* kDirectTile = &KDirectTile<RM, T>;
  static void Run(int rm, const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t ns, float* y,
                  int64_t yp, int ncols, const float* bias, bool acc) {
    if (rm == 2) return KTile<2>(act, ap, wg, ns, y, yp, ncols, bias, acc);
    KTile<1>(act, ap, wg, ns, y, yp, ncols, bias, acc);
  }
};

void GemmFloat(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmFloatDriver<FloatTiles>(a, n0, n1, m0, m1, s);
}
void GemmQ8(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmQ8Driver<Q8Tiles, 0>(a, n0, n1, m0, m1, s);
}
void GemmK(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmKDriver<KTiles>(a, n0, n1, m0, m1, s);
}

}  // namespace
}  // namespace phx::ops::cpu::avx2

namespace phx::ops::cpu {

KernelTable Avx2Kernels() {
  KernelTable t;
  t.isa = IsaLevel::kAvx2;
  t.gemm_float = avx2::GemmFloat;
  t.gemm_q8 = avx2::GemmQ8;
  t.gemm_k = avx2::GemmK;
  t.quantize_q8 = avx2::QuantizeActQ8Impl;
  t.quantize_k = avx2::QuantizeActKImpl;
  t.vec = avx2::GetVecKernels();
  return t;
}

}  // namespace phx::ops::cpu
