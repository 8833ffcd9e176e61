// Quantization of f32 activation rows before the integer-dot matmuls, bit-exact with llama.cpp
// on x86: Q8_0 (quantize_row_q8_0: d = amax/127, q = rint(x * 127/amax), fp16 scale) and Q8_K
// (quantize_row_q8_K: iscale = -127/max, q = min(127, rint(x * iscale)), d = 1/iscale).
// Output layouts are in packed_formats.h.
#pragma once

#include <cstdint>

namespace phx::ops::cpu {

// Bytes of one packed Q8 activation row of K values (K % 32 == 0).
inline int64_t Q8ActRowBytes(int64_t K) { return (K + 63) / 64 * 192; }
void QuantizeActQ8(const float* x, int64_t K, uint8_t* out);

// Bytes of one bf16 activation row of K values (padded with zeros to a multiple of 32).
inline int64_t BF16ActRowBytes(int64_t K) { return (K + 31) / 32 * 64; }

// Bytes of one packed Q8_K activation row of K values (K % 256 == 0).
inline int64_t KActRowBytes(int64_t K) { return K / 256 * 384; }
void QuantizeActK(const float* x, int64_t K, uint8_t* out);

}  // namespace phx::ops::cpu
