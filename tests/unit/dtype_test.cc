// Scalar conversions against the hardware (F16C) and an independent double-precision
// reference, block layouts decoded by hand, quantization error bounds, and RowBytes.
#include "base/dtype.h"

#include <cpuid.h>
#include <immintrin.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace phx {
namespace {

bool CpuHasF16C() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}
__attribute__((target("f16c"))) float HwF16ToF32(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) uint16_t HwF32ToF16(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Rounds `x` to nearest-even in a binary format with `mant_bits` stored mantissa bits, normal
// exponents down to `min_exp`, and overflow to infinity from `overflow` (the midpoint between
// the largest finite value and the next power of two) up. Independent of base/dtype.cc.
double RefRound(double x, int mant_bits, int min_exp, double overflow) {
  if (x == 0 || std::isnan(x) || std::isinf(x)) return x;
  const double a = std::fabs(x);
  if (a >= overflow) return std::copysign(INFINITY, x);
  const int e = std::max(std::ilogb(a), min_exp);
  const double ulp = std::ldexp(1.0, e - mant_bits);
  return std::copysign(std::nearbyint(a / ulp) * ulp, x);
}
double RefHalf(float f) { return RefRound(f, 10, -14, 65520.0); }
double RefBf16(float f) { return RefRound(f, 7, -126, std::ldexp(2.0 - std::ldexp(1.0, -8), 127)); }

// Floats worth converting: random bit patterns (every class), values near every f16 rounding
// midpoint, f16 subnormals and the overflow edge.
std::vector<float> InterestingFloats() {
  std::vector<float> v;
  std::mt19937 rng(1234);
  for (int i = 0; i < (1 << 20); ++i) v.push_back(FromBits(static_cast<uint32_t>(rng())));
  for (uint32_t h = 0; h < 0x7C00; ++h) {
    // The exact midpoint between h and h+1 (representable in f32) and its neighbours.
    const float lo = F16ToF32(static_cast<uint16_t>(h));
    const float hi = h + 1 == 0x7C00 ? 65536.f : F16ToF32(static_cast<uint16_t>(h + 1));
    const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
    for (float f : {lo, mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY)}) {
      v.push_back(f);
      v.push_back(-f);
    }
  }
  std::uniform_real_distribution<float> tiny(0.f, 7e-5f);
  for (int i = 0; i < 100000; ++i) v.push_back(tiny(rng));
  for (float f : {0.f, -0.f, 65504.f, 65519.99f, 65520.f, 65536.f, 1e30f, INFINITY, -INFINITY,
                  std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                  5.9604645e-08f, 2.9802322e-08f, 2.9802326e-08f, 6.1035156e-05f}) {
    v.push_back(f);
    v.push_back(-f);
  }
  for (uint32_t nan : {0x7F800001u, 0x7FC00000u, 0x7FFFFFFFu, 0x7F802000u, 0x7FA00000u}) {
    v.push_back(FromBits(nan));
    v.push_back(FromBits(nan | 0x80000000u));
  }
  return v;
}

TEST(F16, AllHalfsToF32MatchReferenceAndHardware) {
  const bool hw = CpuHasF16C();
  RecordProperty("f16c", hw ? "yes" : "no");
  for (uint32_t h = 0; h < 65536; ++h) {
    const float got = F16ToF32(static_cast<uint16_t>(h));
    const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    const double sign = (h & 0x8000) ? -1 : 1;
    if (exp == 31 && mant != 0) {
      ASSERT_TRUE(std::isnan(got)) << h;
      EXPECT_EQ(Bits(got) & 0x400000u, 0x400000u) << "NaN must come back quiet: " << h;
      EXPECT_EQ((Bits(got) >> 13) & 0x1FF, mant & 0x1FF) << "payload kept: " << h;
      EXPECT_EQ(Bits(got) >> 31, h >> 15);
    } else {
      const double want = exp == 31  ? sign * INFINITY
                          : exp == 0 ? sign * std::ldexp(mant, -24)
                                     : sign * std::ldexp(1024 + mant, static_cast<int>(exp) - 25);
      ASSERT_EQ(static_cast<double>(got), want) << h;
      ASSERT_EQ(std::signbit(got), (h & 0x8000) != 0) << h;
    }
    if (hw) {
      ASSERT_EQ(Bits(got), Bits(HwF16ToF32(static_cast<uint16_t>(h)))) << std::hex << h;
    }
  }
}

