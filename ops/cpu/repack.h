// Load-time weight layouts for the CPU kernels (packed_formats.h describes the bytes). The
// CpuBackend's registry of repacked weights (PrepareMatmul) is defined in repack.cc as well.
#pragma once

#include <cstdint>

#include "base/dtype.h"

namespace phx::ops::cpu {

// Writes rows [g0 * 16, min(N, g1 * 16)) of a Q8_0 matrix (N rows of K values, `pitch` bytes
// apart) as groups g0 .. g1 - 1 of the Q8x16 layout into `out` (which holds every group, each
// Q8x16GroupBytes(K) bytes; rows past N are zero).
void RepackQ8x16(const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t g0, int64_t g1,
                 uint8_t* out);

// The same for the 4-6-bit types (repack_formats.h): groups g0 .. g1 - 1 of the Q32x16 layout
// (IsQ32x16Type) or the Kx16 layout (IsKx16Type) of an N x K matrix of type t.
void RepackLowBit(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t g0,
                  int64_t g1, uint8_t* out);

// Groups g0 .. g1 - 1 of the 64-row float layout (repack_formats.h) of an N x K F32, F16 or
// BF16 matrix into `out` (which holds every group, FloatGroupBytes(t, K) bytes each).
void RepackFloatGroups(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t g0,
                       int64_t g1, uint8_t* out);

}  // namespace phx::ops::cpu
