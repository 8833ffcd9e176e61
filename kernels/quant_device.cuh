// Device-side decoding of weight rows in their device layouts (kernels/quant_layout.h), shared
// by the weight GEMV, the dequantize kernel and the embedding gather (included by .cu files only).
//
// A row of K weights is read in "units": QuantUnit<kW>::kVals values that one thread decodes from
// one or two 16-byte loads. A unit's values lie in kSegs runs of 8 consecutive elements; Load()
// returns the values (run by run) and each run's first element index within the row, so callers
// pair them with 16-byte vectors of activations or write them as 16-byte vectors.
//   f16/bf16: 8 values, one run (a plain 16-byte load).
//   q8_0 (planar): 16 values = half a block: 16 int8 quants times the block's f16 scale.
//   q4_K: 32 values = 16 bytes of one 64-value group of a 256-value block: low nibbles give
//     elements 64j + 16h + 0..15 (sub-block 2j), high nibbles 64j + 32 + 16h + 0..15 (2j + 1).
//   q6_K (planar): 32 values = 16 ql bytes and 16 qh bytes of one 128-value half h of a block:
//     unit q (0..3) of the half reads ql bytes 16q.. and qh bytes 16 (q % 2)..; with jp = q / 2
//     and l0 = 16 (q % 2), low nibbles (qh bits 2jp, 2jp+1) give elements 128h + 32jp + l0 +
//     0..15, high nibbles (bits 2jp+4, 2jp+5) elements 128h + 32 (jp + 2) + l0 + 0..15;
//     value = d * scale * (q6 - 32) with the scale of element e at 8h + (e % 32) / 16 + 2 j.
//   q5_K: q4_K's units plus the 5th bit of each value from 16 bytes of qh (one more load).
#pragma once

#include <cstdint>

#include "kernels/device_types.cuh"
#include "kernels/quant_layout.h"

namespace phx::kernels {

__device__ __forceinline__ float HalfBitsToF32(uint32_t bits) {
  return __half2float(__ushort_as_half(static_cast<unsigned short>(bits & 0xFFFF)));
}

// Byte i (0..11) of a Q4_K block's scales, held in three 32-bit words (no local-memory array).
__device__ __forceinline__ int Q4KScaleByte(const uint32_t (&s)[3], int i) {
  const uint32_t word = i < 4 ? s[0] : (i < 8 ? s[1] : s[2]);
  return static_cast<int>((word >> (8 * (i & 3))) & 0xFF);
}

// The j-th (0..7) 6-bit scale and min of a Q4_K block (device copy of base/dtype.h Q4KScaleMin).
__device__ __forceinline__ void Q4KScaleMinDev(int j, const uint32_t (&q)[3], int* sc, int* m) {
  if (j < 4) {
    *sc = Q4KScaleByte(q, j) & 63;
    *m = Q4KScaleByte(q, j + 4) & 63;
  } else {
    *sc = (Q4KScaleByte(q, j + 4) & 0xF) | ((Q4KScaleByte(q, j - 4) >> 6) << 4);
    *m = (Q4KScaleByte(q, j + 4) >> 4) | ((Q4KScaleByte(q, j) >> 6) << 4);
  }
}

template <DType kW>
struct QuantUnit;

template <DType kW>
struct DenseUnit {
  using T = typename DevType<kW>::type;
  static constexpr int kVals = 8;
  static constexpr int kSegs = 1;
  // w: [rows, k] packed.
  __device__ __forceinline__ static void Load(const void* w, int64_t /*rows*/, int64_t k,
                                              int64_t row, int64_t u, float (&v)[kVals],
                                              int64_t (&off)[kSegs]) {
    off[0] = u * 8;
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(w) + row * k) + u);
    Unpack8<T>(raw, v);
  }
};
template <>
struct QuantUnit<DType::kF16> : DenseUnit<DType::kF16> {};
template <>
struct QuantUnit<DType::kBF16> : DenseUnit<DType::kBF16> {};

