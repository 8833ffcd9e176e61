// 16 float weights as f32 lanes, AVX-512: F32 as is, F16 through vcvtph2ps, BF16 by a 16-bit
// shift (exact). Masked lanes read nothing and are 0. Shared by the blocked float GEMM tile
// (matmul_avx512.cc) and the decode GEMV (gemv_avx512.cc); include only from AVX-512 sources.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "ops/cpu/kernels.h"

namespace phx::ops::cpu::avx512 {

template <DType WT>
inline __m512 LoadFloat16(const uint8_t* p, int64_t k, __mmask16 mask) {
  if constexpr (WT == DType::kF32) {
    return _mm512_maskz_loadu_ps(mask, reinterpret_cast<const float*>(p) + k);
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(mask, p + 2 * k);
    if constexpr (WT == DType::kF16) {
      return _mm512_cvtph_ps(h);
    } else {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
}

}  // namespace phx::ops::cpu::avx512
