// QuantizeRow: the bytes llama.cpp's llama-quantize writes without an importance matrix. These
// follow ggml-quants.c's reference quantizers step for step (the order of every f32 operation
// matters: this file is compiled with -ffp-contract=off, like ggml-base on x86-64 without FMA),
// so a synthesized model is the file llama.cpp would make from the same f32 weights
// (tests/peer/quant_peer_test.cc checks that against llama.cpp's own library).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/dtype.h"
#include "base/quantize_impl.h"

namespace phx {
namespace {

using quant_impl::Store;

// ---- 32-element types ------------------------------------------------------------------------

void QuantizeQ8_0(const float* x, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0.f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    BlockQ8_0 b;
    b.d = F32ToF16(d);
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(std::round(x[j] * id));
    Store(out, i, b);
  }
}

// Q4_0 / Q5_0: d = max / -2^(bits-1) (max: the value of largest magnitude, the first one).
template <int kBits>
void QuantizeSymmetric(const float* x, uint8_t* out, int64_t nb) {
  constexpr int kHalf = 1 << (kBits - 1), kMax = (1 << kBits) - 1;
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -kHalf;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    uint8_t q[32];
    for (int j = 0; j < 32; ++j) {
      q[j] = static_cast<uint8_t>(
          std::min(kMax, static_cast<int>(static_cast<int8_t>(x[j] * id + (kHalf + 0.5f)))));
    }
    if constexpr (kBits == 4) {
      BlockQ4_0 b;
      b.d = F32ToF16(d);
      for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
      Store(out, i, b);
    } else {
      BlockQ5_0 b;
      b.d = F32ToF16(d);
      uint32_t qh = 0;
      for (int j = 0; j < 16; ++j) {
        b.qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
        qh |= static_cast<uint32_t>((q[j] & 0x10) >> 4) << j;
        qh |= static_cast<uint32_t>((q[j + 16] & 0x10) >> 4) << (j + 16);
      }
      std::memcpy(b.qh, &qh, 4);
      Store(out, i, b);
    }
  }
}

// Q4_1 / Q5_1: d = (max - min) / (2^bits - 1), q = (x - min) / d rounded up from .5.
template <int kBits>
void QuantizeAffine(const float* x, uint8_t* out, int64_t nb) {
  constexpr int kMax = (1 << kBits) - 1;
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float min = 3.40282347e+38f, max = -3.40282347e+38f;
    for (int j = 0; j < 32; ++j) {
      if (x[j] < min) min = x[j];
      if (x[j] > max) max = x[j];
    }
    const float d = (max - min) / kMax;
    const float id = d != 0.f ? 1.0f / d : 0.0f;
    uint8_t q[32];
    for (int j = 0; j < 32; ++j) {
      const float v = (x[j] - min) * id + 0.5f;
      q[j] = kBits == 4
                 ? static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>(v))))
                 : static_cast<uint8_t>(v);
    }
    if constexpr (kBits == 4) {
      BlockQ4_1 b;
      b.d = F32ToF16(d);
      b.m = F32ToF16(min);
      for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(q[j] | (q[j + 16] << 4));
      Store(out, i, b);
    } else {
      BlockQ5_1 b;
      b.d = F32ToF16(d);
      b.m = F32ToF16(min);
      uint32_t qh = 0;
      for (int j = 0; j < 16; ++j) {
        b.qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
        qh |= static_cast<uint32_t>((q[j] & 0x10) >> 4) << j;
        qh |= static_cast<uint32_t>((q[j + 16] & 0x10) >> 4) << (j + 16);
      }
      std::memcpy(b.qh, &qh, 4);
      Store(out, i, b);
    }
  }
}

int BestIndexFP4(float x, float e) {
  int best = 0;
  float best_err = std::fabs(kFP4Values[0] * e - x);
  for (int i = 1; i < 16; ++i) {
    const float err = std::fabs(kFP4Values[i] * e - x);
    if (err < best_err) {
      best = i;
      best_err = err;
    }
  }
  return best;
}

void QuantizeMXFP4(const float* x, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0.f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    // ggml converts the float straight to uint8_t; x86 truncates to int32 and keeps the low byte
    // (defined here for the subnormal maxima where the exponent goes below 0).
    const uint8_t e =
        amax > 0.0f ? static_cast<uint8_t>(static_cast<int>(std::floor(std::log2(amax)) - 2 + 127))
                    : 0;
    const float d = E8M0ToFloatHalf(e);
    BlockMXFP4 b;
    b.e = e;
    for (int j = 0; j < 16; ++j) {
      b.qs[j] = static_cast<uint8_t>(BestIndexFP4(x[j], d) | (BestIndexFP4(x[j + 16], d) << 4));
    }
    Store(out, i, b);
  }
}

}  // namespace

// K-quants and the IQ4 types: quantize_k.cc.
void QuantizeQ2K(const float* x, uint8_t* out, int64_t nb);
void QuantizeQ3K(const float* x, uint8_t* out, int64_t nb);
void QuantizeQ45K(DType t, const float* x, uint8_t* out, int64_t nb);
void QuantizeQ6K(const float* x, uint8_t* out, int64_t nb);
void QuantizeIQ4(DType t, const float* x, uint8_t* out, int64_t nb);

bool QuantizeRow(DType t, const float* src, void* dst, int64_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return true;
    case DType::kF16:
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = t == DType::kF16 ? F32ToF16(src[i]) : F32ToBF16(src[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return true;
    case DType::kQ8_0:
      QuantizeQ8_0(src, out, n / 32);
      return true;
    case DType::kQ4_0:
      QuantizeSymmetric<4>(src, out, n / 32);
      return true;
    case DType::kQ5_0:
      QuantizeSymmetric<5>(src, out, n / 32);
      return true;
    case DType::kQ4_1:
      QuantizeAffine<4>(src, out, n / 32);
      return true;
    case DType::kQ5_1:
      QuantizeAffine<5>(src, out, n / 32);
      return true;
    case DType::kMXFP4:
      QuantizeMXFP4(src, out, n / 32);
      return true;
    case DType::kQ2_K:
      QuantizeQ2K(src, out, n / kQK_K);
      return true;
    case DType::kQ3_K:
      QuantizeQ3K(src, out, n / kQK_K);
      return true;
    case DType::kQ4_K:
    case DType::kQ5_K:
      QuantizeQ45K(t, src, out, n / kQK_K);
      return true;
    case DType::kQ6_K:
      QuantizeQ6K(src, out, n / kQK_K);
      return true;
    case DType::kIQ4_NL:
    case DType::kIQ4_XS:
      QuantizeIQ4(t, src, out, n / GetDTypeInfo(t)->block_elems);
      return true;
    case DType::kI32:
      return false;
  }
  return false;
}

}  // namespace phx
