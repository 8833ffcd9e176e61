// AVX-512 (F/BW/VL/DQ + VNNI) matmul tiles: 4 activation rows x 4 weight rows per tile with
// 16-lane f32 accumulators reduced once per tile.
//   q8: weights are decoded as unsigned (w + 128); one vpdpbusd multiplies 64 weight bytes by
//       64 signed activations, seeded with the activation pair's -128 * sum(q) correction; the
//       two blocks' scales sit in lanes 0-7 / 8-15 so one FMA applies both.
//   k:  maddubs (4/6-bit unsigned weights x signed activations) then vpdpwssd applies the
//       per-16 scales; mins enter through one FMA with the activation's scaled 16-sums.
// Float weights have their own kernels (matmul_float_panel_avx512.cc, matmul_bf16_avx512.cc).
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include "ops/cpu/gemm_impl.h"
#include "ops/cpu/quantize_act_impl.h"

namespace phx::ops::cpu::avx512 {

VecKernels GetVecKernels();

namespace {

template <int RM>
inline void Finish(__m512 (&c)[RM][4], float* y, int64_t yp, int ncols, const float* bias,
                   bool accumulate) {
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    float v[4];
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) v[r] = _mm512_reduce_add_ps(c[m][r]);
    StoreRow(v, y + m * yp, ncols, bias, accumulate);
  }
}

template <int RM, bool kMin>
void Q8Tile(const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t np, float* y, int64_t yp,
            int ncols, const float* bias, bool accumulate) {
  __m512 c[RM][4];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) c[m][r] = _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < np; ++p) {
    const uint8_t* wb = wg + p * kQ8WGroupPairBytes;
    __m512i wq[4];
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) wq[r] = _mm512_load_si512(wb + r * kQ8WRowPairBytes);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const uint8_t* ab = act + m * ap + p * kQ8ActPairBytes;
      const __m512i xq = _mm512_load_si512(ab);
      const __m512 dx = _mm512_load_ps(ab + 64);
      const __m512i corr = _mm512_load_si512(ab + 128);
      // Q4_1/Q5_1: the mins times -128 * sum(x) * dx (lanes 0 and 8, packed_formats.h).
      const __m512 cs = kMin ? _mm512_mul_ps(_mm512_cvtepi32_ps(corr), dx) : _mm512_setzero_ps();
      PHX_UNROLL
      for (int r = 0; r < 4; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(corr, wq[r], xq);
        const uint8_t* wr = wb + r * kQ8WRowPairBytes;
        const __m512 d = _mm512_mul_ps(_mm512_load_ps(wr + kQ8WDOffset), dx);
        c[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), d, c[m][r]);
        if constexpr (kMin)
          c[m][r] = _mm512_fmadd_ps(_mm512_load_ps(wr + kQ8WMinOffset), cs, c[m][r]);
      }
    }
  }
  Finish<RM>(c, y, yp, ncols, bias, accumulate);
}

// Decode path: 1..4 activation rows against 4 weight rows read straight from Q8_0/Q4_0
// blocks (two blocks per 512-bit vector, weights made unsigned on the fly).
template <int RM, DType WT>
void Q8DirectTile(const uint8_t* act, int64_t ap, const uint8_t* const* w, int64_t K, float* y,
                  int64_t yp, int ncols, const float* bias) {
  constexpr int64_t bb = WT == DType::kQ8_0 ? 34 : 18;
  const int64_t nb = K / 32;
  __m512 c[RM][4];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) c[m][r] = _mm512_setzero_ps();
  }
  const int64_t next_tile = kGroupRows * (w[kGroupRows - 1] - w[0]) / (kGroupRows - 1);
  const __m512i k80 = _mm512_set1_epi8(static_cast<char>(0x80));
  const __m256i k0f = _mm256_set1_epi8(0x0F);
  const __m512i k120 = _mm512_set1_epi8(120);
  for (int64_t b = 0; b < nb; b += 2) {
    const bool pair = b + 1 < nb;
    __m512i wq[4];
    __m512 wd[4];
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) {
      const uint8_t* pa = w[r] + b * bb;
      const uint8_t* pb = pa + bb;
      // The next tile's rows (the same offset kGroupRows rows down): short rows would
      // otherwise leave the memory pipeline idle at every tile change.
      _mm_prefetch(reinterpret_cast<const char*>(pa) + next_tile, _MM_HINT_T0);
      uint16_t ha, hb = 0;
      std::memcpy(&ha, pa, 2);
      if (pair) std::memcpy(&hb, pb, 2);
      wd[r] = _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(static_cast<short>(hb)),
                                               _mm_set1_epi16(static_cast<short>(ha))));
      if constexpr (WT == DType::kQ8_0) {
        const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pa + 2));
        const __m256i qb = pair ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(pb + 2)) : qa;
        wq[r] = _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(qa), qb, 1), k80);
      } else {
        const __m128i qa = _mm_loadu_si128(reinterpret_cast<const __m128i*>(pa + 2));
        const __m128i qb = pair ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(pb + 2)) : qa;
        const __m256i ab = _mm256_set_m128i(qb, qa);
        const __m256i lo = _mm256_and_si256(ab, k0f);                        // A0-15 B0-15
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(ab, 4), k0f);  // A16-31 B16-31
        const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        wq[r] = _mm512_add_epi8(_mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0)), k120);
      }
    }
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const uint8_t* ab = act + m * ap + (b / 2) * kQ8ActPairBytes;
      const __m512i xq = _mm512_load_si512(ab);
      const __m512 dx = _mm512_load_ps(ab + 64);
      const __m512i corr = _mm512_load_si512(ab + 128);
      PHX_UNROLL
      for (int r = 0; r < 4; ++r) {
        const __m512i dot = _mm512_dpbusd_epi32(corr, wq[r], xq);
        c[m][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(wd[r], dx), c[m][r]);
      }
    }
  }
  Finish<RM>(c, y, yp, ncols, bias, false);
}

