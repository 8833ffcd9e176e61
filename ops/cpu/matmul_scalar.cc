// Portable matmul tiles (no SIMD intrinsics): the fallback for CPUs without AVX2 and for every
// non-x86 build (ARM), and the baseline every faster level is tested against.
#define PHX_ISA_NS scalar
#include "ops/cpu/gemm_impl.h"
#include "ops/cpu/quantize_act_impl.h"

namespace phx::ops::cpu::scalar {

VecKernels GetVecKernels();

namespace {

struct FloatTiles {
  static constexpr int kRM = 2;
  static void Run(int rm, const float* x, int64_t x_pitch, const uint8_t* const* wrows, DType wt,
                  int64_t kc, float* y, int64_t y_pitch, int ncols, const float* bias,
                  bool accumulate) {
    float buf[kGroupRows][kKcFloat];
    const float* w[kGroupRows];
    for (int r = 0; r < kGroupRows; ++r) {
      if (wt == DType::kF32) {
        w[r] = reinterpret_cast<const float*>(wrows[r]);
        continue;
      }
      DequantizeRow(wt, wrows[r], buf[r], kc);
      w[r] = buf[r];
    }
    for (int m = 0; m < rm; ++m) {
      const float* xm = x + m * x_pitch;
      float v[kGroupRows];
      for (int r = 0; r < kGroupRows; ++r) {
        float s[4] = {0.f, 0.f, 0.f, 0.f};
        int64_t k = 0;
        for (; k + 4 <= kc; k += 4) {
          for (int j = 0; j < 4; ++j) s[j] += xm[k + j] * w[r][k + j];
        }
        for (; k < kc; ++k) s[0] += xm[k] * w[r][k];
        v[r] = (s[0] + s[1]) + (s[2] + s[3]);
      }
      StoreRow(v, y + m * y_pitch, ncols, bias, accumulate);
    }
  }
};

// The decode tiles: 1..2 activation rows against 4 weight rows whose blocks are decoded one at a
// time straight from the rows (no panel), as on the AVX2 level (direct_tiles_avx2.h). The block
// decoders are decode_blocks.h's, specialized by the type as a constant; the dot products are
// plain loops of fixed length that the compiler vectorizes for the target (SSE2, NEON).
template <typename Q>
inline int32_t Dot16(const Q* q, const int8_t* x) {
  int32_t s = 0;
  for (int i = 0; i < 16; ++i) s += q[i] * x[i];
  return s;
}

// The q8 family (Q8_0 pairs of activations): y += d * dx * dot, and for Q4_1/Q5_1 the block
// min through the activation's -128 * sum(q), as in Q8Tiles::Run.
template <int RM, DType WT>
void Q8DirectTile(const uint8_t* act, int64_t ap, const uint8_t* const* w, int64_t K, float* y,
                  int64_t yp, int ncols, const float* bias) {
  constexpr bool kMin = Block32HasMin(WT);
  float c[RM][kGroupRows] = {};
  for (int64_t b = 0; b < K / 32; ++b) {
    const int h = static_cast<int>(b % 2);
    for (int r = 0; r < kGroupRows; ++r) {
      int8_t q[32];
      float d, mn;
      DecodeBlock32(WT, w[r], b, q, &d, &mn);
      for (int m = 0; m < RM; ++m) {
        const uint8_t* ab = act + m * ap + (b / 2) * kQ8ActPairBytes;
        const auto* xq = reinterpret_cast<const int8_t*>(ab) + 32 * h;
        const float dx = reinterpret_cast<const float*>(ab + 64)[8 * h];
        const int32_t s = Dot16(q, xq) + Dot16(q + 16, xq + 16);
        c[m][r] += static_cast<float>(s) * (d * dx);
        if constexpr (kMin) {
          const int32_t corr = reinterpret_cast<const int32_t*>(ab + 128)[8 * h];
          c[m][r] += mn * (-1.f / 128) * (static_cast<float>(corr) * dx);
        }
      }
    }
  }
  for (int m = 0; m < RM; ++m) StoreRow(c[m], y + m * yp, ncols, bias, false);
}

// The K-quants (Q8_K super-blocks of activations): per sub-block two 16-value dots by their
// scales, summed exactly in an int32 per super-block, then d * dx and the mins.
template <int RM, DType WT>
void KDirectTile(const uint8_t* act, int64_t ap, const uint8_t* const* w, int64_t K, float* y,
                 int64_t yp, int ncols, const float* bias) {
  float c[RM][kGroupRows] = {};
  for (int64_t s = 0; s < K / 256; ++s) {
    for (int r = 0; r < kGroupRows; ++r) {
      const uint8_t* blk = w[r] + s * SuperKBytes(WT);
      int16_t sc16[16];
      float mins[16], d;
      DecodeSuperKScales(WT, blk, F16At, sc16, mins, &d);
      int32_t acc[RM] = {};
      for (int j = 0; j < 8; ++j) {
        uint8_t q[32];
        DecodeSuperKSub(WT, blk, j, q);
        for (int m = 0; m < RM; ++m) {
          const auto* x = reinterpret_cast<const int8_t*>(act + m * ap + s * kKActBytes) +
                          32 * kKLaneSubBlock[j];
          acc[m] += sc16[2 * j] * Dot16(q, x) + sc16[2 * j + 1] * Dot16(q + 16, x + 16);
        }
      }
      for (int m = 0; m < RM; ++m) {
        const uint8_t* ab = act + m * ap + s * kKActBytes;
        const float dx = *reinterpret_cast<const float*>(ab + kKActDOffset);
        const auto* bsum = reinterpret_cast<const float*>(ab + kKActBsumOffset);
        float v = static_cast<float>(acc[m]) * (d * dx);
        for (int g = 0; g < 16; ++g) v += mins[g] * bsum[g];
        c[m][r] += v;
      }
    }
  }
  for (int m = 0; m < RM; ++m) StoreRow(c[m], y + m * yp, ncols, bias, false);
}

struct Q8Tiles {
  static constexpr int kRM = 2;
  static constexpr bool kDirect = true;
  // Each 2-row tile decodes every block again: beyond 4 rows the panel (decoded once) is faster
  // for the costlier decoders (Q5's fifth bits, the IQ4/MXFP4 tables: 1.5-1.9x at 16 rows).
  static constexpr int64_t kDirectMaxRows = 4;
  static constexpr bool HasDirect(DType t) { return IsBlock32Type(t); }
  template <int RM, DType T>
  static constexpr auto* kDirectTile = &Q8DirectTile<RM, T>;
  static void Run(int rm, const uint8_t* act, int64_t act_pitch, const uint8_t* wg, int64_t np,
                  float* y, int64_t y_pitch, int ncols, const float* bias, bool accumulate,
                  bool has_min) {
    for (int m = 0; m < rm; ++m) {
      float v[kGroupRows] = {};
      for (int64_t p = 0; p < np; ++p) {
        const uint8_t* ab = act + m * act_pitch + p * kQ8ActPairBytes;
        const auto* xq = reinterpret_cast<const int8_t*>(ab);
        const auto* dx = reinterpret_cast<const float*>(ab + 64);
        const auto* corr = reinterpret_cast<const int32_t*>(ab + 128);
        for (int r = 0; r < kGroupRows; ++r) {
          const uint8_t* wb = wg + p * kQ8WGroupPairBytes + r * kQ8WRowPairBytes;
          const auto* wq = reinterpret_cast<const int8_t*>(wb);
          const auto* dw = reinterpret_cast<const float*>(wb + kQ8WDOffset);
          const auto* mw = reinterpret_cast<const float*>(wb + kQ8WMinOffset);
          for (int h = 0; h < 2; ++h) {
            int32_t s = 0;
            for (int j = 0; j < 32; ++j) s += wq[32 * h + j] * xq[32 * h + j];
            v[r] += static_cast<float>(s) * (dw[8 * h] * dx[8 * h]);
            if (has_min) v[r] += mw[8 * h] * (static_cast<float>(corr[8 * h]) * dx[8 * h]);
          }
        }
      }
      StoreRow(v, y + m * y_pitch, ncols, bias, accumulate);
    }
  }
};

struct KTiles {
  static constexpr int kRM = 2;
  static constexpr bool kDirect = true;
  // The K panel decode costs more than re-decoding in each tile up to 16 rows (1.7x at 16).
  static constexpr int64_t kDirectMaxRows = 16;
  static constexpr bool HasDirect(DType t) { return MatmulFamily(t) == Family::kK; }
  template <int RM, DType T>
  static constexpr auto* kDirectTile = &KDirectTile<RM, T>;
  static void Run(int rm, const uint8_t* act, int64_t act_pitch, const uint8_t* wg, int64_t ns,
                  float* y, int64_t y_pitch, int ncols, const float* bias, bool accumulate) {
    for (int m = 0; m < rm; ++m) {
      float v[kGroupRows] = {};
      for (int64_t s = 0; s < ns; ++s) {
        const uint8_t* ab = act + m * act_pitch + s * kKActBytes;
        const auto* xq = reinterpret_cast<const int8_t*>(ab);
        const auto* bsum = reinterpret_cast<const float*>(ab + kKActBsumOffset);
        const float dx = *reinterpret_cast<const float*>(ab + kKActDOffset);
        for (int r = 0; r < kGroupRows; ++r) {
          const uint8_t* wr = wg + (s * kGroupRows + r) * kKWRowBytes;
          const auto* sc = reinterpret_cast<const int16_t*>(wr + kKWScOffset);
          const auto* mins = reinterpret_cast<const float*>(wr + kKWMinsOffset);
          const float d = *reinterpret_cast<const float*>(wr + kKWDOffset);
          int32_t sum = 0;
          for (int i = 0; i < 128; ++i) {
            sum += sc[i] * (wr[2 * i] * xq[2 * i] + wr[2 * i + 1] * xq[2 * i + 1]);
          }
          float acc = static_cast<float>(sum) * (d * dx);
          for (int g = 0; g < 16; ++g) acc += mins[g] * bsum[g];
          v[r] += acc;
        }
      }
      StoreRow(v, y + m * y_pitch, ncols, bias, accumulate);
    }
  }
};

void GemmFloat(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmFloatDriver<FloatTiles>(a, n0, n1, m0, m1, s);
}
void GemmQ8(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmQ8Driver<Q8Tiles, 0>(a, n0, n1, m0, m1, s);
}
void GemmK(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* s) {
  GemmKDriver<KTiles>(a, n0, n1, m0, m1, s);
}

}  // namespace
}  // namespace phx::ops::cpu::scalar

namespace phx::ops::cpu {

KernelTable ScalarKernels() {
  KernelTable t;
  t.isa = IsaLevel::kScalar;
  t.gemm_float = scalar::GemmFloat;
  t.gemm_q8 = scalar::GemmQ8;
  t.gemm_k = scalar::GemmK;
  t.quantize_q8 = scalar::QuantizeActQ8Impl;
  t.quantize_k = scalar::QuantizeActKImpl;
  t.vec = scalar::GetVecKernels();
  return t;
}

KernelTable KernelsFor(IsaLevel isa) {
#if defined(PHX_CPU_X86)
  if (isa == IsaLevel::kAvx512) return Avx512Kernels();
  if (isa == IsaLevel::kAvx2) return Avx2Kernels();
#endif
  return ScalarKernels();
}

}  // namespace phx::ops::cpu
