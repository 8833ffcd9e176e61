// Element and block types of model tensors. The numeric ids are GGUF's (ggml's) type ids so a
// tensor's type can be read straight from a file. Block layouts match GGUF byte for byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace phx {

enum class DType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ8_0 = 8,
  kQ4_K = 12,
  kQ6_K = 14,
  kBF16 = 30,
  // Not a GGUF storage type: 32-bit signed integers (token ids, positions) inside the runtime.
  kI32 = 1000,
};

struct DTypeInfo {
  DType type;
  std::string_view name;  // "f32", "q8_0", ... (ggml's spelling)
  int64_t block_elems;    // elements per block (1 for plain types)
  int64_t block_bytes;    // bytes per block
};

// Supported types only; nullopt for anything else.
std::optional<DTypeInfo> GetDTypeInfo(DType t);
// ggml's name for any ggml type id, including those Phalanx does not support ("q5_k", "iq2_xs"),
// or nullopt for an id ggml never defined.
std::optional<std::string_view> GgmlTypeName(uint32_t ggml_type);
std::string_view DTypeName(DType t);
std::optional<DType> ParseDType(std::string_view name);

// Bytes for `n` elements of type `t` in one row; `n` must be a multiple of the block size.
// Returns nullopt when it is not or when the result overflows.
std::optional<uint64_t> RowBytes(DType t, uint64_t n);

// ---- Scalar conversions (portable, bit-exact IEEE round-to-nearest-even) ------------------
float F16ToF32(uint16_t h);
uint16_t F32ToF16(float f);
inline float BF16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t F32ToBF16(float f);

// ---- Block layouts --------------------------------------------------------------------------
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;
inline constexpr int kQK_K = 256;
inline constexpr int kKScaleBytes = 12;

#pragma pack(push, 1)
struct BlockQ8_0 {
  uint16_t d;  // f16 scale
  int8_t qs[kQK8_0];
};
struct BlockQ4_0 {
  uint16_t d;              // f16 scale
  uint8_t qs[kQK4_0 / 2];  // low nibbles: elements 0..15, high nibbles: 16..31 (offset 8)
};
struct BlockQ4_K {
  uint16_t d;                    // f16 super-block scale for the 6-bit sub-block scales
  uint16_t dmin;                 // f16 super-block scale for the 6-bit sub-block mins
  uint8_t scales[kKScaleBytes];  // 8 sub-blocks x (6-bit scale, 6-bit min), packed
  uint8_t qs[kQK_K / 2];         // 4-bit quants, 64 elements per 32 bytes (low then high nibble)
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits
  uint8_t qh[kQK_K / 4];      // high 2 bits
  int8_t scales[kQK_K / 16];  // 8-bit sub-block scales
  uint16_t d;                 // f16 super-block scale
};
#pragma pack(pop)
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ6_K) == 210);

// Unpacks the j-th (0..7) 6-bit scale and min of a Q4_K block.
inline void Q4KScaleMin(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// ---- Reference (de)quantization ------------------------------------------------------------
// Dequantizes `n` elements (a multiple of the block size) starting at `src` into f32. Plain C++,
// no SIMD: the reference the SIMD and CUDA paths are tested against. Returns false for a type
// without a dequantizer.
bool DequantizeRow(DType t, const void* src, float* dst, int64_t n);

// Quantizes `n` f32 values into `dst` (RowBytes(t, n) bytes). Supports F32, F16, BF16, Q8_0,
// Q4_0 and Q4_K. Returns false for other types.
bool QuantizeRow(DType t, const float* src, void* dst, int64_t n);

}  // namespace phx
