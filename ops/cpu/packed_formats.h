// Byte layouts of the packed activations and decoded weight panels the matmul kernels consume.
// The same layouts serve every ISA level; only the weight-value offset differs (AVX-512 VNNI
// multiplies unsigned weights by signed activations, so it stores Q8 weights + 128).
#pragma once

#include <cstdint>

namespace phx::ops::cpu {

// Rows of a decoded weight panel are interleaved in groups of kGroupRows per block.
inline constexpr int kGroupRows = 4;

// ---- q8 family: pairs of 32-element blocks ------------------------------------------------
// Activation pair (64 values): q[64] int8 | dx[16] f32 = {d_A x8, d_B x8} |
// corr[16] int32 = {-128 * sum(q_A), 0 x7, -128 * sum(q_B), 0 x7}. An odd last block is paired
// with a zero block.
inline constexpr int64_t kQ8ActPairBytes = 192;
// Weight pair, per row: q[64] (value + offset) | dw[16] f32 = {d_A x8, d_B x8} |
// mw[16] f32 = {-m_A / 128, 0 x7, -m_B / 128, 0 x7} (Q4_1/Q5_1's mins; with the activation
// pair's corr lanes, sum(mw * corr * dx) = m_A * dx_A * sum(q_A) + m_B * dx_B * sum(q_B)).
inline constexpr int64_t kQ8WRowPairBytes = 192;
inline constexpr int64_t kQ8WDOffset = 64;
inline constexpr int64_t kQ8WMinOffset = 128;
inline constexpr int64_t kQ8WGroupPairBytes = kQ8WRowPairBytes * kGroupRows;

// ---- k family: 256-element super-blocks ---------------------------------------------------
// q bytes are stored in "lane order": 32-value sub-blocks in the order 0, 2, 1, 3, 4, 6, 5, 7,
// which is how Q4_K's nibbles fall out of a 64-byte load (low nibbles: sub-blocks 2c, 2c+2;
// high: 2c+1, 2c+3), so AVX-512 can use raw Q4_K bytes directly. Group sums and mins stay in
// natural order (group g = values 16g .. 16g+15).
inline constexpr int kKLaneSubBlock[8] = {0, 2, 1, 3, 4, 6, 5, 7};
// The natural index of the value at lane-order byte position p (0..255).
inline constexpr int KLaneToNatural(int p) { return 32 * kKLaneSubBlock[p / 32] + p % 32; }
// And back (the sub-block order is its own inverse).
inline constexpr int KNaturalToLane(int e) { return KLaneToNatural(e); }
// Activation super-block: q[256] int8 | bsum[16] f32 (d * sum of each 16 q) | d f32 | pad.
inline constexpr int64_t kKActBytes = 384;
inline constexpr int64_t kKActBsumOffset = 256;
inline constexpr int64_t kKActDOffset = 320;
// Weight super-block, per row: q[256] uint8 (0..63, lane order) | sc[128] int16 (the integer
// scale of q bytes 2i, 2i+1) | mins[16] f32 (per natural group: -dmin * m for Q4_K,
// -32 * d * scale for Q6_K) | d f32 | pad. Then, with the activation super-block above,
//   dot(w, x) = d * dx * sum_i sc[i/2] q[i] xq[i] + sum_g mins[g] * bsum[g].
inline constexpr int64_t kKWRowBytes = 640;
inline constexpr int64_t kKWScOffset = 256;
inline constexpr int64_t kKWMinsOffset = 512;
inline constexpr int64_t kKWDOffset = 576;
inline constexpr int64_t kKWGroupBytes = kKWRowBytes * kGroupRows;

// ---- Q8_0 weights repacked at load (RepackQ8x16, AVX-512 VNNI) ---------------------------
// Rows in groups of 16 (the last group padded with zero rows). A group of K = 32 nb values is
// a sequence of units of two blocks (the last one, for an odd nb, of one), each
//   scales: per block, 16 f16 (block b's scale of rows 0..15): 64 bytes (zero padded in a
//           one-block unit);
//   quants: per block 8 chunks of 64 bytes; chunk c of block b holds, for row j = 0..15, bytes
//           4c .. 4c+3 of the row's block b, each + 128 (unsigned), at 4j .. 4j+3.
// so a kernel reads a group front to back as one sequential stream (as Q32x16 does: a GEMV
// streams far faster from DRAM so than with all scales ahead of all quants).
// One vpdpbusd of a chunk with 4 activation bytes broadcast to every lane adds 4 products to
// each of the 16 rows' sums, so a block's dot products for 16 rows finish in one register
// with no horizontal reduction: one conversion and one FMA per 16 rows x 32 values.
// Activations for these kernels (QuantizeActQ8x16) in panels of 8 rows, so that every value a
// tile broadcasts sits at a constant offset from one pointer. Per block b of 32 values a panel
// holds kQ8x16PanelBlockBytes at b * kQ8x16PanelBlockBytes:
//   q:    chunk c (values 4c .. 4c+3, int8) of row r at 4 * (8c + r)   (256 bytes);
//   d:    row r's f32 scale at 256 + 4r;
//   corr: row r's int32 -128 * sum(q of the block) at 288 + 4r.
// 1.25 bytes per value: two panels of a 2048-long input (40 KB) stay in L1/L2 while the weight
// groups stream past them. Rows of the last panel past M are left unwritten (never read).
// A panel of fewer rows (`rows`: 1 for one row's compact copy, which single-row calls get)
// keeps the same units in the same order, row-inner: PanelUnit(off, r, rows) is the byte of
// row r's unit whose row-0 byte in an 8-row panel is `off` (the K panels of repack_formats.h
// follow the same rule).
constexpr int64_t PanelUnit(int64_t off, int row, int rows) { return off / 8 * rows + 4 * row; }
inline constexpr int kQ8x16PanelRows = 8;
inline constexpr int64_t kQ8x16PanelBlockBytes = 320;
inline constexpr int64_t kQ8x16PanelDOffset = 256;
inline constexpr int64_t kQ8x16PanelCorrOffset = 288;
inline int64_t Q8x16PanelBytes(int64_t K) { return K / 32 * kQ8x16PanelBlockBytes; }
inline constexpr int kQ8x16Rows = 16;
inline constexpr int64_t kQ8x16BlockQuantBytes = 512;
inline constexpr int64_t kQ8x16UnitBytes = 64 + 2 * kQ8x16BlockQuantBytes;
// Where block b's scales and quants start in its group.
constexpr int64_t Q8x16ScaleOffset(int64_t b) { return b / 2 * kQ8x16UnitBytes + b % 2 * 32; }
constexpr int64_t Q8x16QuantOffset(int64_t b) {
  return b / 2 * kQ8x16UnitBytes + 64 + b % 2 * kQ8x16BlockQuantBytes;
}
inline int64_t Q8x16GroupBytes(int64_t K) {
  const int64_t nb = K / 32;
  return nb / 2 * kQ8x16UnitBytes + (nb % 2 != 0 ? 64 + kQ8x16BlockQuantBytes : 0);
}
inline int64_t Q8x16Bytes(int64_t N, int64_t K) {
  return (N + kQ8x16Rows - 1) / kQ8x16Rows * Q8x16GroupBytes(K);
}

}  // namespace phx::ops::cpu
