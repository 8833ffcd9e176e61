// Reference dequantizers for every supported type (DequantizeRow): plain C++, one block at a
// time, following ggml's dequantize_row_* element by element. Each value is one product (or a
// product and a min) of integers and f16/E8M0 scales, so every result is the exact value
// rounded once to f32 whatever the compiler contracts.
#include <cstring>

#include "base/dtype.h"

namespace phx {
namespace {

template <typename B>
B LoadBlock(const uint8_t* p, int64_t i) {
  B b;
  std::memcpy(&b, p + i * static_cast<int64_t>(sizeof(B)), sizeof(B));
  return b;
}

// Q4_0-style nibbles: element j < 16 is the low nibble of byte j, element j + 16 the high one.
inline int Nibble(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }

void DequantizeQ32(DType t, const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += kQK32) {
    switch (t) {
      case DType::kQ8_0: {
        const auto blk = LoadBlock<BlockQ8_0>(b, i);
        const float d = F16ToF32(blk.d);
        for (int j = 0; j < 32; ++j) y[j] = blk.qs[j] * d;
        break;
      }
      case DType::kQ4_0: {
        const auto blk = LoadBlock<BlockQ4_0>(b, i);
        const float d = F16ToF32(blk.d);
        for (int j = 0; j < 32; ++j) y[j] = (Nibble(blk.qs, j) - 8) * d;
        break;
      }
      case DType::kQ4_1: {
        const auto blk = LoadBlock<BlockQ4_1>(b, i);
        const float d = F16ToF32(blk.d), m = F16ToF32(blk.m);
        for (int j = 0; j < 32; ++j) y[j] = Nibble(blk.qs, j) * d + m;
        break;
      }
      case DType::kQ5_0:
      case DType::kQ5_1: {
        const bool q51 = t == DType::kQ5_1;
        uint16_t dh, mh = 0;
        uint32_t qh;
        const uint8_t* qs;
        BlockQ5_0 b0;
        BlockQ5_1 b1;
        if (q51) {
          b1 = LoadBlock<BlockQ5_1>(b, i);
          dh = b1.d;
          mh = b1.m;
          std::memcpy(&qh, b1.qh, 4);
          qs = b1.qs;
        } else {
          b0 = LoadBlock<BlockQ5_0>(b, i);
          dh = b0.d;
          std::memcpy(&qh, b0.qh, 4);
          qs = b0.qs;
        }
        const float d = F16ToF32(dh), m = F16ToF32(mh);
        for (int j = 0; j < 32; ++j) {
          const int q = Nibble(qs, j) | static_cast<int>(((qh >> j) & 1) << 4);
          y[j] = q51 ? q * d + m : (q - 16) * d;
        }
        break;
      }
      case DType::kIQ4_NL: {
        const auto blk = LoadBlock<BlockIQ4NL>(b, i);
        const float d = F16ToF32(blk.d);
        for (int j = 0; j < 32; ++j) y[j] = d * kIQ4NLValues[Nibble(blk.qs, j)];
        break;
      }
      case DType::kMXFP4: {
        const auto blk = LoadBlock<BlockMXFP4>(b, i);
        const float d = E8M0ToFloatHalf(blk.e);
        for (int j = 0; j < 32; ++j) y[j] = kFP4Values[Nibble(blk.qs, j)] * d;
        break;
      }
      default:
        break;
    }
  }
}

void DequantizeQ2K(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto blk = LoadBlock<BlockQ2_K>(b, i);
    const float d = F16ToF32(blk.d), dmin = F16ToF32(blk.dmin);
    for (int e = 0; e < kQK_K; ++e) {
      // Element e: 128-chunk c, 2-bit plane s, 32-lane l; sub-block of 16 = e / 16.
      const int c = e / 128, s = (e % 128) / 32, l = e % 32;
      const int q = (blk.qs[32 * c + l] >> (2 * s)) & 3;
      const uint8_t sc = blk.scales[e / 16];
      const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
      y[i * kQK_K + e] = dl * q - ml;
    }
  }
}

