// Activation quantizers (layouts in packed_formats.h, semantics in quantize_act.h) written with
// generic vectors; included by each matmul_<isa>.cc after gemm_impl.h so they compile to that
// level's instructions. Rounding is round-half-even via the 1.5 * 2^23 trick (llama.cpp's
// nearest_int and _mm256_round_ps agree), so every level produces identical bytes.
#ifndef PHX_ISA_NS
#error "define PHX_ISA_NS before including quantize_act_impl.h"
#endif

#include <cstdint>
#include <cstring>

#include "ops/cpu/packed_formats.h"
#include "ops/cpu/repack_formats.h"

namespace phx::ops::cpu::PHX_ISA_NS {

typedef float V32F __attribute__((vector_size(128)));
typedef int32_t V32I __attribute__((vector_size(128)));

inline V32F LoadV32(const float* p) {
  V32F v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline V32F AbsV32(V32F v) {
  V32I b;
  std::memcpy(&b, &v, sizeof(b));
  b &= 0x7FFFFFFF;
  std::memcpy(&v, &b, sizeof(v));
  return v;
}
typedef float V16F __attribute__((vector_size(64)));
typedef float V8F __attribute__((vector_size(32)));
inline float HMax32(V32F v) {
  V16F a, b;
  std::memcpy(&a, &v, 64);
  std::memcpy(&b, reinterpret_cast<const char*>(&v) + 64, 64);
  a = a > b ? a : b;
  V8F c, d;
  std::memcpy(&c, &a, 32);
  std::memcpy(&d, reinterpret_cast<const char*>(&a) + 32, 32);
  c = c > d ? c : d;
  float m = c[0];
  for (int i = 1; i < 8; ++i) m = c[i] > m ? c[i] : m;
  return m;
}
// Round half to even for |v| < 2^22. Callers must not let x * scale contract into this sum
// (an FMA would round once instead of twice and differ from llama.cpp in rare ties).
inline V32I RoundV32(V32F v) {
  const V32F r = (v + 12582912.0f) - 12582912.0f;
  return __builtin_convertvector(r, V32I);
}
inline float RoundTripF16(float d) {
#if defined(__F16C__)
  return _cvtsh_ss(_cvtss_sh(d, 0));
#else
  return F16ToF32(F32ToF16(d));
#endif
}

// One 32-value block: qs, the f16-rounded scale and the sum of qs (llama.cpp's
// quantize_row_q8_0). |q| <= 127, so narrowing and summing are exact.
#if defined(__AVX512F__) && defined(__AVX512BW__)
// RoundV32's round-half-even of v * id for 16 lanes (two separate roundings, no FMA).
inline __m512i RoundMul512(__m512 v, __m512 id) {
  const __m512 magic = _mm512_set1_ps(12582912.0f);
  return _mm512_cvttps_epi32(_mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(v, id), magic), magic));
}
inline void QuantizeBlockQ8(const float* __restrict x, int8_t* __restrict qs, float* d,
                            int32_t* sum) {
  const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
  const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
  const __m512 id = _mm512_set1_ps(amax != 0.f ? 127.f / amax : 0.f);
  const __m512i q0 = RoundMul512(v0, id), q1 = RoundMul512(v1, id);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(q0));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(q1));
  *sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
  *d = RoundTripF16(amax / 127.f);
}
#else
inline void QuantizeBlockQ8(const float* __restrict x, int8_t* __restrict qs, float* d,
                            int32_t* sum) {
  const V32F v = LoadV32(x);
  const float amax = HMax32(AbsV32(v));
  const float id = amax != 0.f ? 127.f / amax : 0.f;
  const V32I q = RoundV32(v * id);
  int32_t s = 0;
  for (int j = 0; j < 32; ++j) {
    qs[j] = static_cast<int8_t>(q[j]);
    s += q[j];
  }
  *d = RoundTripF16(amax / 127.f);
  *sum = s;
}
#endif

void QuantizeActQ8Impl(const float* __restrict x, int64_t K, uint8_t* __restrict out) {
  const int64_t nb = K / 32;
  for (int64_t p = 0; p < (nb + 1) / 2; ++p) {
    uint8_t* o = out + p * kQ8ActPairBytes;
    float dx[16];
    int32_t corr[16] = {};
    for (int h = 0; h < 2; ++h) {
      const int64_t b = 2 * p + h;
      if (b >= nb) {
        std::memset(o + 32 * h, 0, 32);
        for (int i = 0; i < 8; ++i) dx[8 * h + i] = 0.f;
        continue;
      }
      int8_t qs[32];
      float d;
      int32_t sum;
      QuantizeBlockQ8(x + 32 * b, qs, &d, &sum);
      std::memcpy(o + 32 * h, qs, 32);
      for (int i = 0; i < 8; ++i) dx[8 * h + i] = d;
      corr[8 * h] = -128 * sum;
    }
    std::memcpy(o + 64, dx, sizeof(dx));
    std::memcpy(o + 128, corr, sizeof(corr));
  }
}