struct Q8Tiles {
  static constexpr int kRM = 4;
  static constexpr bool kDirect = true;
  static constexpr int64_t kDirectMaxRows = 16;
  static constexpr bool HasDirect(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }
  template <int RM, DType T>
  static constexpr auto* kDirectTile = &Q8DirectTile<RM, T>;
  template <bool kMin>
  static void RunT(int rm, const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t np, float* y,
                   int64_t yp, int ncols, const float* bias, bool acc) {
    switch (rm) {
      case 4:
        return Q8Tile<4, kMin>(act, ap, wg, np, y, yp, ncols, bias, acc);
      case 3:
        return Q8Tile<3, kMin>(act, ap, wg, np, y, yp, ncols, bias, acc);
      case 2:
        return Q8Tile<2, kMin>(act, ap, wg, np, y, yp, ncols, bias, acc);
      default:
        return Q8Tile<1, kMin>(act, ap, wg, np, y, yp, ncols, bias, acc);
    }
  }
  static void Run(int rm, const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t np, float* y,
                  int64_t yp, int ncols, const float* bias, bool acc, bool has_min) {
    if (has_min) return RunT<true>(rm, act, ap, wg, np, y, yp, ncols, bias, acc);
    RunT<false>(rm, act, ap, wg, np, y, yp, ncols, bias, acc);
  }
};

template <int RM>
void KTile(const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t ns, float* y, int64_t yp,
           int ncols, const float* bias, bool accumulate) {
  __m512 c[RM][4];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) c[m][r] = _mm512_setzero_ps();
  }
  for (int64_t s = 0; s < ns; ++s) {
    const uint8_t* wb = wg + s * kKWGroupBytes;
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const uint8_t* ab = act + m * ap + s * kKActBytes;
      __m512i xq[4];
      PHX_UNROLL
      for (int l = 0; l < 4; ++l) xq[l] = _mm512_load_si512(ab + 64 * l);
      const __m512 bs = _mm512_load_ps(ab + kKActBsumOffset);
      const __m512 dx = _mm512_set1_ps(*reinterpret_cast<const float*>(ab + kKActDOffset));
      PHX_UNROLL
      for (int r = 0; r < 4; ++r) {
        const uint8_t* wr = wb + r * kKWRowBytes;
        __m512i acc = _mm512_setzero_si512();
        PHX_UNROLL
        for (int l = 0; l < 4; ++l) {
          const __m512i t = _mm512_maddubs_epi16(_mm512_load_si512(wr + 64 * l), xq[l]);
          acc = _mm512_dpwssd_epi32(acc, t, _mm512_load_si512(wr + kKWScOffset + 64 * l));
        }
        const __m512 d =
            _mm512_mul_ps(_mm512_set1_ps(*reinterpret_cast<const float*>(wr + kKWDOffset)), dx);
        const __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), d, c[m][r]);
        c[m][r] = _mm512_fmadd_ps(_mm512_load_ps(wr + kKWMinsOffset), bs, v);
      }
    }
  }
  Finish<RM>(c, y, yp, ncols, bias, accumulate);
}

// Decode path for the K-quants: each weight super-block is unpacked in registers (lane order,
// packed_formats.h) and used by 1..4 activation rows.
struct KDecoded {
  __m512i q[4];   // unsigned values, lane order, 64 per vector
  __m512i sc[4];  // int16 scale of each byte pair
  __m512 mins;    // per natural group of 16, negated and scaled
  float d;
};

