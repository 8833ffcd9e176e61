// Helpers of the AVX-512 panel kernels (matmul_bf16_avx512.cc, matmul_float_panel_avx512.cc):
// a 16 x 16 transpose of 32-bit units (weight rows into panel columns) and the store of a
// finished tile of RM activation rows x 64 columns. Include only from files compiled with the
// AVX-512 flags.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace phx::ops::cpu::avx512 {

// Transposes 16 x 16 32-bit units: unit j of r[i] moves to unit i of r[j].
inline void Transpose16x16(__m512i r[16]) {
  __m512i t[16];
#pragma GCC unroll 16
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // Within each 128-bit lane L, r[4i + j] now holds unit 4L + j of rows 4i .. 4i + 3.
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // Gather lane L of r[j], r[4 + j], r[8 + j], r[12 + j] into row 4L + j.
#pragma GCC unroll 16
  for (int j = 0; j < 4; ++j) {
    const __m512i s0 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x44);
    const __m512i s1 = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xEE);
    const __m512i s2 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x44);
    const __m512i s3 = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xEE);
    t[j] = _mm512_shuffle_i32x4(s0, s2, 0x88);
    t[4 + j] = _mm512_shuffle_i32x4(s0, s2, 0xDD);
    t[8 + j] = _mm512_shuffle_i32x4(s1, s3, 0x88);
    t[12 + j] = _mm512_shuffle_i32x4(s1, s3, 0xDD);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) r[i] = t[i];
}

// Stores c[m][g] (columns 16g .. 16g + 15 of row m) into y rows of pitch yp, the first ncols
// columns only: accumulate ? y += c : y = c + bias.
template <int RM>
inline void StoreTile(const __m512 (&c)[RM][4], float* y, int64_t yp, int ncols, const float* bias,
                      bool accumulate) {
#pragma GCC unroll 16
  for (int g = 0; g < 4; ++g) {
    const int n = ncols - 16 * g;
    if (n <= 0) break;
    const __mmask16 mask = n >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << n) - 1);
    const __m512 b = accumulate || bias == nullptr ? _mm512_setzero_ps()
                                                   : _mm512_maskz_loadu_ps(mask, bias + 16 * g);
#pragma GCC unroll 16
    for (int m = 0; m < RM; ++m) {
      float* out = y + m * yp + 16 * g;
      const __m512 base = accumulate ? _mm512_maskz_loadu_ps(mask, out) : b;
      _mm512_mask_storeu_ps(out, mask, _mm512_add_ps(c[m][g], base));
    }
  }
}

}  // namespace phx::ops::cpu::avx512