template <>
struct QuantUnit<DType::kQ8_0> {
  static constexpr int kVals = 16;
  static constexpr int kSegs = 2;
  // w: planar [rows, k] int8 quants, then [rows, k / 32] f16 scales at Q8_0PlanarScaleOffset.
  __device__ __forceinline__ static void Load(const void* w, int64_t rows, int64_t k, int64_t row,
                                              int64_t u, float (&v)[kVals], int64_t (&off)[kSegs]) {
    const auto* base = static_cast<const uint8_t*>(w);
    const uint4 q = __ldg(reinterpret_cast<const uint4*>(base + row * k) + u);
    const int64_t scale_off = ((rows * k + 255) / 256) * 256;  // Q8_0PlanarScaleOffset
    const auto* scales = reinterpret_cast<const unsigned short*>(base + scale_off);
    const float d = __half2float(__ushort_as_half(__ldg(scales + row * (k / 32) + u / 2)));
    const uint32_t words[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const int8_t b = static_cast<int8_t>((words[i / 4] >> (8 * (i % 4))) & 0xFF);
      v[i] = d * static_cast<float>(b);
    }
    off[0] = u * 16;
    off[1] = u * 16 + 8;
  }
};

// A unit of a K-quant with Q4_K's layout of d, dmin and 12 bytes of 6-bit scales and mins in the
// block's first 16 bytes (q4_K, q5_K): the 16 quant bytes of group j (0..3), half h at
// kQsOffset + 32j + 16h give sub-blocks 2j (low nibbles) and 2j + 1 (high nibbles). With
// kFifthBit (q5_K), 16 bytes of qh at 16 + 16h add bit 2j (low nibbles) or 2j + 1 (high ones)
// as each value's 5th bit.
template <int kBlockBytes, int kQsOffset, bool kFifthBit>
__device__ __forceinline__ void LoadQ4KLayoutUnit(const void* w, int64_t k, int64_t row, int64_t u,
                                                  float (&v)[32], int64_t (&off)[4]) {
  const int64_t blk = u / 8;
  const int l = static_cast<int>(u % 8), j = l / 2, h = l % 2;
  const auto* block = static_cast<const uint8_t*>(w) + (row * (k / 256) + blk) * kBlockBytes;
  const uint4 head = __ldg(reinterpret_cast<const uint4*>(block));
  uint32_t hw[4] = {0, 0, 0, 0};
  if constexpr (kFifthBit) {
    const uint4 qh = __ldg(reinterpret_cast<const uint4*>(block + 16 + 16 * h));
    hw[0] = qh.x;
    hw[1] = qh.y;
    hw[2] = qh.z;
    hw[3] = qh.w;
  }
  const uint4 qs = __ldg(reinterpret_cast<const uint4*>(block + kQsOffset + 32 * j + 16 * h));
  const float d = HalfBitsToF32(head.x);
  const float dmin = HalfBitsToF32(head.x >> 16);
  const uint32_t scales[3] = {head.y, head.z, head.w};
  int sc, m;
  Q4KScaleMinDev(2 * j, scales, &sc, &m);
  const float d1 = d * sc, m1 = dmin * m;
  Q4KScaleMinDev(2 * j + 1, scales, &sc, &m);
  const float d2 = d * sc, m2 = dmin * m;
  const uint32_t qw[4] = {qs.x, qs.y, qs.z, qs.w};
#pragma unroll
  for (int i = 0; i < 16; ++i) {
    const uint32_t b = (qw[i / 4] >> (8 * (i % 4))) & 0xFF;
    uint32_t q_lo = b & 0xF, q_hi = b >> 4;
    if constexpr (kFifthBit) {
      const uint32_t hb = (hw[i / 4] >> (8 * (i % 4))) & 0xFF;
      q_lo |= ((hb >> (2 * j)) & 1) << 4;
      q_hi |= ((hb >> (2 * j + 1)) & 1) << 4;
    }
    v[i] = d1 * static_cast<float>(q_lo) - m1;
    v[16 + i] = d2 * static_cast<float>(q_hi) - m2;
  }
  const int64_t e0 = blk * 256 + 64 * j + 16 * h;
  off[0] = e0;
  off[1] = e0 + 8;
  off[2] = e0 + 32;
  off[3] = e0 + 40;
}

template <>
struct QuantUnit<DType::kQ4_K> {
  static constexpr int kVals = 32;
  static constexpr int kSegs = 4;
  static constexpr int kBlockBytes = 144;
  // w: [rows, k / 256] GGUF BlockQ4_K, rows packed (d, dmin and the scales fill the first 16
  // bytes, qs the last 128).
  __device__ __forceinline__ static void Load(const void* w, int64_t /*rows*/, int64_t k,
                                              int64_t row, int64_t u, float (&v)[kVals],
                                              int64_t (&off)[kSegs]) {
    LoadQ4KLayoutUnit<kBlockBytes, 16, false>(w, k, row, u, v, off);
  }
};