TEST(F16, F32ToF16MatchesReferenceAndHardware) {
  const bool hw = CpuHasF16C();
  for (float f : InterestingFloats()) {
    const uint16_t h = F32ToF16(f);
    if (std::isnan(f)) {
      EXPECT_EQ(h & 0x7C00, 0x7C00);
      EXPECT_NE(h & 0x3FF, 0) << "NaN must stay NaN";
      EXPECT_EQ(h & 0x200, 0x200) << "NaN must be quiet";
      EXPECT_EQ(h >> 15, Bits(f) >> 31);
    } else {
      const double want = RefHalf(f);
      ASSERT_EQ(static_cast<double>(F16ToF32(h)), want) << std::hexfloat << f;
      ASSERT_EQ((h & 0x8000) != 0, std::signbit(f)) << f;
    }
    if (hw) {
      ASSERT_EQ(h, HwF32ToF16(f)) << std::hexfloat << f << " bits " << std::hex << Bits(f);
    }
  }
}

TEST(F16, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t back = F32ToF16(F16ToF32(static_cast<uint16_t>(h)));
    const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
    if (nan) {
      EXPECT_EQ(back, h | 0x200) << h;  // quieted, payload kept
    } else {
      ASSERT_EQ(back, h) << h;
    }
  }
}

TEST(F16, KnownValues) {
  EXPECT_EQ(F32ToF16(1.f), 0x3C00);
  EXPECT_EQ(F32ToF16(-2.f), 0xC000);
  EXPECT_EQ(F32ToF16(65504.f), 0x7BFF);
  EXPECT_EQ(F32ToF16(65520.f), 0x7C00);           // tie to even overflows
  EXPECT_EQ(F32ToF16(1.f + 1.f / 2048), 0x3C00);  // tie to even (down)
  EXPECT_EQ(F32ToF16(1.f + 3.f / 2048), 0x3C02);  // tie to even (up)
  EXPECT_EQ(F32ToF16(std::ldexp(1.f, -24)), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(1.f, -25)), 0x0000);  // tie to even (zero)
  EXPECT_EQ(F32ToF16(std::ldexp(3.f, -26)), 0x0001);
  EXPECT_EQ(F32ToF16(std::ldexp(1023.5f, -24)), 0x0400);  // subnormal rounds up to min normal
  EXPECT_EQ(F16ToF32(0x7BFF), 65504.f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(F16ToF32(0x8000), -0.f);
  EXPECT_TRUE(std::signbit(F16ToF32(0x8000)));
}

TEST(BF16, RoundingMatchesReference) {
  std::mt19937 rng(99);
  std::vector<float> v = InterestingFloats();
  for (int i = 0; i < 200000; ++i) {
    // Exact ties and their neighbours at random magnitudes.
    const uint32_t u = (static_cast<uint32_t>(rng()) & 0xFFFF0000u) | 0x8000u;
    v.push_back(FromBits(u));
    v.push_back(FromBits(u - 1));
    v.push_back(FromBits(u + 1));
  }
  v.push_back(FromBits(0x7F7FFFFFu));  // FLT_MAX rounds to inf
  v.push_back(FromBits(0x7F7F7FFFu));  // just below the overflow midpoint
  for (float f : v) {
    const uint16_t b = F32ToBF16(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(BF16ToF32(b))) << std::hex << Bits(f);
      EXPECT_EQ(b & 0x40, 0x40) << "quiet";
      EXPECT_EQ(b >> 15, Bits(f) >> 31);
      continue;
    }
    ASSERT_EQ(static_cast<double>(BF16ToF32(b)), RefBf16(f)) << std::hex << Bits(f);
    ASSERT_EQ(std::signbit(BF16ToF32(b)), std::signbit(f));
  }
  EXPECT_EQ(F32ToBF16(FromBits(0x7F7FFFFFu)), 0x7F80);
  EXPECT_EQ(F32ToBF16(FromBits(0x3F808000u)), 0x3F80);  // tie, even stays
  EXPECT_EQ(F32ToBF16(FromBits(0x3F818000u)), 0x3F82);  // tie, odd rounds up
  for (uint32_t h = 0; h < 65536; ++h) {
    ASSERT_EQ(Bits(BF16ToF32(static_cast<uint16_t>(h))), h << 16);
  }
}

