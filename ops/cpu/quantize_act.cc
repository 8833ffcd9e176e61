#include "ops/cpu/quantize_act.h"

#include <cmath>
#include <cstring>

#include "base/dtype.h"
#include "ops/cpu/packed_formats.h"

namespace phx::ops::cpu {
namespace {

// One 32-value block: q and the dequantization scale fp16(amax/127) as f32; returns sum(q).
int32_t QuantizeBlockQ8(const float* x, int8_t* q, float* d_out) {
  float amax = 0.f;
  for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.f;
  const float id = amax != 0.f ? 127.f / amax : 0.f;
  int32_t sum = 0;
  for (int j = 0; j < 32; ++j) {
    q[j] = static_cast<int8_t>(std::nearbyint(x[j] * id));
    sum += q[j];
  }
  *d_out = F16ToF32(F32ToF16(d));
  return sum;
}

}  // namespace

void QuantizeActQ8(const float* x, int64_t K, uint8_t* out) {
  const int64_t nb = K / 32;
  for (int64_t p = 0; p < (nb + 1) / 2; ++p) {
    uint8_t* o = out + p * kQ8ActPairBytes;
    auto* q = reinterpret_cast<int8_t*>(o);
    float d[2] = {0.f, 0.f};
    int32_t s[2] = {0, 0};
    for (int h = 0; h < 2; ++h) {
      const int64_t b = 2 * p + h;
      if (b < nb) {
        s[h] = QuantizeBlockQ8(x + b * 32, q + 32 * h, &d[h]);
      } else {
        std::memset(q + 32 * h, 0, 32);
      }
    }
    float dx[16];
    int32_t corr[16] = {};
    for (int i = 0; i < 16; ++i) dx[i] = d[i / 8];
    corr[0] = -128 * s[0];
    corr[8] = -128 * s[1];
    std::memcpy(o + 64, dx, sizeof(dx));
    std::memcpy(o + 128, corr, sizeof(corr));
  }
}

void QuantizeActK(const float* x, int64_t K, uint8_t* out) {
  for (int64_t b = 0; b < K / 256; ++b) {
    const float* xb = x + b * 256;
    uint8_t* o = out + b * kKActBytes;
    auto* q = reinterpret_cast<int8_t*>(o);
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < 256; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    float d = 0.f;
    if (amax == 0.f) {
      std::memset(q, 0, 256);
    } else {
      const float iscale = -127.f / max;
      for (int p = 0; p < 256; ++p) {  // lane order (packed_formats.h)
        const int j = KLaneToNatural(p);
        q[p] = static_cast<int8_t>(std::fmin(127.f, std::nearbyint(iscale * xb[j])));
      }
      d = 1.f / iscale;
    }
    float bsum[16];
    int32_t gs[16] = {};
    for (int p = 0; p < 256; ++p) gs[KLaneToNatural(p) / 16] += q[p];
    for (int g = 0; g < 16; ++g) bsum[g] = d * static_cast<float>(gs[g]);
    std::memcpy(o + kKActBsumOffset, bsum, sizeof(bsum));
    std::memcpy(o + kKActDOffset, &d, sizeof(d));
    std::memset(o + kKActDOffset + 4, 0, kKActBytes - kKActDOffset - 4);
  }
}

}  // namespace phx::ops::cpu