void DequantizeQ3K(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto blk = LoadBlock<BlockQ3_K>(b, i);
    const float d = F16ToF32(blk.d);
    for (int e = 0; e < kQK_K; ++e) {
      const int c = e / 128, s = (e % 128) / 32, l = e % 32;
      const int lo = (blk.qs[32 * c + l] >> (2 * s)) & 3;
      const bool hi = (blk.hmask[l] >> (4 * c + s)) & 1;
      const float dl = d * Q3KScale(e / 16, blk.scales);
      y[i * kQK_K + e] = dl * (lo - (hi ? 0 : 4));
    }
  }
}

void DequantizeQ45K(DType t, const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    uint16_t dh, dmh;
    uint8_t scales[kKScaleBytes], qh[kQK_K / 8] = {}, qs[kQK_K / 2];
    if (t == DType::kQ4_K) {
      const auto blk = LoadBlock<BlockQ4_K>(b, i);
      dh = blk.d;
      dmh = blk.dmin;
      std::memcpy(scales, blk.scales, sizeof(scales));
      std::memcpy(qs, blk.qs, sizeof(qs));
    } else {
      const auto blk = LoadBlock<BlockQ5_K>(b, i);
      dh = blk.d;
      dmh = blk.dmin;
      std::memcpy(scales, blk.scales, sizeof(scales));
      std::memcpy(qh, blk.qh, sizeof(qh));
      std::memcpy(qs, blk.qs, sizeof(qs));
    }
    const float d = F16ToF32(dh), dmin = F16ToF32(dmh);
    for (int e = 0; e < kQK_K; ++e) {
      const int sb = e / 32, l = e % 32;  // sub-block sb: nibble (sb & 1) of bytes 32*(sb/2)+l
      const int lo = (qs[32 * (sb / 2) + l] >> (4 * (sb & 1))) & 0xF;
      const int q = lo | (((qh[l] >> sb) & 1) << 4);
      uint8_t sc, m;
      Q4KScaleMin(sb, scales, &sc, &m);
      const float d1 = d * sc, m1 = dmin * m;
      y[i * kQK_K + e] = d1 * q - m1;
    }
  }
}

void DequantizeQ6K(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto blk = LoadBlock<BlockQ6_K>(b, i);
    const float d = F16ToF32(blk.d);
    for (int e = 0; e < kQK_K; ++e) {
      // 128-half h; within it quarter s (0..3) of 32 lanes l: ql byte 64h + l + 32 (s & 1),
      // nibble s / 2; qh byte 32h + l, bits 2s, 2s+1.
      const int h = e / 128, s = (e % 128) / 32, l = e % 32;
      const int lo = (blk.ql[64 * h + l + 32 * (s & 1)] >> (4 * (s / 2))) & 0xF;
      const int hi = (blk.qh[32 * h + l] >> (2 * s)) & 3;
      y[i * kQK_K + e] = d * blk.scales[e / 16] * ((lo | (hi << 4)) - 32);
    }
  }
}

void DequantizeIQ4XS(const uint8_t* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const auto blk = LoadBlock<BlockIQ4XS>(b, i);
    const float d = F16ToF32(blk.d);
    for (int sb = 0; sb < 8; ++sb) {
      const float dl = d * IQ4XSScale(sb, blk.scales_h, blk.scales_l);
      for (int j = 0; j < 32; ++j) {
        y[i * kQK_K + 32 * sb + j] = dl * kIQ4NLValues[Nibble(blk.qs + 16 * sb, j)];
      }
    }
  }
}

}  // namespace

bool DequantizeRow(DType t, const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return true;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b + 2 * i, 2);
        dst[i] = t == DType::kF16 ? F16ToF32(h) : BF16ToF32(h);
      }
      return true;
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kIQ4_NL:
    case DType::kMXFP4:
      DequantizeQ32(t, b, dst, n / kQK32);
      return true;
    case DType::kQ2_K:
      DequantizeQ2K(b, dst, n / kQK_K);
      return true;
    case DType::kQ3_K:
      DequantizeQ3K(b, dst, n / kQK_K);
      return true;
    case DType::kQ4_K:
    case DType::kQ5_K:
      DequantizeQ45K(t, b, dst, n / kQK_K);
      return true;
    case DType::kQ6_K:
      DequantizeQ6K(b, dst, n / kQK_K);
      return true;
    case DType::kIQ4_XS:
      DequantizeIQ4XS(b, dst, n / kQK_K);
      return true;
    case DType::kI32:
      return false;
  }
  return false;
}

}  // namespace phx
