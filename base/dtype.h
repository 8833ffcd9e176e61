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
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ4_NL = 20,
  kIQ4_XS = 23,
  kBF16 = 30,
  kMXFP4 = 39,
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
// The inline helpers here are static: the CPU backend's per-ISA files (-mavx2, -mavx512*) each
// compile their own copy, never one the linker would share with the other levels
// (tests/unit/isa_symbols_test.sh).
static inline float BF16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t F32ToBF16(float f);

// ---- Block layouts (ggml-common.h, byte for byte) ---------------------------------------------
inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;
inline constexpr int kQK32 = 32;  // block size of every 32-element type
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
struct BlockQ4_1 {
  uint16_t d, m;          // f16 scale and min: x = d * q + m, q in 0..15
  uint8_t qs[kQK32 / 2];  // as Q4_0
};
struct BlockQ5_0 {
  uint16_t d;             // f16 scale: x = d * (q - 16), q in 0..31
  uint8_t qh[4];          // bit j: the 5th bit of element j (little-endian u32)
  uint8_t qs[kQK32 / 2];  // low 4 bits, as Q4_0
};
struct BlockQ5_1 {
  uint16_t d, m;  // x = d * q + m, q in 0..31
  uint8_t qh[4];
  uint8_t qs[kQK32 / 2];
};
struct BlockIQ4NL {
  uint16_t d;             // x = d * kIQ4NLValues[q]
  uint8_t qs[kQK32 / 2];  // 4-bit indices, as Q4_0
};
struct BlockMXFP4 {
  uint8_t e;              // E8M0 scale: x = 2^(e - 128) * kFP4Values[q] (the values are doubled)
  uint8_t qs[kQK32 / 2];  // 4-bit E2M1 codes, as Q4_0
};
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // per 16: low nibble scale, high nibble min
  uint8_t qs[kQK_K / 4];       // 2-bit quants: byte l of 32 holds elements l, l+32, l+64, l+96
  uint16_t d, dmin;            // x = d * sc * q - dmin * m
};
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];      // high bit; its absence subtracts 4
  uint8_t qs[kQK_K / 4];         // low 2 bits, as Q2_K
  uint8_t scales[kKScaleBytes];  // 16 x 6-bit scales (biased by 32), packed
  uint16_t d;                    // x = d * (sc - 32) * (q - 4)
};
struct BlockQ4_K {
  uint16_t d;                    // f16 super-block scale for the 6-bit sub-block scales
  uint16_t dmin;                 // f16 super-block scale for the 6-bit sub-block mins
  uint8_t scales[kKScaleBytes];  // 8 sub-blocks x (6-bit scale, 6-bit min), packed
  uint8_t qs[kQK_K / 2];         // 4-bit quants, 64 elements per 32 bytes (low then high nibble)
};
struct BlockQ5_K {
  uint16_t d, dmin;              // as Q4_K
  uint8_t scales[kKScaleBytes];  // as Q4_K
  uint8_t qh[kQK_K / 8];         // 5th bits: bit 2c / 2c+1 of byte l for sub-blocks 2c / 2c+1
  uint8_t qs[kQK_K / 2];         // low 4 bits, as Q4_K
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low 4 bits
  uint8_t qh[kQK_K / 4];      // high 2 bits
  int8_t scales[kQK_K / 16];  // 8-bit sub-block scales
  uint16_t d;                 // f16 super-block scale
};
struct BlockIQ4XS {
  uint16_t d;                    // x = d * (ls - 32) * kIQ4NLValues[q] per 32-element sub-block
  uint16_t scales_h;             // 2 high bits of each 6-bit ls
  uint8_t scales_l[kQK_K / 64];  // 4 low bits of each ls
  uint8_t qs[kQK_K / 2];         // 4-bit indices, 16 bytes per sub-block as Q4_0
};
#pragma pack(pop)
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockIQ4NL) == 18);
static_assert(sizeof(BlockMXFP4) == 17);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockIQ4XS) == 136);

// The 16 values of IQ4_NL / IQ4_XS indices and of MXFP4's E2M1 codes (doubled), as ggml has them.
inline constexpr int8_t kIQ4NLValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};
inline constexpr int8_t kFP4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// MXFP4's scale: 2^(e - 128) (half the E8M0 value, since kFP4Values are doubled); exact, with
// the two smallest exponents as f32 subnormals (ggml's GGML_E8M0_TO_FP32_HALF).
static inline float E8M0ToFloatHalf(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Unpacks the j-th (0..7) 6-bit scale and min of a Q4_K / Q5_K block.
static inline void Q4KScaleMin(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// The j-th (0..15) signed scale of a Q3_K block: the 6-bit field minus 32 (-32..31).
static inline int Q3KScale(int j, const uint8_t* scales) {
  const int lo = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
  const int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return (lo | (hi << 4)) - 32;
}

// The j-th (0..7) signed sub-block scale of an IQ4_XS block: the 6-bit field minus 32.
static inline int IQ4XSScale(int j, uint16_t scales_h, const uint8_t* scales_l) {
  const int lo = (scales_l[j / 2] >> (4 * (j % 2))) & 0xF;
  const int hi = (scales_h >> (2 * j)) & 3;
  return (lo | (hi << 4)) - 32;
}

// ---- Reference (de)quantization ------------------------------------------------------------
// Dequantizes `n` elements (a multiple of the block size) starting at `src` into f32. Plain C++,
// no SIMD: the reference the SIMD and CUDA paths are tested against. Returns false for a type
// without a dequantizer.
bool DequantizeRow(DType t, const void* src, float* dst, int64_t n);

// Quantizes `n` f32 values into `dst` (RowBytes(t, n) bytes), writing the bytes llama.cpp's
// llama-quantize writes without an importance matrix (ggml_quantize_chunk: the reference
// quantizers of ggml-quants.c, ported; base/quantize.cc). Every type but I32. Returns false for
// a type without a quantizer.
bool QuantizeRow(DType t, const float* src, void* dst, int64_t n);

// Checks the scales of `n_blocks` blocks of type `t` the way ggml_validate_row_data does: every
// f16 scale (and min) finite, no MXFP4 exponent 0xFF. Returns the index of the first bad block,
// or -1 when all are good (and for types without scales: F32, F16, BF16).
int64_t FirstInvalidBlock(DType t, const void* data, int64_t n_blocks);

// True for the block-quantized types (every supported type but F32, F16, BF16 and I32).
bool IsQuantized(DType t);

}  // namespace phx
