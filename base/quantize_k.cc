// Reference quantizers of the 256-element types (Q2_K .. Q6_K, IQ4_XS) and IQ4_NL, ported from
// ggml-quants.c's imatrix-free paths (quantize_row_q*_K_ref, quantize_iq4_nl / quantize_iq4_xs
// with ntry 7) operation for operation; see quantize.cc.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/dtype.h"
#include "base/quantize_impl.h"

namespace phx {

using quant_impl::kGroupMaxEps;
using quant_impl::MakeQ3Quants;
using quant_impl::MakeQkx2Quants;
using quant_impl::MakeQxQuants;
using quant_impl::NearestInt;
using quant_impl::Store;

namespace {

// Packs 2-bit values as Q2_K / Q3_K do: byte l of each 32 holds elements l, l+32, l+64, l+96.
void Pack2Bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                           (L[j + l + 96] << 6));
    }
  }
}

// Q4_K / Q5_K scale byte layout for sub-block j's 6-bit scale ls and min lm.
void PackScaleMin(int j, uint8_t ls, uint8_t lm, uint8_t* scales) {
  if (j < 4) {
    scales[j] = ls;
    scales[j + 4] = lm;
  } else {
    scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
    scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
  }
}

int BestIndexInt8(int n, const int8_t* val, float x) {
  if (x <= val[0]) return 0;
  if (x >= val[n - 1]) return n - 1;
  int ml = 0, mu = n - 1;
  while (mu - ml > 1) {
    const int mav = (ml + mu) / 2;
    if (x < val[mav]) {
      mu = mav;
    } else {
      ml = mav;
    }
  }
  return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

// ggml's quantize_row_iq4_nl_impl without an importance matrix, for one super-block of `sbs`
// values in 32-element blocks (sbs == 32: IQ4_NL, whose scale is the block's own f16; sbs == 256:
// IQ4_XS with 6-bit sub-block scales under one f16).
void QuantizeIQ4Block(int sbs, const float* x, uint16_t* dh, uint8_t* q4, uint16_t* scales_h,
                      uint8_t* scales_l, int ntry) {
  constexpr int kBlock = 32;
  const int8_t* values = kIQ4NLValues;
  float scales[kQK_K / kBlock];
  float weight[kBlock];
  uint8_t L[kQK_K];
  // Without importance weights a value's weight is its square (sigma2 only enters with them).
  std::memset(q4, 0, static_cast<size_t>(sbs / 2));
  dh[0] = F32ToF16(0.f);
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < sbs / kBlock; ++ib) {
    const float* xb = x + ib * kBlock;
    uint8_t* Lb = L + ib * kBlock;
    for (int j = 0; j < kBlock; ++j) weight[j] = xb[j] * xb[j];
    float amax = 0, max = 0;
    for (int j = 0; j < kBlock; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax < kGroupMaxEps) {
      scales[ib] = 0;
      continue;
    }
    float d = ntry > 0 ? -max / values[0] : max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < kBlock; ++j) {
      const float al = id * xb[j];
      const int l = BestIndexInt8(16, values, al);
      Lb[j] = static_cast<uint8_t>(l);
      const float q = values[l];
      const float w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
      id = (itry + values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < kBlock; ++j) {
        const float al = id * xb[j];
        const int l = BestIndexInt8(16, values, al);
        const float q = values[l];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    const float abs_d = std::fabs(d);
    if (abs_d > amax_scale) {
      amax_scale = abs_d;
      max_scale = d;
    }
  }
  if (sbs / kBlock > 1) {
    *scales_h = 0;
    const float d = -max_scale / 32;
    dh[0] = F32ToF16(d);
    const float id = d != 0.f ? 1 / d : 0.f;
    for (int ib = 0; ib < sbs / kBlock; ++ib) {
      int l = NearestInt(id * scales[ib]);
      l = std::max(-32, std::min(31, l));
      const float dl = d * l;
      const float idl = dl != 0.f ? 1 / dl : 0.f;
      uint8_t* Lb = L + ib * kBlock;
      const float* xb = x + ib * kBlock;
      for (int j = 0; j < kBlock; ++j)
        Lb[j] = static_cast<uint8_t>(BestIndexInt8(16, values, idl * xb[j]));
      l += 32;
      const uint8_t l_l = static_cast<uint8_t>(l & 0xF), l_h = static_cast<uint8_t>(l >> 4);
      if (ib % 2 == 0) {
        scales_l[ib / 2] = l_l;
      } else {
        scales_l[ib / 2] |= static_cast<uint8_t>(l_l << 4);
      }
      *scales_h |= static_cast<uint16_t>(l_h << (2 * (ib % 8)));
    }
  } else {
    dh[0] = F32ToF16(scales[0]);
    if (ntry > 0) {
      const float id = scales[0] != 0.f ? 1 / scales[0] : 0;
      for (int j = 0; j < sbs; ++j)
        L[j] = static_cast<uint8_t>(BestIndexInt8(16, values, id * x[j]));
    }
  }
  for (int i = 0; i < sbs / 32; ++i) {
    for (int j = 0; j < 16; ++j) {
      q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
    }
  }
}

}  // namespace