#if defined(__AVX512F__) && defined(__AVX512BW__)
// 16 bytes of values, chunks c .. c + 3 (4 bytes each), into row `row` of a `rows`-row panel
// whose chunk c sits at PanelUnit(32 * c, ...): one store for a compact row, else one per
// chunk (GCC turns a loop of 4-byte copies into vpscatterqd, twice as slow on Zen 5).
template <int rows>
inline void StoreChunks(__m128i b, uint8_t* p, int c, int row) {
  if constexpr (rows == 1) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 4 * c), b);
  } else {
    _mm_storeu_si32(p + PanelUnit(32 * c, row, rows), b);
    _mm_storeu_si32(p + PanelUnit(32 * (c + 1), row, rows), _mm_bsrli_si128(b, 4));
    _mm_storeu_si32(p + PanelUnit(32 * (c + 2), row, rows), _mm_bsrli_si128(b, 8));
    _mm_storeu_si32(p + PanelUnit(32 * (c + 3), row, rows), _mm_bsrli_si128(b, 12));
  }
}

// Row `row` of a `rows`-row Q8x16 activation panel (8, or 1: one row's compact copy; only
// the AVX-512 level has the kernels that read them): 16 blocks at a time in three phases
// (maxima; both divisions and the f16 rounding as one vector op each; values and sums), so the
// blocks' dependency chains overlap instead of one block's reduce -> divide -> round chain
// waiting for the previous one.
template <int rows>
void QuantizeQ8x16Rows(const float* __restrict x, int64_t K, uint8_t* __restrict panel, int row) {
  const int64_t nb = K / 32;
  for (int64_t b0 = 0; b0 < nb; b0 += 16) {
    const int n = static_cast<int>(nb - b0 < 16 ? nb - b0 : 16);
    alignas(64) float amax[16] = {};
    for (int i = 0; i < n; ++i) {
      const float* xb = x + 32 * (b0 + i);
      amax[i] = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(xb)),
                                                   _mm512_abs_ps(_mm512_loadu_ps(xb + 16))));
    }
    const __m512 am = _mm512_load_ps(amax);
    const __m512 k127 = _mm512_set1_ps(127.f);
    alignas(64) float id[16];
    _mm512_store_ps(id, _mm512_maskz_div_ps(
                            _mm512_cmp_ps_mask(am, _mm512_setzero_ps(), _CMP_NEQ_OQ), k127, am));
    alignas(64) float d[16];
    _mm512_store_ps(
        d, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_div_ps(am, k127),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
    for (int i = 0; i < n; ++i) {
      const float* xb = x + 32 * (b0 + i);
      const __m512 s = _mm512_set1_ps(id[i]);
      const __m512i q0 = RoundMul512(_mm512_loadu_ps(xb), s);
      const __m512i q1 = RoundMul512(_mm512_loadu_ps(xb + 16), s);
      const int32_t corr = -128 * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
      uint8_t* pb = panel + PanelUnit(kQ8x16PanelBlockBytes, 0, rows) * (b0 + i);
      StoreChunks<rows>(_mm512_cvtepi32_epi8(q0), pb, 0, row);
      StoreChunks<rows>(_mm512_cvtepi32_epi8(q1), pb, 4, row);
      std::memcpy(pb + PanelUnit(kQ8x16PanelDOffset, row, rows), &d[i], 4);
      std::memcpy(pb + PanelUnit(kQ8x16PanelCorrOffset, row, rows), &corr, 4);
    }
  }
}
void QuantizeActQ8x16Impl(const float* __restrict x, int64_t K, uint8_t* __restrict panel, int row,
                          int rows) {
  rows == 1 ? QuantizeQ8x16Rows<1>(x, K, panel, row)
            : QuantizeQ8x16Rows<kQ8x16PanelRows>(x, K, panel, row);
}
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__)
// Row `row` of a `rows`-row K activation panel (8, or 1: one row's compact copy; repack_formats.h),
// read by the Kx16 kernels: the Q8_K quantization of QuantizeActKImpl (llama.cpp's
// quantize_row_q8_K), a super-block in 16 registers.
template <int rows>
void QuantizeKx8Rows(const float* __restrict x, int64_t K, uint8_t* __restrict panel, int row) {
  const int64_t sb_bytes = PanelUnit(kKPanelSuperBytes, 0, rows);
  for (int64_t s = 0; s < K / 256; ++s) {
    const float* xb = x + 256 * s;
    uint8_t* p = panel + s * sb_bytes;
    __m512 v[16];
    __m512 am = _mm512_setzero_ps();
    for (int c = 0; c < 16; ++c) {
      v[c] = _mm512_loadu_ps(xb + 16 * c);
      am = _mm512_max_ps(am, _mm512_abs_ps(v[c]));
    }
    const float amax = _mm512_reduce_max_ps(am);
    // The value of largest magnitude (the first one on ties, like llama.cpp) sets the scale.
    float max = 0.f;
    for (int c = 0; c < 16; ++c) {
      const __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(v[c]), _mm512_set1_ps(amax), _CMP_EQ_OQ);
      if (k != 0) {
        max = xb[16 * c + __builtin_ctz(k)];
        break;
      }
    }
    const float iscale = amax == 0.f ? 0.f : -127.f / max;
    const float d = amax == 0.f ? 0.f : 1.f / iscale;
    int32_t g16[16];
    for (int g = 0; g < 16; ++g) {  // group g (16 values): chunks 4g .. 4g + 3
      const __m512i q =
          _mm512_min_epi32(RoundMul512(v[g], _mm512_set1_ps(iscale)), _mm512_set1_epi32(127));
      StoreChunks<rows>(_mm512_cvtepi32_epi8(q), p, 4 * g, row);
      g16[g] = _mm512_reduce_add_epi32(q);
      const int32_t corr = -128 * g16[g];
      std::memcpy(p + PanelUnit(kKPanelCorr16 + 32 * g, row, rows), &corr, 4);
    }
    for (int u = 0; u < 8; ++u) {
      const int32_t corr = -128 * (g16[2 * u] + g16[2 * u + 1]);
      std::memcpy(p + PanelUnit(kKPanelCorr32 + 32 * u, row, rows), &corr, 4);
      const uint32_t pair =
          static_cast<uint16_t>(static_cast<int16_t>(g16[2 * u])) |
          (static_cast<uint32_t>(static_cast<uint16_t>(static_cast<int16_t>(g16[2 * u + 1])))
           << 16);
      std::memcpy(p + PanelUnit(kKPanelSums + 32 * u, row, rows), &pair, 4);
    }
    std::memcpy(p + PanelUnit(kKPanelD, row, rows), &d, 4);
  }
}
void QuantizeActKx8Impl(const float* __restrict x, int64_t K, uint8_t* __restrict panel, int row,
                        int rows) {
  rows == 1 ? QuantizeKx8Rows<1>(x, K, panel, row) : QuantizeKx8Rows<kKPanelRows>(x, K, panel, row);
}
#endif

