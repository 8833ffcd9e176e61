// Writes the 4-6-bit types' load-time layouts (repack_formats.h): Q32x16 for the 32-element
// types, Kx16 for the K-quants and IQ4_XS. Portable C++; reads each row's blocks through the
// raw fields of base/dtype.h's layouts.
#include <cstring>

#include "ops/cpu/decode_blocks.h"
#include "ops/cpu/repack.h"
#include "ops/cpu/repack_formats.h"

namespace phx::ops::cpu {
namespace {

using Unit = uint8_t[kRepackRows][32];  // 32 small values of each of the group's 16 rows

void PackNibbles(const Unit& v, uint8_t* out) {
  for (int c = 0; c < 4; ++c) {
    for (int j = 0; j < kRepackRows; ++j) {
      for (int i = 0; i < 4; ++i) {
        out[64 * c + 4 * j + i] =
            static_cast<uint8_t>((v[j][4 * c + i] & 15) | ((v[j][4 * (c + 4) + i] & 15) << 4));
      }
    }
  }
}

void PackTwoBit(const Unit& v, uint8_t* out) {
  for (int k = 0; k < 2; ++k) {
    for (int j = 0; j < kRepackRows; ++j) {
      for (int i = 0; i < 4; ++i) {
        uint8_t b = 0;
        for (int f = 0; f < 4; ++f)
          b |= static_cast<uint8_t>((v[j][4 * (4 * k + f) + i] & 3) << (2 * f));
        out[64 * k + 4 * j + i] = b;
      }
    }
  }
}

void PackOneBit(const Unit& v, uint8_t* out) {
  for (int c = 0; c < 8; ++c) {
    uint64_t m = 0;
    for (int j = 0; j < kRepackRows; ++j) {
      for (int i = 0; i < 4; ++i) m |= static_cast<uint64_t>(v[j][4 * c + i] & 1) << (4 * j + i);
    }
    std::memcpy(out + 8 * c, &m, 8);
  }
}

inline int Nib(const uint8_t* qs, int j) { return j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4; }

// One group (rows n0 .. n0 + 15, those past N zero) of a Q32x16 type.
void RepackQ32Group(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t K, int64_t n0,
                    uint8_t* out) {
  const int64_t nb = K / 32, bb = GetDTypeInfo(t)->block_bytes;
  const int64_t spb = Q32x16ScalePerBlock(t), qpb = Q32x16QuantPerBlock(t);
  std::memset(out, 0, static_cast<size_t>(Q32x16GroupBytes(t, K)));
  uint8_t* quants = out + Q32x16ScaleBytes(t, K);
  const bool q5 = t == DType::kQ5_0 || t == DType::kQ5_1;
  const bool min = t == DType::kQ4_1 || t == DType::kQ5_1;
  for (int64_t b = 0; b < nb; ++b) {
    Unit nib = {}, hi = {};
    uint8_t* sc = out + b * spb;
    for (int j = 0; j < kRepackRows; ++j) {
      if (n0 + j >= N) continue;  // zero scale, zero quants
      const uint8_t* blk = w + (n0 + j) * pitch + b * bb;
      if (t == DType::kMXFP4) {
        sc[j] = blk[0];
      } else {
        std::memcpy(sc + 2 * j, blk, 2);
        if (min) std::memcpy(sc + 32 + 2 * j, blk + 2, 2);
      }
      const int64_t qs_off = t == DType::kMXFP4 ? 1 : min ? (q5 ? 8 : 4) : (q5 ? 6 : 2);
      for (int e = 0; e < 32; ++e) nib[j][e] = static_cast<uint8_t>(Nib(blk + qs_off, e));
      if (q5) {
        uint32_t qh;
        std::memcpy(&qh, blk + (min ? 4 : 2), 4);
        for (int e = 0; e < 32; ++e) hi[j][e] = (qh >> e) & 1;
      }
    }
    PackNibbles(nib, quants + b * qpb);
    if (q5) PackOneBit(hi, quants + b * qpb + kNibbleUnitBytes);
  }
}

// One super-block of one group of a Kx16 type.
void RepackKSuper(DType t, const uint8_t* w, int64_t pitch, int64_t N, int64_t n0, int64_t sb,
                  uint8_t* out) {
  const int64_t bb = GetDTypeInfo(t)->block_bytes;
  std::memset(out, 0, static_cast<size_t>(KSuperBytes(t)));
  Unit lo[8] = {}, hi[8] = {};  // per unit: nibbles / 2-bit fields, and 1-bit or 2-bit parts
  for (int j = 0; j < kRepackRows; ++j) {
    if (n0 + j >= N) continue;
    const uint8_t* blk = w + (n0 + j) * pitch + sb * bb;
    auto put_d = [&](int64_t at, const uint8_t* f16) { std::memcpy(out + at + 2 * j, f16, 2); };
    switch (t) {
      case DType::kQ2_K:
        put_d(0, blk + 80);
        put_d(32, blk + 82);
        for (int g = 0; g < 16; ++g) out[kKHdrScales + 16 * g + j] = blk[g];
        for (int e = 0; e < 256; ++e) {
          lo[e / 32][j][e % 32] = (blk[16 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        }
        break;
      case DType::kQ3_K:
        put_d(0, blk + 108);
        for (int g = 0; g < 16; ++g) {
          out[kKHdrIScales + 16 * g + j] = static_cast<uint8_t>(Q3KScale(g, blk + 96));
        }
        for (int e = 0; e < 256; ++e) {
          lo[e / 32][j][e % 32] = (blk[32 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
          hi[e / 32][j][e % 32] = (blk[e % 32] >> (4 * (e / 128) + (e % 128) / 32)) & 1;
        }
        break;
      case DType::kQ4_K:
      case DType::kQ5_K: {
        const bool q5 = t == DType::kQ5_K;
        put_d(0, blk);
        put_d(32, blk + 2);
        for (int u = 0; u < 8; ++u) {
          uint8_t s, m;
          Q4KScaleMin(u, blk + 4, &s, &m);
          out[kKHdrScales + 16 * u + j] = s;
          out[kKHdrMins + 16 * u + j] = m;
        }
        const uint8_t* qs = blk + (q5 ? 48 : 16);
        for (int e = 0; e < 256; ++e) {
          const int u = e / 32;
          lo[u][j][e % 32] = (qs[32 * (u / 2) + e % 32] >> (4 * (u % 2))) & 0xF;
          if (q5) hi[u][j][e % 32] = (blk[16 + e % 32] >> u) & 1;
        }
        break;
      }
      case DType::kQ6_K:
        put_d(0, blk + 208);
        for (int g = 0; g < 16; ++g) out[kKHdrIScales + 16 * g + j] = blk[192 + g];
        for (int e = 0; e < 256; ++e) {
          const int h = e / 128, r = e % 128;
          lo[e / 32][j][e % 32] = (blk[64 * h + r % 64] >> (4 * (r / 64))) & 0xF;
          hi[e / 32][j][e % 32] = (blk[128 + 32 * h + r % 32] >> (2 * (r / 32))) & 3;
        }
        break;
      case DType::kIQ4_XS: {
        put_d(0, blk);
        uint16_t sh;
        std::memcpy(&sh, blk + 2, 2);
        for (int u = 0; u < 8; ++u) {
          out[kKHdrIScales + 16 * u + j] = static_cast<uint8_t>(IQ4XSScale(u, sh, blk + 4));
          for (int e = 0; e < 32; ++e) lo[u][j][e] = static_cast<uint8_t>(Nib(blk + 8 + 16 * u, e));
        }
        break;
      }
      default:
        break;
    }
  }
  for (int u = 0; u < 8; ++u) {
    switch (t) {
      case DType::kQ2_K:
        PackTwoBit(lo[u], out + kKQuants + u * kTwoBitUnitBytes);
        break;
      case DType::kQ3_K:
        PackTwoBit(lo[u], out + kKQuants + u * kTwoBitUnitBytes);
        PackOneBit(hi[u], out + kKQuants + 8 * kTwoBitUnitBytes + u * kOneBitUnitBytes);
        break;
      case DType::kQ4_K:
        PackNibbles(lo[u], out + kKQuants + u * kNibbleUnitBytes);
        break;
      case DType::kQ5_K:
        PackNibbles(lo[u], out + kKQuants + u * kNibbleUnitBytes);
        PackOneBit(hi[u], out + kKQuants + 8 * kNibbleUnitBytes + u * kOneBitUnitBytes);
        break;
      case DType::kQ6_K:
        PackNibbles(lo[u], out + kKQuants + u * kNibbleUnitBytes);
        PackTwoBit(hi[u], out + kKQuants + 8 * kNibbleUnitBytes + u * kTwoBitUnitBytes);
        break;
      case DType::kIQ4_XS:
        PackNibbles(lo[u], out + kKQuantsIQ4XS + u * kNibbleUnitBytes);
        break;
      default:
        break;
    }
  }
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