// ---- Hand-built blocks, decoded from the GGUF layout written out here ----------------------

void PutF16(std::vector<uint8_t>& b, size_t at, uint16_t h) {
  b[at] = static_cast<uint8_t>(h & 0xFF);
  b[at + 1] = static_cast<uint8_t>(h >> 8);
}

TEST(BlockLayout, Q8_0) {
  // Two blocks: [d: f16][32 x int8]; d = 0.25 then -2.
  std::vector<uint8_t> raw(68);
  std::vector<float> want(64);
  for (int blk = 0; blk < 2; ++blk) {
    const float d = blk == 0 ? 0.25f : -2.f;
    PutF16(raw, 34 * blk, blk == 0 ? 0x3400 : 0xC000);
    for (int j = 0; j < 32; ++j) {
      const int8_t q = static_cast<int8_t>(j * 8 - 128 + blk);
      raw[34 * blk + 2 + j] = static_cast<uint8_t>(q);
      want[32 * blk + j] = d * q;
    }
  }
  std::vector<float> got(64);
  ASSERT_TRUE(DequantizeRow(DType::kQ8_0, raw.data(), got.data(), 64));
  EXPECT_EQ(got, want);
}

TEST(BlockLayout, Q4_0) {
  // [d: f16][16 bytes]: element e < 16 is the low nibble of byte e, element e >= 16 the high
  // nibble of byte e - 16; value (q - 8) * d.
  std::vector<uint8_t> raw(36, 0);
  std::vector<float> want(64);
  for (int blk = 0; blk < 2; ++blk) {
    const float d = blk == 0 ? -1.5f : 0.5f;
    PutF16(raw, 18 * blk, blk == 0 ? 0xBE00 : 0x3800);
    for (int e = 0; e < 32; ++e) {
      const int q = (e * 5 + (e / 16) * 3 + 1 + blk) % 16;  // e, e + 16 differ
      uint8_t& byte = raw[18 * blk + 2 + e % 16];
      byte |= e < 16 ? q : q << 4;
      want[32 * blk + e] = static_cast<float>(q - 8) * d;
    }
  }
  std::vector<float> got(64);
  ASSERT_TRUE(DequantizeRow(DType::kQ4_0, raw.data(), got.data(), 64));
  EXPECT_EQ(got, want);
}

TEST(BlockLayout, Q4_K) {
  // [d: f16][dmin: f16][12 scale bytes][128 quant bytes]. Sub-block j (32 elements) has a 6-bit
  // scale sc[j] and min m[j] packed as: bytes 0-3 = sc[0..3] | (sc[4..7] >> 4) << 6, bytes
  // 4-7 = m[0..3] | (m[4..7] >> 4) << 6, bytes 8-11 = (sc[4..7] & 15) | (m[4..7] & 15) << 4.
  // Element e lives in quant byte 32 * (e / 64) + e % 32, low nibble if e % 64 < 32.
  // Value: d * sc * q - dmin * m.
  const int sc[2][8] = {{1, 7, 13, 20, 33, 47, 63, 16}, {63, 0, 5, 62, 17, 40, 1, 58}};
  const int m[2][8] = {{0, 5, 63, 2, 17, 31, 48, 60}, {9, 63, 0, 33, 1, 16, 63, 47}};
  std::vector<uint8_t> raw(288, 0);
  std::vector<float> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* b = raw.data() + 144 * blk;
    const float d = blk == 0 ? 0.5f : 2.f, dmin = blk == 0 ? 0.25f : 0.125f;
    std::vector<uint8_t> hdr(4);
    PutF16(hdr, 0, blk == 0 ? 0x3800 : 0x4000);
    PutF16(hdr, 2, blk == 0 ? 0x3400 : 0x3000);
    std::memcpy(b, hdr.data(), 4);
    uint8_t* scales = b + 4;
    for (int j = 0; j < 4; ++j) {
      scales[j] = static_cast<uint8_t>(sc[blk][j] | ((sc[blk][j + 4] >> 4) << 6));
      scales[j + 4] = static_cast<uint8_t>(m[blk][j] | ((m[blk][j + 4] >> 4) << 6));
      scales[j + 8] = static_cast<uint8_t>((sc[blk][j + 4] & 15) | ((m[blk][j + 4] & 15) << 4));
    }
    uint8_t* qs = b + 16;
    for (int e = 0; e < 256; ++e) {
      const int q = (e * 7 + (e / 32) * 5 + 3 + blk) % 16;  // e, e + 32 differ
      qs[32 * (e / 64) + e % 32] |= e % 64 < 32 ? q : q << 4;
      want[256 * blk + e] = d * sc[blk][e / 32] * q - dmin * m[blk][e / 32];
    }
  }
  std::vector<float> got(512);
  ASSERT_TRUE(DequantizeRow(DType::kQ4_K, raw.data(), got.data(), 512));
  for (int i = 0; i < 512; ++i) ASSERT_EQ(got[i], want[i]) << "element " << i;
}