void QuantizeActKImpl(const float* __restrict x, int64_t K, uint8_t* __restrict out) {
  for (int64_t b = 0; b < K / 256; ++b) {
    const float* xb = x + b * 256;
    uint8_t* o = out + b * kKActBytes;
    // The value of largest magnitude (the first one on ties, like llama.cpp).
    V32F am = AbsV32(LoadV32(xb));
    for (int c = 1; c < 8; ++c) {
      const V32F a = AbsV32(LoadV32(xb + 32 * c));
      am = a > am ? a : am;
    }
    const float amax = HMax32(am);
    float max = 0.f;
    for (int j = 0; j < 256; ++j) {
      if (xb[j] == amax || xb[j] == -amax) {
        max = xb[j];
        break;
      }
    }
    float d = 0.f;
    float bsum[16] = {};
    if (amax == 0.f) {
      std::memset(o, 0, 256);
    } else {
      const float iscale = -127.f / max;
      d = 1.f / iscale;
      for (int c = 0; c < 8; ++c) {
        V32I q = RoundV32(LoadV32(xb + 32 * c) * iscale);
        q = q > 127 ? 127 : q;
        int8_t qs[32];
        int32_t s0 = 0, s1 = 0;
        for (int j = 0; j < 16; ++j) {
          qs[j] = static_cast<int8_t>(q[j]);
          s0 += q[j];
          qs[16 + j] = static_cast<int8_t>(q[16 + j]);
          s1 += q[16 + j];
        }
        std::memcpy(o + 32 * kKLaneSubBlock[c], qs, 32);  // the order is its own inverse
        bsum[2 * c] = d * static_cast<float>(s0);
        bsum[2 * c + 1] = d * static_cast<float>(s1);
      }
    }
    std::memcpy(o + kKActBsumOffset, bsum, sizeof(bsum));
    std::memcpy(o + kKActDOffset, &d, sizeof(d));
    std::memset(o + kKActDOffset + 4, 0, kKActBytes - kKActDOffset - 4);
  }
}

}  // namespace phx::ops::cpu::PHX_ISA_NS
