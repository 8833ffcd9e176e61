// Device layouts of weight matrices [rows, cols] (host helpers; no device code).
//   f16 / bf16: row-major, packed.
//   Q4_K, Q5_K: GGUF's blocks unchanged (144- and 176-byte blocks, 16-byte aligned rows when
//     cols % 256 == 0).
//   Q8_0: "planar": GGUF's 34-byte blocks are not 16-byte aligned, so the upload splits them
//     into int8 quants [rows, cols] (row-major) followed, at Q8_0PlanarScaleOffset, by the f16
//     scales [rows, cols / 32]. Same values, 16-byte vector loads.
//   Q6_K: "planar" too (210-byte blocks): four sections, each starting at a multiple of 256
//     bytes, each [rows, ...] row-major with a row's blocks in order: ql [rows, cols / 2] (a
//     block's 128 bytes), qh [rows, cols / 4] (64 bytes per block), the int8 scales
//     [rows, cols / 16] (16 per block) and the f16 super-block scales d [rows, cols / 256].
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

size_t Q8_0PlanarScaleOffset(int64_t rows, int64_t cols);
size_t Q8_0PlanarBytes(int64_t rows, int64_t cols);
// Splits rows * cols / 32 GGUF Q8_0 blocks (host memory) into the planar layout at `dst`
// (Q8_0PlanarBytes bytes, host memory). cols % 32 == 0.
void RepackQ8_0ToPlanar(const void* blocks, int64_t rows, int64_t cols, void* dst);
// The inverse (tests, downloads).
void PlanarToQ8_0(const void* planar, int64_t rows, int64_t cols, void* blocks);
// Section offsets of a planar Q6_K matrix (cols % 256 == 0).
struct Q6KPlanarLayout {
  size_t ql = 0, qh = 0, scales = 0, d = 0, bytes = 0;
};
Q6KPlanarLayout Q6KPlanar(int64_t rows, int64_t cols);
// Splits rows * cols / 256 GGUF Q6_K blocks (host memory) into the planar layout at `dst`
// (Q6KPlanar(rows, cols).bytes bytes, host memory), and back.
void RepackQ6_KToPlanar(const void* blocks, int64_t rows, int64_t cols, void* dst);
void PlanarToQ6_K(const void* planar, int64_t rows, int64_t cols, void* blocks);
// Bytes of a [rows, cols] matrix of `t` in its device layout; 0 for a type without one or a
// shape the type cannot hold (cols not a multiple of the block).
size_t DeviceMatrixBytes(DType t, int64_t rows, int64_t cols);

}  // namespace phx::kernels