inline void DecodeQ4K(const uint8_t* blk, KDecoded* o) {
  o->d = _cvtsh_ss(*reinterpret_cast<const uint16_t*>(blk));
  const float dmin = _cvtsh_ss(*reinterpret_cast<const uint16_t*>(blk + 2));
  uint32_t u[4];
  std::memcpy(u, blk + 4, 12);
  constexpr uint32_t kM1 = 0x3f3f3f3f, kM2 = 0x0f0f0f0f, kM3 = 0x03030303;
  u[3] = ((u[2] >> 4) & kM2) | (((u[1] >> 6) & kM3) << 4);
  const uint32_t uaux = u[1] & kM1;
  u[1] = (u[2] & kM2) | (((u[0] >> 6) & kM3) << 4);
  u[2] = uaux;
  u[0] &= kM1;
  // bytes 0..7: sub-block scales, 8..15: mins
  const __m128i scm = _mm_loadu_si128(reinterpret_cast<const __m128i*>(u));
  const __m256i scm2 = _mm256_broadcastsi128_si256(scm);
  PHX_UNROLL
  for (int l = 0; l < 4; ++l) {
    const int a = kKLaneSubBlock[2 * l], b = kKLaneSubBlock[2 * l + 1];
    const __m256i idx =
        _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(b)), _mm_set1_epi8(static_cast<char>(a)));
    o->sc[l] = _mm512_cvtepu8_epi16(_mm256_shuffle_epi8(scm2, idx));
  }
  const __m128i mi = _mm_shuffle_epi8(
      scm, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15));
  o->mins = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(mi)), _mm512_set1_ps(-dmin));
  const __m512i k0f = _mm512_set1_epi8(0x0F);
  PHX_UNROLL
  for (int h = 0; h < 2; ++h) {
    const __m512i v = _mm512_loadu_si512(blk + 16 + 64 * h);
    o->q[2 * h] = _mm512_and_si512(v, k0f);
    o->q[2 * h + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), k0f);
  }
}

inline void DecodeQ6K(const uint8_t* blk, KDecoded* o) {
  o->d = _cvtsh_ss(*reinterpret_cast<const uint16_t*>(blk + 208));
  const __m128i s8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 192));
  const __m256i s82 = _mm256_broadcastsi128_si256(s8);
  PHX_UNROLL
  for (int l = 0; l < 4; ++l) {
    // Lane-order load l holds sub-blocks a, b; sub-block s is groups 2s, 2s+1.
    const int a = kKLaneSubBlock[2 * l], b = kKLaneSubBlock[2 * l + 1];
    const __m128i ia = _mm_or_si128(
        _mm_set1_epi8(0),
        _mm_setr_epi8(2 * a, 2 * a, 2 * a, 2 * a, 2 * a, 2 * a, 2 * a, 2 * a, 2 * a + 1, 2 * a + 1,
                      2 * a + 1, 2 * a + 1, 2 * a + 1, 2 * a + 1, 2 * a + 1, 2 * a + 1));
    const __m128i ib = _mm_add_epi8(ia, _mm_set1_epi8(static_cast<char>(2 * (b - a))));
    o->sc[l] = _mm512_cvtepi8_epi16(_mm256_shuffle_epi8(s82, _mm256_set_m128i(ib, ia)));
  }
  o->mins =
      _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(s8)), _mm512_set1_ps(-32.f * o->d));
  const __m512i k0f = _mm512_set1_epi8(0x0F), k03 = _mm512_set1_epi8(0x03);
  PHX_UNROLL
  for (int h = 0; h < 2; ++h) {
    const __m512i ql = _mm512_loadu_si512(blk + 64 * h);
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * h));
    const __m512i hl = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
    const __m512i hbits_lo = _mm512_slli_epi16(_mm512_and_si512(hl, k03), 4);
    const __m512i hbits_hi = _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(hl, 4), k03), 4);
    const __m512i lo = _mm512_or_si512(_mm512_and_si512(ql, k0f), hbits_lo);  // sub-blocks 0, 1
    const __m512i hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), k0f), hbits_hi);
    o->q[2 * h] = _mm512_shuffle_i64x2(lo, hi, 0x44);      // sub-blocks 0, 2 of this half
    o->q[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, 0xEE);  // 1, 3
  }
}

