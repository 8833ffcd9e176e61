#include "base/dtype.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "absl/strings/ascii.h"

namespace phx {
namespace {

constexpr std::array<DTypeInfo, 8> kInfos = {{
    {DType::kF32, "f32", 1, 4},
    {DType::kF16, "f16", 1, 2},
    {DType::kQ4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0)},
    {DType::kQ8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0)},
    {DType::kQ4_K, "q4_K", kQK_K, sizeof(BlockQ4_K)},
    {DType::kQ6_K, "q6_K", kQK_K, sizeof(BlockQ6_K)},
    {DType::kBF16, "bf16", 1, 2},
    {DType::kI32, "i32", 1, 4},
}};

// ggml's type names by id; empty for ids ggml retired.
constexpr std::array<std::string_view, 40> kGgmlNames = {
    "f32",    "f16",   "q4_0",  "q4_1",   "",      "",      "q5_0",    "q5_1",   "q8_0",    "q8_1",
    "q2_K",   "q3_K",  "q4_K",  "q5_K",   "q6_K",  "q8_K",  "iq2_xxs", "iq2_xs", "iq3_xxs", "iq1_s",
    "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8",    "i16",   "i32",     "i64",    "f64",     "iq1_m",
    "bf16",   "",      "",      "",       "tq1_0", "tq2_0", "",        "",       "",        "mxfp4",
};

inline int NearestInt(float f) { return static_cast<int>(std::lrintf(f)); }

}  // namespace

std::optional<DTypeInfo> GetDTypeInfo(DType t) {
  for (const auto& i : kInfos) {
    if (i.type == t) return i;
  }
  return std::nullopt;
}

std::optional<std::string_view> GgmlTypeName(uint32_t ggml_type) {
  if (ggml_type >= kGgmlNames.size() || kGgmlNames[ggml_type].empty()) return std::nullopt;
  return kGgmlNames[ggml_type];
}

std::string_view DTypeName(DType t) {
  auto info = GetDTypeInfo(t);
  return info ? info->name : std::string_view("unknown");
}

std::optional<DType> ParseDType(std::string_view name) {
  for (const auto& i : kInfos) {
    if (i.name.size() == name.size() &&
        std::equal(i.name.begin(), i.name.end(), name.begin(), [](char a, char b) {
          return absl::ascii_tolower(a) == absl::ascii_tolower(b);
        })) {
      return i.type;
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> RowBytes(DType t, uint64_t n) {
  auto info = GetDTypeInfo(t);
  if (!info) return std::nullopt;
  uint64_t be = static_cast<uint64_t>(info->block_elems);
  if (n % be != 0) return std::nullopt;
  uint64_t blocks = n / be;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(info->block_bytes), &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      mant &= 0x3FF;
      bits = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 31) {  // inf, or nan: quieted (as IEEE and F16C do), payload kept
    bits = sign | 0x7F800000u | (mant << 13) | (mant != 0 ? 0x400000u : 0u);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t F32ToF16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000;
  const uint32_t absx = x & 0x7FFFFFFF;
  if (absx >= 0x7F800000) {  // inf, or nan: quieted with the top payload bits kept (as F16C)
    return static_cast<uint16_t>(sign | 0x7C00 |
                                 (absx > 0x7F800000 ? 0x200 | ((absx >> 13) & 0x3FF) : 0));
  }
  if (absx >= 0x477FF000) return static_cast<uint16_t>(sign | 0x7C00);  // rounds to inf
  if (absx < 0x38800000) {                                              // subnormal or zero in f16
    // value = absx as float; f16 subnormal step is 2^-24.
    float a;
    std::memcpy(&a, &absx, 4);
    float scaled = a * 16777216.0f;  // 2^24; exact, then round to nearest even
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t exp = ((absx >> 23) - 127 + 15);
  uint32_t mant = absx & 0x7FFFFF;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // carries into exponent correctly
  return static_cast<uint16_t>(sign | h);
}

uint16_t F32ToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7FFFFFFF) > 0x7F800000) return static_cast<uint16_t>((u >> 16) | 0x40);  // quiet nan
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

bool DequantizeRow(DType t, const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return true;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b + 2 * i, 2);
        dst[i] = F16ToF32(h);
      }
      return true;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b + 2 * i, 2);
        dst[i] = BF16ToF32(h);
      }
      return true;
    case DType::kQ8_0:
      for (int64_t i = 0; i < n / kQK8_0; ++i) {
        BlockQ8_0 blk;
        std::memcpy(&blk, b + i * sizeof(BlockQ8_0), sizeof(blk));
        const float d = F16ToF32(blk.d);
        for (int j = 0; j < kQK8_0; ++j) dst[i * kQK8_0 + j] = blk.qs[j] * d;
      }
      return true;
    case DType::kQ4_0:
      for (int64_t i = 0; i < n / kQK4_0; ++i) {
        BlockQ4_0 blk;
        std::memcpy(&blk, b + i * sizeof(BlockQ4_0), sizeof(blk));
        const float d = F16ToF32(blk.d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
          dst[i * kQK4_0 + j] = ((blk.qs[j] & 0xF) - 8) * d;
          dst[i * kQK4_0 + j + 16] = ((blk.qs[j] >> 4) - 8) * d;
        }
      }
      return true;
    case DType::kQ4_K:
      for (int64_t i = 0; i < n / kQK_K; ++i) {
        BlockQ4_K blk;
        std::memcpy(&blk, b + i * sizeof(BlockQ4_K), sizeof(blk));
        const float d = F16ToF32(blk.d);
        const float dmin = F16ToF32(blk.dmin);
        float* y = dst + i * kQK_K;
        const uint8_t* q = blk.qs;
        for (int j = 0, is = 0; j < kQK_K; j += 64, is += 2, q += 32) {
          uint8_t sc, m;
          Q4KScaleMin(is, blk.scales, &sc, &m);
          const float d1 = d * sc, m1 = dmin * m;
          Q4KScaleMin(is + 1, blk.scales, &sc, &m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
          for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
        }
      }
      return true;
    case DType::kQ6_K:
      for (int64_t i = 0; i < n / kQK_K; ++i) {
        BlockQ6_K blk;
        std::memcpy(&blk, b + i * sizeof(BlockQ6_K), sizeof(blk));
        const float d = F16ToF32(blk.d);
        float* y = dst + i * kQK_K;
        const uint8_t* ql = blk.ql;
        const uint8_t* qh = blk.qh;
        const int8_t* sc = blk.scales;
        for (int n128 = 0; n128 < kQK_K; n128 += 128) {
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = static_cast<int>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = static_cast<int>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * sc[is] * q1;
            y[l + 32] = d * sc[is + 2] * q2;
            y[l + 64] = d * sc[is + 4] * q3;
            y[l + 96] = d * sc[is + 6] * q4;
          }
          y += 128;
          ql += 64;
          qh += 32;
          sc += 8;
        }
      }
      return true;
    case DType::kI32:
      return false;
  }
  return false;
}