template <>
struct QuantUnit<DType::kQ5_K> {
  static constexpr int kVals = 32;
  static constexpr int kSegs = 4;
  static constexpr int kBlockBytes = 176;
  // w: [rows, k / 256] GGUF BlockQ5_K, rows packed (176 = 11 x 16 bytes: d, dmin and the
  // scales fill the first 16 bytes, qh the next 32, qs the last 128, all 16-byte aligned).
  // Unit l (0..7) of a block is Q4_K's unit l plus the 5th bits: qh bytes 16h..16h+15, bit 2j
  // for the low nibbles (sub-block 2j), bit 2j+1 for the high ones.
  __device__ __forceinline__ static void Load(const void* w, int64_t /*rows*/, int64_t k,
                                              int64_t row, int64_t u, float (&v)[kVals],
                                              int64_t (&off)[kSegs]) {
    LoadQ4KLayoutUnit<kBlockBytes, 48, true>(w, k, row, u, v, off);
  }
};

template <>
struct QuantUnit<DType::kQ6_K> {
  static constexpr int kVals = 32;
  static constexpr int kSegs = 4;
  // w: planar sections (kernels/quant_layout.h Q6KPlanar), offsets recomputed here.
  __device__ __forceinline__ static void Load(const void* w, int64_t rows, int64_t k, int64_t row,
                                              int64_t u, float (&v)[kVals], int64_t (&off)[kSegs]) {
    const auto* base = static_cast<const uint8_t*>(w);
    const int64_t n = rows * k;
    const int64_t qh_off = ((n / 2 + 255) / 256) * 256;
    const int64_t sc_off = ((qh_off + n / 4 + 255) / 256) * 256;
    const int64_t d_off = ((sc_off + n / 16 + 255) / 256) * 256;
    const int64_t blk = u / 8;
    const int rem = static_cast<int>(u % 8), half = rem / 4, q = rem % 4;
    const int jp = q / 2, l0 = 16 * (q % 2);
    const int64_t bi = row * (k / 256) + blk;  // block index, row-major
    const uint4 ql = __ldg(reinterpret_cast<const uint4*>(base + bi * 128 + half * 64 + q * 16));
    const uint4 qh =
        __ldg(reinterpret_cast<const uint4*>(base + qh_off + bi * 64 + half * 32 + (q % 2) * 16));
    const uint2 sc = __ldg(reinterpret_cast<const uint2*>(base + sc_off + bi * 16 + half * 8));
    const float d = __half2float(
        __ushort_as_half(__ldg(reinterpret_cast<const unsigned short*>(base + d_off) + bi)));
    const int s_lo = l0 / 16 + 2 * jp, s_hi = s_lo + 4;  // scale indices within the half
    auto scale = [&](int s) {
      const uint32_t word = s < 4 ? sc.x : sc.y;
      return static_cast<float>(static_cast<int8_t>((word >> (8 * (s & 3))) & 0xFF));
    };
    const float d_lo = d * scale(s_lo), d_hi = d * scale(s_hi);
    const uint32_t lw[4] = {ql.x, ql.y, ql.z, ql.w};
    const uint32_t hw[4] = {qh.x, qh.y, qh.z, qh.w};
#pragma unroll
    for (int i = 0; i < 16; ++i) {
      const uint32_t lb = (lw[i / 4] >> (8 * (i % 4))) & 0xFF;
      const uint32_t hb = (hw[i / 4] >> (8 * (i % 4))) & 0xFF;
      const int q_lo = static_cast<int>((lb & 0xF) | (((hb >> (2 * jp)) & 3) << 4)) - 32;
      const int q_hi = static_cast<int>((lb >> 4) | (((hb >> (2 * jp + 4)) & 3) << 4)) - 32;
      v[i] = d_lo * static_cast<float>(q_lo);
      v[16 + i] = d_hi * static_cast<float>(q_hi);
    }
    const int64_t e0 = blk * 256 + half * 128 + 32 * jp + l0;
    off[0] = e0;
    off[1] = e0 + 8;
    off[2] = e0 + 64;
    off[3] = e0 + 72;
  }
};

}  // namespace phx::kernels
