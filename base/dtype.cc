#include "base/dtype.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "absl/strings/ascii.h"

namespace phx {
namespace {

constexpr std::array<DTypeInfo, 17> kInfos = {{
    {DType::kF32, "f32", 1, 4},
    {DType::kF16, "f16", 1, 2},
    {DType::kQ4_0, "q4_0", kQK4_0, sizeof(BlockQ4_0)},
    {DType::kQ4_1, "q4_1", kQK32, sizeof(BlockQ4_1)},
    {DType::kQ5_0, "q5_0", kQK32, sizeof(BlockQ5_0)},
    {DType::kQ5_1, "q5_1", kQK32, sizeof(BlockQ5_1)},
    {DType::kQ8_0, "q8_0", kQK8_0, sizeof(BlockQ8_0)},
    {DType::kQ2_K, "q2_K", kQK_K, sizeof(BlockQ2_K)},
    {DType::kQ3_K, "q3_K", kQK_K, sizeof(BlockQ3_K)},
    {DType::kQ4_K, "q4_K", kQK_K, sizeof(BlockQ4_K)},
    {DType::kQ5_K, "q5_K", kQK_K, sizeof(BlockQ5_K)},
    {DType::kQ6_K, "q6_K", kQK_K, sizeof(BlockQ6_K)},
    {DType::kIQ4_NL, "iq4_nl", kQK32, sizeof(BlockIQ4NL)},
    {DType::kIQ4_XS, "iq4_xs", kQK_K, sizeof(BlockIQ4XS)},
    {DType::kBF16, "bf16", 1, 2},
    {DType::kMXFP4, "mxfp4", kQK32, sizeof(BlockMXFP4)},
    {DType::kI32, "i32", 1, 4},
}};

// ggml's type names by id; empty for ids ggml retired.
constexpr std::array<std::string_view, 43> kGgmlNames = {
    "f32",     "f16",   "q4_0",   "q4_1",  "",      "",       "q5_0", "q5_1",    "q8_0",
    "q8_1",    "q2_K",  "q3_K",   "q4_K",  "q5_K",  "q6_K",   "q8_K", "iq2_xxs", "iq2_xs",
    "iq3_xxs", "iq1_s", "iq4_nl", "iq3_s", "iq2_s", "iq4_xs", "i8",   "i16",     "i32",
    "i64",     "f64",   "iq1_m",  "bf16",  "",      "",       "",     "tq1_0",   "tq2_0",
    "",        "",      "",       "mxfp4", "nvfp4", "q1_0",   "q2_0",
};

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

bool IsQuantized(DType t) {
  const auto info = GetDTypeInfo(t);
  return info.has_value() && info->block_elems > 1;
}

namespace {

// f16 at p is finite (exponent not all ones).
bool FiniteF16At(const uint8_t* p) { return (p[1] & 0x7C) != 0x7C; }

// The first of n blocks of `bytes` bytes whose f16 fields at offsets `f0` (and `f1` if >= 0)
// are not all finite.
int64_t FirstBad(const void* data, int64_t n, int64_t bytes, int f0, int f1 = -1) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (int64_t i = 0; i < n; ++i, p += bytes) {
    if (!FiniteF16At(p + f0) || (f1 >= 0 && !FiniteF16At(p + f1))) return i;
  }
  return -1;
}

}  // namespace

int64_t FirstInvalidBlock(DType t, const void* data, int64_t n) {
  const auto info = GetDTypeInfo(t);
  if (!info || info->block_elems == 1) return -1;
  const int64_t bb = info->block_bytes;
  switch (t) {
    case DType::kQ4_1:
    case DType::kQ5_1:
    case DType::kQ4_K:
    case DType::kQ5_K:
      return FirstBad(data, n, bb, 0, 2);  // d, and m or dmin
    case DType::kQ2_K:
      return FirstBad(data, n, bb, 80, 82);
    case DType::kQ3_K:
      return FirstBad(data, n, bb, 108);
    case DType::kQ6_K:
      return FirstBad(data, n, bb, 208);
    case DType::kMXFP4: {
      const auto* p = static_cast<const uint8_t*>(data);
      for (int64_t i = 0; i < n; ++i) {
        if (p[i * bb] == 0xFF) return i;
      }
      return -1;
    }
    default:  // Q4_0 Q5_0 Q8_0 IQ4_NL IQ4_XS: d first
      return FirstBad(data, n, bb, 0);
  }
}

}  // namespace phx