TEST(BlockLayout, Q6_K) {
  // [ql: 128][qh: 64][scales: 16 x int8][d: f16]. Element e: half h = e / 128, r = e % 128;
  // low 4 bits in ql[64h + r % 64] (low nibble if r < 64), high 2 bits in qh[32h + r % 32] at
  // bit 2 * (r / 32); value d * scales[e / 16] * (q - 32).
  std::vector<uint8_t> raw(420, 0);
  std::vector<float> want(512);
  for (int blk = 0; blk < 2; ++blk) {
    uint8_t* b = raw.data() + 210 * blk;
    uint8_t* ql = b;
    uint8_t* qh = b + 128;
    int8_t scales[16];
    for (int i = 0; i < 16; ++i) scales[i] = static_cast<int8_t>((i * 37 + 11 * blk) % 255 - 127);
    std::memcpy(b + 192, scales, 16);
    const float d = blk == 0 ? 0.125f : -1.5f;
    std::vector<uint8_t> dd(2);
    PutF16(dd, 0, blk == 0 ? 0x3000 : 0xBE00);
    std::memcpy(b + 208, dd.data(), 2);
    for (int e = 0; e < 256; ++e) {
      // e, e + 32, e + 64 and e + 128 all differ.
      const int q = (e * 11 + (e / 32) * 7 + (e / 128) * 13 + 5 + blk * 3) % 64;
      const int h = e / 128, r = e % 128;
      ql[64 * h + r % 64] |= r < 64 ? (q & 15) : (q & 15) << 4;
      qh[32 * h + r % 32] |= (q >> 4) << (2 * (r / 32));
      want[256 * blk + e] = d * scales[e / 16] * (q - 32);
    }
  }
  std::vector<float> got(512);
  ASSERT_TRUE(DequantizeRow(DType::kQ6_K, raw.data(), got.data(), 512));
  for (int i = 0; i < 512; ++i) ASSERT_EQ(got[i], want[i]) << "element " << i;
}

// ---- Quantize -> dequantize ----------------------------------------------------------------

std::vector<float> RandomRow(int64_t n, uint32_t seed, int kind) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> uni(-1.f, 1.f);
  std::vector<float> x(n);
  for (int64_t i = 0; i < n; ++i) {
    switch (kind) {
      case 0:
        x[i] = uni(rng);
        break;
      case 1:
        x[i] = normal(rng) * 3.f;
        break;
      case 2:
        x[i] = uni(rng) * std::pow(10.f, static_cast<float>(i / 32 % 7) - 4.f);
        break;
      default:
        x[i] = 0.5f + 0.5f * uni(rng);
        break;  // all positive
    }
  }
  return x;
}

std::vector<float> QuantRoundTrip(DType t, const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<uint8_t> q(*RowBytes(t, n));
  EXPECT_TRUE(QuantizeRow(t, x.data(), q.data(), n));
  std::vector<float> y(n);
  EXPECT_TRUE(DequantizeRow(t, q.data(), y.data(), n));
  return y;
}

