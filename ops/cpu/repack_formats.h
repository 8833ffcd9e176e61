// Load-time weight layouts of the 4-6-bit types for the AVX-512 VNNI kernels (repack.cc writes
// them, matmul_q32x16_avx512.cc and matmul_kx16_avx512.cc read them), and the activation panel
// of the K layout. Like Q8x16 (packed_formats.h): rows in groups of 16, one row per 32-bit lane
// of a 512-bit register, so one vpdpbusd of a weight chunk against 4 activation bytes broadcast
// to every lane adds 4 products to each of 16 rows' sums, and no horizontal reduction is ever
// needed. Unlike Q8x16 the quants stay packed (4, 5, 6 or fewer bits a value, about the file's
// size: decode streams the same bytes), and are unpacked in registers per chunk, a few
// instructions shared by every activation row of a tile.
//
// Shared packings, per 32 values ("unit") of one 16-row group:
//   nibbles: 4 vectors V0..V3 of 64 bytes; byte 4j + i of Vc holds, for row j, value 4c + i of
//            the unit in its low nibble and value 4(c + 4) + i in its high nibble (so chunk c
//            is Vc & 15 for c < 4, (V(c-4) >> 4) & 15 for c >= 4).   256 bytes.
//   2-bit:   2 vectors H0, H1; byte 4j + i of Hk holds, for row j, the fields of values
//            4(4k + f) + i at bits 2f, 2f + 1 (f = 0..3).                 128 bytes.
//   1-bit:   8 masks of 64 bits, one per chunk c; bit 4j + i is the bit of value 4c + i of row
//            j (a vpmovm2b-style masked move expands it).                 64 bytes.
// A unit's chunk c (values 4c .. 4c+3) meets activation chunk 8u + c of the super-block.
#pragma once

#include <cstdint>

#include "base/dtype.h"