template <int RM, DType WT>
void KDirectTile(const uint8_t* act, int64_t ap, const uint8_t* const* w, int64_t K, float* y,
                 int64_t yp, int ncols, const float* bias) {
  constexpr int64_t bb = WT == DType::kQ4_K ? sizeof(BlockQ4_K) : sizeof(BlockQ6_K);
  __m512 c[RM][4];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) c[m][r] = _mm512_setzero_ps();
  }
  const int64_t next_tile = kGroupRows * (w[kGroupRows - 1] - w[0]) / (kGroupRows - 1);
  for (int64_t s = 0; s < K / 256; ++s) {
    PHX_UNROLL
    for (int r = 0; r < 4; ++r) {
      const char* pf = reinterpret_cast<const char*>(w[r] + s * bb) + next_tile;
      PHX_UNROLL
      for (int64_t l = 0; l < bb; l += 64) _mm_prefetch(pf + l, _MM_HINT_T0);
      KDecoded dw;
      if constexpr (WT == DType::kQ4_K) {
        DecodeQ4K(w[r] + s * bb, &dw);
      } else {
        DecodeQ6K(w[r] + s * bb, &dw);
      }
      PHX_UNROLL
      for (int m = 0; m < RM; ++m) {
        const uint8_t* ab = act + m * ap + s * kKActBytes;
        __m512i acc = _mm512_setzero_si512();
        PHX_UNROLL
        for (int l = 0; l < 4; ++l) {
          const __m512i t = _mm512_maddubs_epi16(dw.q[l], _mm512_load_si512(ab + 64 * l));
          acc = _mm512_dpwssd_epi32(acc, t, dw.sc[l]);
        }
        const __m512 d = _mm512_set1_ps(dw.d * *reinterpret_cast<const float*>(ab + kKActDOffset));
        const __m512 v = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), d, c[m][r]);
        c[m][r] = _mm512_fmadd_ps(dw.mins, _mm512_load_ps(ab + kKActBsumOffset), v);
      }
    }
  }
  Finish<RM>(c, y, yp, ncols, bias, false);
}

struct KTiles {
  static constexpr int kRM = 4;
  static constexpr bool kDirect = true;
  static constexpr int64_t kDirectMaxRows = 16;
  static constexpr bool HasDirect(DType t) { return t == DType::kQ4_K || t == DType::kQ6_K; }
  template <int RM, DType T>
  static constexpr auto* kDirectTile = &KDirectTile<RM, T>;
  static void Run(int rm, const uint8_t* act, int64_t ap, const uint8_t* wg, int64_t ns, float* y,
                  int64_t yp, int ncols, const float* bias, bool acc) {
    switch (rm) {
      case 4:
        return KTile<4>(act, ap, wg, ns, y, yp, ncols, bias, acc);
      case 3:
        return KTile<3>(act, ap, wg, ns, y, yp, ncols, bias, acc);
      case 2:
        return KTile<2>(act, ap, wg, ns, y, yp, ncols, bias, acc);
      default:
        return KTile<1>(act, ap, wg, ns, y, yp, ncols, bias, acc);
    }
  }
};

void GemmQ8(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmQ8Driver<Q8Tiles, 128>(a, n0, n1, m0, m1, s);
}
void GemmK(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmKDriver<KTiles>(a, n0, n1, m0, m1, s);
}

}  // namespace
}  // namespace phx::ops::cpu::avx512

namespace phx::ops::cpu {

namespace avx512 {
void GemmQ8x16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s);
void GemmQ32x16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s);
void GemmKx16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s);
void GemmBf16(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s);
void GemmBf16Groups(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s);
// Float weights, every M, one summation order (matmul_float_panel_avx512.cc): from the rows
// where they lie, and from PrepareMatmul's 64-row groups.
void GemmFloatPanel(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s);
void GemmFloatGroups(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s);
void QuantizeActBf16(const float* x, int64_t K, uint8_t* out);
}  // namespace avx512

KernelTable Avx512Kernels() {
  KernelTable t;
  t.isa = IsaLevel::kAvx512;
  t.gemm_float = avx512::GemmFloatPanel;
  t.gemm_float_groups = avx512::GemmFloatGroups;
  t.gemm_q8 = avx512::GemmQ8;
  t.gemm_k = avx512::GemmK;
  t.gemm_q8x16 = avx512::GemmQ8x16;
  t.gemm_q32x16 = avx512::GemmQ32x16;
  t.gemm_kx16 = avx512::GemmKx16;
  t.quantize_q8 = avx512::QuantizeActQ8Impl;
  t.quantize_k = avx512::QuantizeActKImpl;
  t.quantize_q8x16 = avx512::QuantizeActQ8x16Impl;
  t.quantize_kx8 = avx512::QuantizeActKx8Impl;
  if (GetCpuFeatures().avx512bf16) {
    t.gemm_bf16 = avx512::GemmBf16;
    t.gemm_bf16_groups = avx512::GemmBf16Groups;
    t.quantize_bf16 = avx512::QuantizeActBf16;
  }
  t.vec = avx512::GetVecKernels();
  return t;
}

}  // namespace phx::ops::cpu
