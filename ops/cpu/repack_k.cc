// Writes the 4-6-bit types' load-time layouts (repack_formats.h): Q32x16 for the 32-element
// types, Kx16 for the K-quants and IQ4_XS. Portable C++; reads each row's blocks through the
// raw fields of base/dtype.h's layouts.
#include <cstring>

#include "ops/cpu/decode_blocks.h"
#include "ops/cpu/repack.h"
#include "ops/cpu/repack_formats.h"

namespace phx::ops::cpu {
namespace {

inline int Nib(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }

// Row j's bytes of the packings (repack_formats.h), from its values in natural order.
void RowNibbles(const uint8_t* v, int j, uint8_t* unit) {  // one unit: v[0..31]
  for (int c = 0; c < 4; ++c) {
    for (int i = 0; i < 4; ++i) {
      unit[64 * c + 4 * j + i] = static_cast<uint8_t>(v[4 * c + i] | (v[4 * c + 16 + i] << 4));
    }
  }
}
void RowTwoBit(const uint8_t* v, int j, uint8_t* unit) {
  for (int k = 0; k < 2; ++k) {
    for (int i = 0; i < 4; ++i) {
      unit[64 * k + 4 * j + i] =
          static_cast<uint8_t>(v[16 * k + i] | (v[16 * k + 4 + i] << 2) | (v[16 * k + 8 + i] << 4) |
                               (v[16 * k + 12 + i] << 6));
    }
  }
}
void RowOneBit(const uint8_t* v, int j, uint64_t* masks) {  // masks[8] of one unit
  for (int c = 0; c < 8; ++c) {
    const uint64_t b = v[4 * c] | (v[4 * c + 1] << 1) | (v[4 * c + 2] << 2) | (v[4 * c + 3] << 3);
    masks[c] |= b << (4 * j);
  }
}

// One group (rows n0 .. n0 + 15, those past N zero) of a Q32x16 type.
void RepackQ32Group(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t n0,
                    uint8_t* out) {
  const int64_t nb = K / 32, bb = GetDTypeInfo(t)->block_bytes;
  const int64_t spb = Q32x16ScalePerBlock(t), qpb = Q32x16QuantPerBlock(t);
  std::memset(out, 0, static_cast<size_t>(Q32x16GroupBytes(t, K)));
  uint8_t* quants = out + Q32x16ScaleBytes(t, K);
  const bool q5 = t == DType::kQ5_0 || t == DType::kQ5_1;
  const bool min = t == DType::kQ4_1 || t == DType::kQ5_1;
  const int64_t qs_off = t == DType::kMXFP4 ? 1 : min ? (q5 ? 8 : 4) : (q5 ? 6 : 2);
  for (int j = 0; j < kRepackRows; ++j) {
    if (n0 + j >= N) continue;  // zero scale, zero quants
    const uint8_t* row = w + (n0 + j) * pitch;
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = row + b * bb;
      uint8_t* sc = out + b * spb;
      if (t == DType::kMXFP4) {
        sc[j] = blk[0];
      } else {
        std::memcpy(sc + 2 * j, blk, 2);
        if (min) std::memcpy(sc + 32 + 2 * j, blk + 2, 2);
      }
      uint8_t v[32];
      for (int e = 0; e < 16; ++e) {
        v[e] = blk[qs_off + e] & 0xF;
        v[16 + e] = blk[qs_off + e] >> 4;
      }
      RowNibbles(v, j, quants + b * qpb);
      if (q5) {
        uint32_t qh;
        std::memcpy(&qh, blk + (min ? 4 : 2), 4);
        uint64_t masks[8];
        std::memcpy(masks, quants + b * qpb + kNibbleUnitBytes, sizeof(masks));
        for (int c = 0; c < 8; ++c)
          masks[c] |= static_cast<uint64_t>((qh >> (4 * c)) & 15) << (4 * j);
        std::memcpy(quants + b * qpb + kNibbleUnitBytes, masks, sizeof(masks));
      }
    }
  }
}

// One super-block of one group of a Kx16 type: each row's values decoded to natural order
// (lo: nibbles or 2-bit fields, hi: the 1-bit or 2-bit upper parts), then written to its lane.
void RepackKSuper(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t n0, int64_t sb,
                  uint8_t* out) {
  const int64_t bb = GetDTypeInfo(t)->block_bytes;
  std::memset(out, 0, static_cast<size_t>(KSuperBytes(t)));
  uint64_t masks[8][8] = {};
  for (int j = 0; j < kRepackRows; ++j) {
    if (n0 + j >= N) continue;  // zero scales and quants
    const uint8_t* blk = w + (n0 + j) * pitch + sb * bb;
    uint8_t lo[256], hi[256];
    auto put_d = [&](int64_t at, const uint8_t* f16) { std::memcpy(out + at + 2 * j, f16, 2); };
    auto two_bit = [&](const uint8_t* qs, uint8_t* v) {  // Q2_K / Q3_K's 2-bit layout
      for (int c = 0; c < 2; ++c) {
        for (int l = 0; l < 32; ++l) {
          const uint8_t b = qs[32 * c + l];
          for (int s = 0; s < 4; ++s) v[128 * c + 32 * s + l] = (b >> (2 * s)) & 3;
        }
      }
    };
    switch (t) {
      case DType::kQ2_K:
        put_d(0, blk + 80);
        put_d(32, blk + 82);
        for (int g = 0; g < 16; ++g) out[kKHdrScales + 16 * g + j] = blk[g];
        two_bit(blk + 16, lo);
        break;
      case DType::kQ3_K:
        put_d(0, blk + 108);
        for (int g = 0; g < 16; ++g) {
          out[kKHdrIScales + 16 * g + j] = static_cast<uint8_t>(Q3KScale(g, blk + 96));
        }
        two_bit(blk + 32, lo);
        for (int c = 0; c < 2; ++c) {
          for (int s = 0; s < 4; ++s) {
            for (int l = 0; l < 32; ++l) hi[128 * c + 32 * s + l] = (blk[l] >> (4 * c + s)) & 1;
          }
        }
        break;
      case DType::kQ4_K:
      case DType::kQ5_K: {
        const bool q5 = t == DType::kQ5_K;
        put_d(0, blk);
        put_d(32, blk + 2);
        for (int u = 0; u < 8; ++u) {
          uint8_t sc, m;
          Q4KScaleMin(u, blk + 4, &sc, &m);
          out[kKHdrScales + 16 * u + j] = sc;
          out[kKHdrMins + 16 * u + j] = m;
        }
        const uint8_t* qs = blk + (q5 ? 48 : 16);
        for (int h = 0; h < 4; ++h) {
          for (int l = 0; l < 32; ++l) {
            lo[64 * h + l] = qs[32 * h + l] & 0xF;
            lo[64 * h + 32 + l] = qs[32 * h + l] >> 4;
          }
        }
        if (q5) {
          for (int u = 0; u < 8; ++u) {
            for (int l = 0; l < 32; ++l) hi[32 * u + l] = (blk[16 + l] >> u) & 1;
          }
        }
        break;
      }
      case DType::kQ6_K:
        put_d(0, blk + 208);
        for (int g = 0; g < 16; ++g) out[kKHdrIScales + 16 * g + j] = blk[192 + g];
        for (int h = 0; h < 2; ++h) {
          for (int l = 0; l < 32; ++l) {
            const uint8_t a = blk[64 * h + l], b = blk[64 * h + 32 + l], q = blk[128 + 32 * h + l];
            lo[128 * h + l] = a & 0xF;
            lo[128 * h + 32 + l] = b & 0xF;
            lo[128 * h + 64 + l] = a >> 4;
            lo[128 * h + 96 + l] = b >> 4;
            for (int s = 0; s < 4; ++s) hi[128 * h + 32 * s + l] = (q >> (2 * s)) & 3;
          }
        }
        break;
      case DType::kIQ4_XS: {
        put_d(0, blk);
        uint16_t sh;
        std::memcpy(&sh, blk + 2, 2);
        for (int u = 0; u < 8; ++u) {
          out[kKHdrIScales + 16 * u + j] = static_cast<uint8_t>(IQ4XSScale(u, sh, blk + 4));
          for (int e = 0; e < 32; ++e)
            lo[32 * u + e] = static_cast<uint8_t>(Nib(blk + 8 + 16 * u, e));
        }
        break;
      }
      default:
        break;
    }
    for (int u = 0; u < 8; ++u) {
      const uint8_t* l32 = lo + 32 * u;
      const uint8_t* h32 = hi + 32 * u;
      switch (t) {
        case DType::kQ2_K:
          RowTwoBit(l32, j, out + kKQuants + u * kTwoBitUnitBytes);
          break;
        case DType::kQ3_K:
          RowTwoBit(l32, j, out + kKQuants + u * kTwoBitUnitBytes);
          RowOneBit(h32, j, masks[u]);
          break;
        case DType::kQ4_K:
          RowNibbles(l32, j, out + kKQuants + u * kNibbleUnitBytes);
          break;
        case DType::kQ5_K:
          RowNibbles(l32, j, out + kKQuants + u * kNibbleUnitBytes);
          RowOneBit(h32, j, masks[u]);
          break;
        case DType::kQ6_K:
          RowNibbles(l32, j, out + kKQuants + u * kNibbleUnitBytes);
          RowTwoBit(h32, j, out + kKQuants + 8 * kNibbleUnitBytes + u * kTwoBitUnitBytes);
          break;
        case DType::kIQ4_XS:
          RowNibbles(l32, j, out + kKQuantsIQ4XS + u * kNibbleUnitBytes);
          break;
        default:
          break;
      }
    }
  }
  const int64_t one_bit = t == DType::kQ3_K   ? kKQuants + 8 * kTwoBitUnitBytes
                          : t == DType::kQ5_K ? kKQuants + 8 * kNibbleUnitBytes
                                              : -1;
  if (one_bit >= 0) std::memcpy(out + one_bit, masks, sizeof(masks));
}

}  // namespace

void RepackLowBit(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t g0,
                  int64_t g1, uint8_t* out) {
  for (int64_t g = g0; g < g1; ++g) {
    if (IsQ32x16Type(t)) {
      RepackQ32Group(t, w, pitch, N, K, g * kRepackRows, out + g * Q32x16GroupBytes(t, K));
    } else {
      uint8_t* group = out + g * KGroupBytes(t, K);
      for (int64_t s = 0; s < K / 256; ++s) {
        RepackKSuper(t, w, pitch, N, g * kRepackRows, s, group + s * KSuperBytes(t));
      }
    }
  }
}

}  // namespace phx::ops::cpu