namespace {

void QuantizeQ8_0(const float* x, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n / kQK8_0; ++i) {
    BlockQ8_0 blk;
    float amax = 0.f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[i * kQK8_0 + j]));
    const float d = amax / 127.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    blk.d = F32ToF16(d);
    for (int j = 0; j < kQK8_0; ++j) {
      blk.qs[j] = static_cast<int8_t>(NearestInt(x[i * kQK8_0 + j] * id));
    }
    std::memcpy(out + i * sizeof(BlockQ8_0), &blk, sizeof(blk));
  }
}

void QuantizeQ4_0(const float* x, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n / kQK4_0; ++i) {
    const float* xb = x + i * kQK4_0;
    float amax = 0.f, maxv = 0.f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        maxv = xb[j];
      }
    }
    const float d = maxv / -8.f;
    const float id = d != 0.f ? 1.f / d : 0.f;
    BlockQ4_0 blk;
    blk.d = F32ToF16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = std::min(15, static_cast<int>(xb[j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(xb[j + 16] * id + 8.5f));
      blk.qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
    std::memcpy(out + i * sizeof(BlockQ4_0), &blk, sizeof(blk));
  }
}

// Q4_K: each 32-element sub-block gets an affine map x ~ scale*q - min with q in 0..15; the
// per-sub-block scales and mins are themselves quantized to 6 bits against the block maxima.
void QuantizeQ4_K(const float* x, uint8_t* out, int64_t n) {
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const float* xb = x + i * kQK_K;
    float scales[8], mins[8];
    for (int j = 0; j < 8; ++j) {
      float lo = 0.f, hi = 0.f;  // min is clamped at <= 0 so mins stay non-negative
      for (int l = 0; l < 32; ++l) {
        lo = std::min(lo, xb[32 * j + l]);
        hi = std::max(hi, xb[32 * j + l]);
      }
      scales[j] = (hi - lo) / 15.f;
      mins[j] = -lo;
    }
    float max_scale = 0.f, max_min = 0.f;
    for (int j = 0; j < 8; ++j) {
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    BlockQ4_K blk;
    std::memset(&blk, 0, sizeof(blk));
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
      const uint8_t ls = static_cast<uint8_t>(std::min(63, NearestInt(inv_scale * scales[j])));
      const uint8_t lm = static_cast<uint8_t>(std::min(63, NearestInt(inv_min * mins[j])));
      if (j < 4) {
        blk.scales[j] = ls;
        blk.scales[j + 4] = lm;
      } else {
        blk.scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
        blk.scales[j - 4] |= ((ls >> 4) << 6);
        blk.scales[j] |= ((lm >> 4) << 6);
      }
    }
    blk.d = F32ToF16(max_scale / 63.f);
    blk.dmin = F32ToF16(max_min / 63.f);
    const float d = F16ToF32(blk.d), dmin = F16ToF32(blk.dmin);
    uint8_t L[kQK_K];
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      Q4KScaleMin(j, blk.scales, &sc, &m);
      const float dd = d * sc;
      const float dm = dmin * m;
      for (int l = 0; l < 32; ++l) {
        int q = dd != 0.f ? NearestInt((xb[32 * j + l] + dm) / dd) : 0;
        L[32 * j + l] = static_cast<uint8_t>(std::clamp(q, 0, 15));
      }
    }
    uint8_t* q = blk.qs;
    for (int j = 0; j < kQK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
      q += 32;
    }
    std::memcpy(out + i * sizeof(BlockQ4_K), &blk, sizeof(blk));
  }
}

}  // namespace

bool QuantizeRow(DType t, const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return true;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = F32ToF16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return true;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = F32ToBF16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return true;
    case DType::kQ8_0:
      QuantizeQ8_0(src, out, n);
      return true;
    case DType::kQ4_0:
      QuantizeQ4_0(src, out, n);
      return true;
    case DType::kQ4_K:
      QuantizeQ4_K(src, out, n);
      return true;
    default:
      return false;
  }
}

}  // namespace phx