void QuantizeQ2K(const float* x, uint8_t* out, int64_t nb) {
  uint8_t L[kQK_K], Laux[16];
  float weights[16], mins[kQK_K / 16], scales[kQK_K / 16];
  const float q4scale = 15.f;
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ2_K y;
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = MakeQkx2Quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                 0.1f, 15, true);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j) {
        y.scales[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
      }
      y.d = F32ToF16(max_scale / q4scale);
    } else {
      std::memset(y.scales, 0, sizeof(y.scales));
      y.d = F32ToF16(0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < kQK_K / 16; ++j) {
        y.scales[j] |= static_cast<uint8_t>(NearestInt(iscale * mins[j]) << 4);
      }
      y.dmin = F32ToF16(max_min / q4scale);
    } else {
      y.dmin = F32ToF16(0.f);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = F16ToF32(y.d) * (y.scales[j] & 0xF);
      if (d == 0.f) continue;
      const float dm = F16ToF32(y.dmin) * (y.scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        const int l = NearestInt((x[16 * j + ii] + dm) / d);
        L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
      }
    }
    Pack2Bit(L, y.qs);
    Store(out, i, y);
  }
}

void QuantizeQ3K(const float* x, uint8_t* out, int64_t nb) {
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ3_K y;
    float max_scale = 0, amax = 0;
    for (int j = 0; j < kQK_K / 16; ++j) {
      scales[j] = MakeQ3Quants(16, 4, x + 16 * j, L + 16 * j);
      const float scale = std::fabs(scales[j]);
      if (scale > amax) {
        amax = scale;
        max_scale = scales[j];
      }
    }
    std::memset(y.scales, 0, sizeof(y.scales));
    if (max_scale != 0.f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < kQK_K / 16; ++j) {
        int8_t l = static_cast<int8_t>(NearestInt(iscale * scales[j]));
        l = static_cast<int8_t>(std::max<int>(-32, std::min<int>(31, l)) + 32);
        if (j < 8) {
          y.scales[j] = l & 0xF;
        } else {
          y.scales[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
        }
        l = static_cast<int8_t>(l >> 4);
        y.scales[j % 4 + 8] |= static_cast<uint8_t>(l << (2 * (j / 4)));
      }
      y.d = F32ToF16(1 / iscale);
    } else {
      y.d = F32ToF16(0.f);
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = F16ToF32(y.d) * Q3KScale(j, y.scales);
      if (d == 0.f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = NearestInt(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, l)) + 4);
      }
    }
    std::memset(y.hmask, 0, sizeof(y.hmask));
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < kQK_K; ++j) {
      if (L[j] > 3) {
        y.hmask[m] |= hm;
        L[j] = static_cast<int8_t>(L[j] - 4);
      }
      if (++m == kQK_K / 8) {
        m = 0;
        hm = static_cast<uint8_t>(hm << 1);
      }
    }
    uint8_t U[kQK_K];
    for (int j = 0; j < kQK_K; ++j) U[j] = static_cast<uint8_t>(L[j]);
    Pack2Bit(U, y.qs);
    Store(out, i, y);
  }
}