TEST(Quantize, Q8_0ErrorBound) {
  for (int kind = 0; kind < 4; ++kind) {
    const auto x = RandomRow(4096, 7 + kind, kind);
    const auto y = QuantRoundTrip(DType::kQ8_0, x);
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
      // |error| <= d/2, plus |q| <= 127 times the f16 rounding error of d.
      const double d = amax / 127.0;
      const double bound =
          d / 2 + 127 * std::fabs(RefHalf(static_cast<float>(d)) - d) + 1e-6 * amax;
      for (int j = 0; j < 32; ++j) {
        ASSERT_LE(std::fabs(x[b + j] - y[b + j]), bound) << "kind " << kind << " at " << b + j;
      }
    }
  }
}

TEST(Quantize, Q4_0ErrorBound) {
  for (int kind = 0; kind < 4; ++kind) {
    const auto x = RandomRow(4096, 17 + kind, kind);
    const auto y = QuantRoundTrip(DType::kQ4_0, x);
    double sq = 0, sq_step = 0;
    for (size_t b = 0; b < x.size(); b += 32) {
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
      // One step for the value opposite the extreme one (q clamps at 15), else half a step;
      // plus |q - 8| <= 8 times the f16 rounding error of d.
      const double d = amax / 8.0;
      const double bound = d + 8 * std::fabs(RefHalf(static_cast<float>(d)) - d) + 1e-6 * amax;
      for (int j = 0; j < 32; ++j) {
        const double err = std::fabs(x[b + j] - y[b + j]);
        ASSERT_LE(err, bound) << "kind " << kind << " at " << b + j;
        sq += err * err;
        sq_step += d * d;
      }
    }
    EXPECT_LT(std::sqrt(sq / sq_step), 0.35) << "RMS error in steps, kind " << kind;
  }
}

TEST(Quantize, Q4_KErrorBound) {
  for (int kind = 0; kind < 4; ++kind) {
    const auto x = RandomRow(8 * 256, 27 + kind, kind);
    const auto y = QuantRoundTrip(DType::kQ4_K, x);
    double sq = 0, sq_step = 0;
    for (size_t b = 0; b < x.size(); b += 256) {
      float max_step = 0;  // largest sub-block range / 15 in the super-block
      std::vector<float> step(8);
      for (int s = 0; s < 8; ++s) {
        float lo = 0, hi = 0;
        for (int j = 0; j < 32; ++j) {
          lo = std::min(lo, x[b + 32 * s + j]);
          hi = std::max(hi, x[b + 32 * s + j]);
        }
        step[s] = (hi - lo) / 15;
        max_step = std::max(max_step, step[s]);
      }
      for (int j = 0; j < 256; ++j) {
        const float err = std::fabs(x[b + j] - y[b + j]);
        ASSERT_LE(err, 0.8f * max_step + 1e-9f) << "kind " << kind << " element " << b + j;
        sq += err * err;
        sq_step += step[j / 32] * step[j / 32];
      }
    }
    if (kind != 2) {  // sub-blocks 1e-4 of the largest lose their scale to 6-bit rounding
      EXPECT_LT(std::sqrt(sq / sq_step), 0.4) << "RMS error in steps, kind " << kind;
    }
  }
}

TEST(Quantize, ZerosStayZero) {
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kF16, DType::kBF16}) {
    const auto y = QuantRoundTrip(t, std::vector<float>(512, 0.f));
    for (float v : y) ASSERT_EQ(v, 0.f) << DTypeName(t);
  }
}

TEST(Quantize, PlainTypesRoundTrip) {
  const auto x = RandomRow(256, 5, 1);
  EXPECT_EQ(QuantRoundTrip(DType::kF32, x), x);
  const auto h = QuantRoundTrip(DType::kF16, x);
  const auto b = QuantRoundTrip(DType::kBF16, x);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(h[i], static_cast<float>(RefHalf(x[i])));
    EXPECT_EQ(b[i], static_cast<float>(RefBf16(x[i])));
  }
}

