// Every quantized type's DequantizeRow against an independent reading of ggml's block layout
// (ggml-common.h), written here from the byte and bit positions alone and evaluated in long
// double, where every value (products and sums of integers and f16/E8M0 scales) is exact: the
// f32 result must be that value rounded once, bit for bit. Blocks are random (every scale
// finite, covering subnormal, negative and the largest scales), all-zero, all-max (quant bits
// all set, largest scale) and all-max with the most negative scale. Also FirstInvalidBlock (the
// scales ggml_validate_row_data rejects) and the reference quantizers' round trip.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "base/dtype.h"
#include "gtest/gtest.h"

namespace phx {
namespace {

using LD = long double;

LD Half(const uint8_t* p) {  // f16 at p, little-endian, decoded by hand
  const unsigned h = p[0] | (p[1] << 8);
  const int e = (h >> 10) & 31, m = h & 1023;
  const LD sign = (h & 0x8000) ? -1 : 1;
  if (e == 0) return sign * std::ldexp(static_cast<LD>(m), -24);
  return sign * std::ldexp(static_cast<LD>(1024 + m), e - 25);
}
int Bits(const uint8_t* p, int bit) { return (p[bit / 8] >> (bit % 8)) & 1; }
int Nib(const uint8_t* p, int i) { return (p[i / 2] >> (4 * (i % 2))) & 15; }  // nibble i

const int kIQ4[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
const int kFP4x2[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// Element e (0..31) of a 32-block's 16 nibble bytes: low nibbles then high nibbles.
int Q4Elem(const uint8_t* qs, int e) { return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4; }

// The block's values as ggml-common.h lays them out.
std::vector<LD> RefBlock(DType t, const uint8_t* b) {
  std::vector<LD> v;
  switch (t) {
    case DType::kQ8_0:  // d | 32 x int8
      for (int e = 0; e < 32; ++e) v.push_back(Half(b) * static_cast<int8_t>(b[2 + e]));
      break;
    case DType::kQ4_0:  // d | 16 bytes
      for (int e = 0; e < 32; ++e) v.push_back(Half(b) * (Q4Elem(b + 2, e) - 8));
      break;
    case DType::kQ4_1:  // d | m | 16 bytes
      for (int e = 0; e < 32; ++e) v.push_back(Half(b) * Q4Elem(b + 4, e) + Half(b + 2));
      break;
    case DType::kQ5_0:  // d | qh (32 bits) | 16 bytes
      for (int e = 0; e < 32; ++e) {
        v.push_back(Half(b) * ((Q4Elem(b + 6, e) | (Bits(b + 2, e) << 4)) - 16));
      }
      break;
    case DType::kQ5_1:  // d | m | qh | 16 bytes
      for (int e = 0; e < 32; ++e) {
        v.push_back(Half(b) * (Q4Elem(b + 8, e) | (Bits(b + 4, e) << 4)) + Half(b + 2));
      }
      break;
    case DType::kIQ4_NL:  // d | 16 bytes of indices
      for (int e = 0; e < 32; ++e) v.push_back(Half(b) * kIQ4[Q4Elem(b + 2, e)]);
      break;
    case DType::kMXFP4: {  // e8m0 | 16 bytes; value = 2^(e-127) * e2m1 = 2^(e-128) * doubled
      const LD d = std::ldexp(static_cast<LD>(1), b[0] - 128);
      for (int e = 0; e < 32; ++e) v.push_back(d * kFP4x2[Q4Elem(b + 1, e)]);
      break;
    }
    case DType::kQ2_K: {  // scales[16] | qs[64] | d | dmin
      const LD d = Half(b + 80), dmin = Half(b + 82);
      for (int e = 0; e < 256; ++e) {
        const int q = (b[16 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        const int sc = b[e / 16] & 15, m = b[e / 16] >> 4;
        v.push_back(d * sc * q - dmin * m);
      }
      break;
    }
    case DType::kQ3_K: {  // hmask[32] | qs[64] | scales[12] | d
      const uint8_t* sc = b + 96;
      const LD d = Half(b + 108);
      for (int e = 0; e < 256; ++e) {
        const int lo = (b[32 + 32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        const int hbit = Bits(b, 8 * (e % 32) + 4 * (e / 128) + (e % 128) / 32);
        const int j = e / 16;
        const int s6 =
            (j < 8 ? sc[j] & 15 : sc[j - 8] >> 4) | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
        v.push_back(d * (s6 - 32) * (lo - (hbit ? 0 : 4)));
      }
      break;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {  // d | dmin | scales[12] | (qh[32]) | qs[128]
      const bool q5 = t == DType::kQ5_K;
      const uint8_t* sc = b + 4;
      const uint8_t* qs = b + (q5 ? 48 : 16);
      for (int e = 0; e < 256; ++e) {
        const int j = e / 32;
        int s, m;
        if (j < 4) {
          s = sc[j] & 63;
          m = sc[j + 4] & 63;
        } else {
          s = (sc[j + 4] & 15) | ((sc[j - 4] >> 6) << 4);
          m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
        }
        int q = (qs[32 * (j / 2) + e % 32] >> (4 * (j % 2))) & 15;
        if (q5) q |= Bits(b + 16, 8 * (e % 32) + j) << 4;
        v.push_back(Half(b) * s * q - Half(b + 2) * m);
      }
      break;
    }
    case DType::kQ6_K: {  // ql[128] | qh[64] | scales[16] | d
      for (int e = 0; e < 256; ++e) {
        const int h = e / 128, r = e % 128;
        const int lo = (b[64 * h + r % 64] >> (4 * (r / 64))) & 15;
        const int hi = (b[128 + 32 * h + r % 32] >> (2 * (r / 32))) & 3;
        v.push_back(Half(b + 208) * static_cast<int8_t>(b[192 + e / 16]) * ((lo | (hi << 4)) - 32));
      }
      break;
    }
    case DType::kIQ4_XS: {  // d | scales_h (u16) | scales_l[4] | qs[128]
      const int sh = b[2] | (b[3] << 8);
      for (int e = 0; e < 256; ++e) {
        const int j = e / 32;
        const int ls = Nib(b + 4, j) | (((sh >> (2 * j)) & 3) << 4);
        v.push_back(Half(b) * (ls - 32) * kIQ4[Q4Elem(b + 8 + 16 * j, e % 32)]);
      }
      break;
    }
    default:
      ADD_FAILURE() << "no reference for " << DTypeName(t);
  }
  return v;
}

// Byte offsets of a block's f16 scale fields (or, for MXFP4, its exponent byte).
std::vector<int> ScaleFields(DType t) {
  switch (t) {
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
      return {0, 2};
    case DType::kQ2_K:
      return {80, 82};
    case DType::kQ3_K:
      return {108};
    case DType::kQ6_K:
      return {208};
    case DType::kMXFP4:
      return {};
    default:
      return {0};
  }
}

const DType kQuantized[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,   DType::kQ5_1,
                            DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,   DType::kQ4_K,
                            DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS,
                            DType::kMXFP4};

class QuantLayoutTest : public ::testing::TestWithParam<DType> {};

TEST_P(QuantLayoutTest, DequantizeIsTheLayoutRoundedOnce) {
  const DType t = GetParam();
  const auto info = *GetDTypeInfo(t);
  const int64_t bb = info.block_bytes, be = info.block_elems;
  std::mt19937_64 rng(static_cast<uint64_t>(t) * 7919 + 1);
  std::vector<std::vector<uint8_t>> blocks;
  for (int i = 0; i < 3000; ++i) {  // random bytes, scales made finite
    std::vector<uint8_t> b(bb);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    for (int off : ScaleFields(t)) {
      if ((b[off + 1] & 0x7C) == 0x7C) b[off + 1] &= 0xBF;  // exponent 31 -> 15 or less
    }
    if (t == DType::kMXFP4 && b[0] == 0xFF) b[0] = static_cast<uint8_t>(rng() % 255);
    blocks.push_back(b);
  }
  blocks.emplace_back(bb, 0);              // all zero
  for (const uint8_t hi : {0x7B, 0xFB}) {  // all quant bits set, scale +-65504
    std::vector<uint8_t> b(bb, 0xFF);
    for (int off : ScaleFields(t)) b[off] = 0xFF, b[off + 1] = hi;
    if (t == DType::kMXFP4) b[0] = hi == 0x7B ? 254 : 0;  // largest and smallest exponents
    blocks.push_back(b);
  }
  for (uint16_t sub : {0x0001, 0x83FF}) {  // subnormal scales
    std::vector<uint8_t> b(bb);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    for (int off : ScaleFields(t)) b[off] = sub & 0xFF, b[off + 1] = static_cast<uint8_t>(sub >> 8);
    if (t == DType::kMXFP4) b[0] = 1;
    blocks.push_back(b);
  }
  std::vector<uint8_t> all;
  for (const auto& b : blocks) all.insert(all.end(), b.begin(), b.end());
  const int64_t n = static_cast<int64_t>(blocks.size()) * be;
  std::vector<float> got(static_cast<size_t>(n), NAN);
  ASSERT_TRUE(DequantizeRow(t, all.data(), got.data(), n));
  int bad = 0;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const std::vector<LD> want = RefBlock(t, blocks[i].data());
    ASSERT_EQ(static_cast<int64_t>(want.size()), be);
    for (int64_t e = 0; e < be; ++e) {
      const float w = static_cast<float>(want[e]);
      const float g = got[i * be + e];
      if (std::memcmp(&w, &g, 4) != 0 && bad++ < 5) {
        ADD_FAILURE() << DTypeName(t) << " block " << i << " element " << e << ": got " << g
                      << " want " << static_cast<double>(want[e]);
      }
    }
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(FirstInvalidBlock(t, all.data(), static_cast<int64_t>(blocks.size())), -1);
}

// ggml_validate_row_data's rule: a NaN or infinite f16 scale (or min), or MXFP4's e = 0xFF.
TEST_P(QuantLayoutTest, NonFiniteScalesAreInvalid) {
  const DType t = GetParam();
  const int64_t bb = GetDTypeInfo(t)->block_bytes;
  std::vector<uint8_t> blocks(static_cast<size_t>(5 * bb), 0x11);
  ASSERT_EQ(FirstInvalidBlock(t, blocks.data(), 5), -1);
  if (t == DType::kMXFP4) {
    blocks[3 * bb] = 0xFF;
    EXPECT_EQ(FirstInvalidBlock(t, blocks.data(), 5), 3);
    return;
  }
  for (int off : ScaleFields(t)) {
    for (uint16_t bad : {0x7C00, 0xFC00, 0x7E00, 0x7C01}) {  // +-inf, NaNs
      std::vector<uint8_t> b = blocks;
      b[2 * bb + off] = bad & 0xFF;
      b[2 * bb + off + 1] = static_cast<uint8_t>(bad >> 8);
      EXPECT_EQ(FirstInvalidBlock(t, b.data(), 5), 2) << DTypeName(t) << " field " << off;
    }
  }
}

// The reference quantizers land within the type's resolution: |x - dequant(quant(x))| stays
// below a bound from the block's range, and zeros stay zeros.
TEST_P(QuantLayoutTest, QuantizeRoundTrip) {
  const DType t = GetParam();
  const int64_t n = 4 * 256;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> x(n);
  for (auto& v : x) v = u(rng);
  std::vector<uint8_t> q(*RowBytes(t, n));
  ASSERT_TRUE(QuantizeRow(t, x.data(), q.data(), n));
  EXPECT_EQ(FirstInvalidBlock(t, q.data(), n / GetDTypeInfo(t)->block_elems), -1);
  std::vector<float> y(n);
  ASSERT_TRUE(DequantizeRow(t, q.data(), y.data(), n));
  // Worst-case error in units of the row's range (2): the coarsest grid is Q2_K's 4 levels
  // (3 steps of 2/3 under a 4-bit scale), then Q3_K's 8 and the 4-bit / FP4 ones.
  double tol;
  switch (t) {
    case DType::kQ2_K:
      tol = 0.5;
      break;
    case DType::kQ3_K:
      tol = 0.3;
      break;
    case DType::kMXFP4:
      tol = 0.26;
      break;
    case DType::kQ8_0:
      tol = 0.01;
      break;
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ5_K:
    case DType::kQ6_K:
      tol = 0.07;
      break;
    default:
      tol = 0.15;
  }
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(double{x[i]} - y[i]));
  EXPECT_LE(worst, tol) << DTypeName(t);
  EXPECT_GT(worst, 0) << DTypeName(t);
  std::vector<float> zeros(n, 0.f);
  ASSERT_TRUE(QuantizeRow(t, zeros.data(), q.data(), n));
  ASSERT_TRUE(DequantizeRow(t, q.data(), y.data(), n));
  for (float v : y) ASSERT_EQ(v, 0.f) << DTypeName(t);
}

INSTANTIATE_TEST_SUITE_P(AllQuantized, QuantLayoutTest, ::testing::ValuesIn(kQuantized),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

}  // namespace
}  // namespace phx