void QuantizeQ45K(DType t, const float* x, uint8_t* out, int64_t nb) {
  const bool q5 = t == DType::kQ5_K;
  const int nmax = q5 ? 31 : 15;
  uint8_t L[kQK_K], Laux[32];
  float weights[32], mins[kQK_K / 32], scales[kQK_K / 32];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = MakeQkx2Quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                 q5 ? -0.5f : -1.f, 0.1f, q5 ? 15 : 20, false);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    uint8_t sc_bytes[kKScaleBytes] = {};
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < kQK_K / 32; ++j) {
      // ggml stores nearest_int into a uint8_t first, then clamps at 63.
      uint8_t ls = static_cast<uint8_t>(NearestInt(inv_scale * scales[j]));
      uint8_t lm = static_cast<uint8_t>(NearestInt(inv_min * mins[j]));
      ls = std::min<uint8_t>(63, ls);
      lm = std::min<uint8_t>(63, lm);
      PackScaleMin(j, ls, lm, sc_bytes);
    }
    const uint16_t dh = F32ToF16(max_scale / 63.f), dmh = F32ToF16(max_min / 63.f);
    for (int j = 0; j < kQK_K / 32; ++j) {
      uint8_t sc, m;
      Q4KScaleMin(j, sc_bytes, &sc, &m);
      const float d = F16ToF32(dh) * sc;
      if (d == 0.f) continue;
      const float dm = F16ToF32(dmh) * m;
      for (int ii = 0; ii < 32; ++ii) {
        const int l = NearestInt((x[32 * j + ii] + dm) / d);
        L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
      }
    }
    if (!q5) {
      BlockQ4_K y;
      y.d = dh;
      y.dmin = dmh;
      std::memcpy(y.scales, sc_bytes, sizeof(sc_bytes));
      for (int j = 0, o = 0; j < kQK_K; j += 64, o += 32) {
        for (int l = 0; l < 32; ++l)
          y.qs[o + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
      }
      Store(out, i, y);
    } else {
      BlockQ5_K y;
      y.d = dh;
      y.dmin = dmh;
      std::memcpy(y.scales, sc_bytes, sizeof(sc_bytes));
      std::memset(y.qh, 0, sizeof(y.qh));
      uint8_t m1 = 1, m2 = 2;
      for (int n = 0, o = 0; n < kQK_K; n += 64, o += 32) {
        for (int j = 0; j < 32; ++j) {
          int l1 = L[n + j];
          if (l1 > 15) {
            l1 -= 16;
            y.qh[j] |= m1;
          }
          int l2 = L[n + j + 32];
          if (l2 > 15) {
            l2 -= 16;
            y.qh[j] |= m2;
          }
          y.qs[o + j] = static_cast<uint8_t>(l1 | (l2 << 4));
        }
        m1 = static_cast<uint8_t>(m1 << 2);
        m2 = static_cast<uint8_t>(m2 << 2);
      }
      Store(out, i, y);
    }
  }
}

void QuantizeQ6K(const float* x, uint8_t* out, int64_t nb) {
  int8_t L[kQK_K];
  float scales[kQK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    BlockQ6_K y;
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      const float scale = MakeQxQuants(16, 32, x + 16 * ib, L + 16 * ib);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y, 0, sizeof(y));
      y.d = F32ToF16(0.f);
      Store(out, i, y);
      continue;
    }
    const float iscale = -128.f / max_scale;
    y.d = F32ToF16(1 / iscale);
    for (int ib = 0; ib < kQK_K / 16; ++ib) {
      y.scales[ib] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[ib])));
    }
    for (int j = 0; j < kQK_K / 16; ++j) {
      const float d = F16ToF32(y.d) * y.scales[j];
      if (d == 0.f) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = NearestInt(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    uint8_t* ql = y.ql;
    uint8_t* qh = y.qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF;
        const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
        ql[l] = static_cast<uint8_t>(q1 | (q3 << 4));
        ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
        qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                     ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
      }
    }
    Store(out, i, y);
  }
}

void QuantizeIQ4(DType t, const float* x, uint8_t* out, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    if (t == DType::kIQ4_NL) {
      BlockIQ4NL y;
      uint16_t unused_h = 0;
      QuantizeIQ4Block(32, x + 32 * i, &y.d, y.qs, &unused_h, nullptr, 7);
      Store(out, i, y);
    } else {
      BlockIQ4XS y;
      QuantizeIQ4Block(kQK_K, x + kQK_K * i, &y.d, y.qs, &y.scales_h, y.scales_l, 7);
      Store(out, i, y);
    }
  }
}

}  // namespace phx