TEST(Quantize, UnsupportedTypes) {
  std::vector<float> x(256, 1.f);
  std::vector<uint8_t> out(1024);
  EXPECT_FALSE(QuantizeRow(DType::kI32, x.data(), out.data(), 256));
  EXPECT_FALSE(DequantizeRow(DType::kI32, out.data(), x.data(), 256));
}

// ---- Type table ----------------------------------------------------------------------------

TEST(DTypeTable, RowBytes) {
  EXPECT_EQ(RowBytes(DType::kF32, 7), 28u);
  EXPECT_EQ(RowBytes(DType::kF16, 3), 6u);
  EXPECT_EQ(RowBytes(DType::kBF16, 3), 6u);
  EXPECT_EQ(RowBytes(DType::kQ8_0, 64), 68u);
  EXPECT_EQ(RowBytes(DType::kQ4_0, 64), 36u);
  EXPECT_EQ(RowBytes(DType::kQ4_K, 512), 288u);
  EXPECT_EQ(RowBytes(DType::kQ6_K, 256), 210u);
  EXPECT_EQ(RowBytes(DType::kQ8_0, 0), 0u);
  EXPECT_EQ(RowBytes(DType::kQ8_0, 33), std::nullopt);
  EXPECT_EQ(RowBytes(DType::kQ4_K, 128), std::nullopt);
  EXPECT_EQ(RowBytes(DType::kQ5_K, 256), 176u);
  EXPECT_EQ(RowBytes(DType::kIQ4_XS, 512), 272u);
  EXPECT_EQ(RowBytes(DType::kMXFP4, 64), 34u);
  EXPECT_EQ(RowBytes(static_cast<DType>(16), 256), std::nullopt);  // iq2_xxs
  // Overflow of the byte count.
  EXPECT_EQ(RowBytes(DType::kF32, uint64_t{1} << 62), std::nullopt);
  EXPECT_EQ(RowBytes(DType::kF32, (uint64_t{1} << 62) - 1),
            std::numeric_limits<uint64_t>::max() - 3);
  EXPECT_EQ(RowBytes(DType::kF16, uint64_t{1} << 63), std::nullopt);
  EXPECT_EQ(RowBytes(DType::kQ8_0, std::numeric_limits<uint64_t>::max() / 32 * 32), std::nullopt);
  EXPECT_EQ(RowBytes(DType::kQ4_K, std::numeric_limits<uint64_t>::max() / 256 * 256),
            ((uint64_t{1} << 56) - 1) * 144);
}

TEST(DTypeTable, Names) {
  EXPECT_EQ(GgmlTypeName(13), "q5_K");
  EXPECT_EQ(GgmlTypeName(30), "bf16");
  EXPECT_EQ(GgmlTypeName(39), "mxfp4");
  EXPECT_EQ(GgmlTypeName(4), std::nullopt);
  EXPECT_EQ(GgmlTypeName(40), "nvfp4");
  EXPECT_EQ(GgmlTypeName(42), "q2_0");
  EXPECT_EQ(GgmlTypeName(43), std::nullopt);
  EXPECT_EQ(GgmlTypeName(0xFFFFFFFFu), std::nullopt);
  EXPECT_EQ(ParseDType("Q4_k"), DType::kQ4_K);
  EXPECT_EQ(ParseDType("f16"), DType::kF16);
  EXPECT_EQ(ParseDType("q5_K"), DType::kQ5_K);
  EXPECT_EQ(ParseDType("IQ4_XS"), DType::kIQ4_XS);
  EXPECT_EQ(ParseDType("iq2_xs"), std::nullopt);
  EXPECT_EQ(ParseDType(""), std::nullopt);
  EXPECT_EQ(DTypeName(DType::kQ6_K), "q6_K");
  EXPECT_EQ(DTypeName(static_cast<DType>(16)), "unknown");
  for (DType t : {DType::kF32, DType::kF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                  DType::kQ8_0, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K,
                  DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS, DType::kBF16, DType::kMXFP4}) {
    ASSERT_TRUE(GetDTypeInfo(t).has_value());
    EXPECT_EQ(GgmlTypeName(static_cast<uint32_t>(t)), DTypeName(t)) << "GGUF ids match ggml";
  }
}

}  // namespace
}  // namespace phx