namespace phx::ops::cpu {

inline constexpr int kRepackRows = 16;
inline constexpr int64_t kNibbleUnitBytes = 256;
inline constexpr int64_t kTwoBitUnitBytes = 128;
inline constexpr int64_t kOneBitUnitBytes = 64;

// ---- Layout A: "Q32x16", 32-element blocks (Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL MXFP4) --------------
// A group of K = 32 nb values is a sequence of units of U blocks (U = Q32x16UnitBlocks: 64
// scale bytes per unit), the last one possibly shorter; a unit is
//   scales: per block, for rows 0..15: f16 d (Q4_0 Q5_0 IQ4_NL: 32 bytes, U = 2); f16 d then
//           f16 m (Q4_1 Q5_1: 64 bytes, U = 1); the E8M0 byte (MXFP4: 16 bytes, U = 4); 64
//           bytes in all (zero padded in a short last unit);
//   quants: per block, nibbles (256 bytes), then for Q5_0/Q5_1 the 5th bits as 1-bit (64).
// A kernel reads a group front to back, one sequential stream: measured on the EPYC, a GEMV
// streamed 1.5x faster so than with all scales ahead of all quants (two streams per
// group; docs/benchmarks.md section 1).
// Activations: the Q8x16 panels of packed_formats.h (Q8_0 blocks of 32).
inline bool IsQ32x16Type(DType t) {
  return t == DType::kQ4_0 || t == DType::kQ4_1 || t == DType::kQ5_0 || t == DType::kQ5_1 ||
         t == DType::kIQ4_NL || t == DType::kMXFP4;
}
constexpr int64_t Q32x16ScalePerBlock(DType t) {
  return t == DType::kMXFP4 ? 16 : (t == DType::kQ4_1 || t == DType::kQ5_1) ? 64 : 32;
}
constexpr int64_t Q32x16QuantPerBlock(DType t) {
  return kNibbleUnitBytes + ((t == DType::kQ5_0 || t == DType::kQ5_1) ? kOneBitUnitBytes : 0);
}
inline constexpr int64_t kQ32x16UnitScaleBytes = 64;
constexpr int64_t Q32x16UnitBlocks(DType t) {
  return kQ32x16UnitScaleBytes / Q32x16ScalePerBlock(t);
}
constexpr int64_t Q32x16UnitBytes(DType t) {
  return kQ32x16UnitScaleBytes + Q32x16UnitBlocks(t) * Q32x16QuantPerBlock(t);
}
// Where block b (>= 0) of a group starts its scales and quants. Unsigned, so that with a
// constant type the unit's division and remainder are a shift and a mask (a signed division
// costs the kernel's decode loop 19 more instructions per block).
constexpr int64_t Q32x16ScaleOffset(DType t, int64_t b) {
  const uint64_t ub = static_cast<uint64_t>(b), u = Q32x16UnitBlocks(t);
  return static_cast<int64_t>(ub / u * Q32x16UnitBytes(t) + ub % u * Q32x16ScalePerBlock(t));
}
constexpr int64_t Q32x16QuantOffset(DType t, int64_t b) {
  const uint64_t ub = static_cast<uint64_t>(b), u = Q32x16UnitBlocks(t);
  return static_cast<int64_t>(ub / u * Q32x16UnitBytes(t) + kQ32x16UnitScaleBytes +
                              ub % u * Q32x16QuantPerBlock(t));
}
inline int64_t Q32x16GroupBytes(DType t, int64_t K) {
  const int64_t nb = K / 32, u = Q32x16UnitBlocks(t);
  return nb / u * Q32x16UnitBytes(t) +
         (nb % u != 0 ? kQ32x16UnitScaleBytes + nb % u * Q32x16QuantPerBlock(t) : 0);
}

// ---- Layout B: "Kx16", 256-element super-blocks (Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_XS) ---------
// A group of K = 256 ns values: ns super-blocks of KSuperBytes(t) each (a multiple of 64), with
// header fields for rows 0..15 and then the packed quants of the 8 units:
//   Q2_K:   d f16 @0 | dmin f16 @32 | the raw scale byte (sc | m << 4) [16 groups][16 rows] @64
//           | 2-bit values (0..3) @320.
//   Q3_K:   d f16 @0 | sc - 32 int8 [16][16] @32 | 2-bit low parts @320 | 1-bit high parts
//           @1344 (value = low + 4 * high - 4).
//   Q4_K:   d @0 | dmin @32 | sc uint8 [8][16] @64 | m uint8 [8][16] @192 | nibbles @320.
//   Q5_K:   as Q4_K | 1-bit fifth bits @2368.
//   Q6_K:   d @0 | sc int8 [16][16] @32 | nibbles (low 4 bits) @320 | 2-bit high parts @2368.
//   IQ4_XS: d @0 | ls - 32 int8 [8][16] @32 | nibbles (indices) @192.
// Per row, super-block: x = d * sum_g sc_g * (q - offset) [- dmin * sum_g m_g * x_g].
// (Q3_K, Q5_K, Q6_K keep the high parts in a second region: each unit's bytes together, read
// in address order, decoded 0.88-0.98x as fast with the kernel's prefetch; docs/benchmarks.md.)
inline bool IsKx16Type(DType t) {
  return t == DType::kQ2_K || t == DType::kQ3_K || t == DType::kQ4_K || t == DType::kQ5_K ||
         t == DType::kQ6_K || t == DType::kIQ4_XS;
}
constexpr int64_t KSuperBytes(DType t) {
  switch (t) {
    case DType::kQ2_K:
      return 320 + 8 * kTwoBitUnitBytes;  // 1344
    case DType::kQ3_K:
      return 320 + 8 * (kTwoBitUnitBytes + kOneBitUnitBytes);  // 1856
    case DType::kQ4_K:
      return 320 + 8 * kNibbleUnitBytes;  // 2368
    case DType::kQ5_K:
      return 320 + 8 * (kNibbleUnitBytes + kOneBitUnitBytes);  // 2880
    case DType::kQ6_K:
      return 320 + 8 * (kNibbleUnitBytes + kTwoBitUnitBytes);  // 3392
    case DType::kIQ4_XS:
      return 192 + 8 * kNibbleUnitBytes;  // 2240
    default:
      return 0;
  }
}
inline constexpr int64_t kKHdrScales = 64;   // Q2_K, Q4_K, Q5_K: the scale bytes
inline constexpr int64_t kKHdrMins = 192;    // Q4_K, Q5_K: the mins
inline constexpr int64_t kKHdrIScales = 32;  // Q3_K, Q6_K, IQ4_XS: the signed scales
inline constexpr int64_t kKQuants = 320;     // all but IQ4_XS
inline constexpr int64_t kKQuantsIQ4XS = 192;
inline int64_t KGroupBytes(DType t, int64_t K) { return K / 256 * KSuperBytes(t); }

// The repacked copy's size for N rows of K values (either layout), 0 for other types.
inline int64_t RepackedBytes(DType t, int64_t N, int64_t K) {
  const int64_t groups = (N + kRepackRows - 1) / kRepackRows;
  if (IsQ32x16Type(t)) return groups * Q32x16GroupBytes(t, K);
  if (IsKx16Type(t)) return groups * KGroupBytes(t, K);
  return 0;
}

// ---- Float layout: 64-row groups, k-major (F32 F16 BF16; the AVX-512 float kernels) -------
// One group holds rows 64g .. 64g + 63 (rows past N are zeros), value by value: for each k the
// 64 rows' values in the weight's own type, contiguous (F32: 256 bytes, F16: 128 bytes); BF16
// by pairs: for each pair p the 64 rows' 32-bit units (w[2p], w[2p + 1]) (256 bytes; an odd K's
// last pair has a zero high half), the operand layout of vdpbf16ps. One 512-bit load is one
// value (pair) of 16 rows, so every kernel keeps one accumulator lane per row and sums each
// row in the same order (matmul_float_panel_avx512.cc), whatever the number of activation rows.
inline constexpr int kFloatGroupRows = 64;
inline constexpr int64_t kFloatKBlock = 512;  // values per K block of every float kernel chain
inline int64_t FloatGroupBytes(DType t, int64_t K) {
  return t == DType::kF32 ? K * 256 : t == DType::kF16 ? K * 128 : (K + 1) / 2 * 256;
}
inline int64_t FloatGroupedBytes(DType t, int64_t N, int64_t K) {
  return (N + kFloatGroupRows - 1) / kFloatGroupRows * FloatGroupBytes(t, K);
}

// ---- Activation panel of the K layout (QuantizeActKx8) -------------------------------------
// 8 rows quantized as Q8_K (one scale per 256 values, llama.cpp's quantize_row_q8_K), per
// super-block kKPanelSuperBytes:
//   q:      chunk c (values 4c .. 4c+3) of row r at 4 * (8c + r)          (2048 bytes);
//   corr16: int32 -128 * sum(q) of group g (16 values) of row r at 2048 + 4 * (8g + r);
//   corr32: int32 -128 * sum(q) of unit u (32 values) of row r at 2560 + 4 * (8u + r);
//   sums:   int16 pair (sum of group 2u, sum of group 2u + 1) of row r at 2816 + 4 * (8u + r);
//   d:      row r's f32 scale at 3072 + 4r.
inline constexpr int kKPanelRows = 8;
inline constexpr int64_t kKPanelSuperBytes = 3136;
inline constexpr int64_t kKPanelCorr16 = 2048;
inline constexpr int64_t kKPanelCorr32 = 2560;
inline constexpr int64_t kKPanelSums = 2816;
inline constexpr int64_t kKPanelD = 3072;
inline int64_t KPanelBytes(int64_t K) { return K / 256 * kKPanelSuperBytes; }

}  // namespace phx::ops::cpu
