// Portable matmul tiles (no SIMD intrinsics): the reference-like fallback for CPUs without
// AVX2, and the baseline every faster level is tested against.
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

struct Q8Tiles {
  static constexpr int kRM = 2;
  static constexpr bool kDirect = false;
  static bool HasDirect(DType) { return false; }
  static void RunDirect(int, const uint8_t*, int64_t, const uint8_t* const*, DType, int64_t, float*,
                        int64_t, int, const float*) {}
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
  static constexpr bool kDirect = false;
  static bool HasDirect(DType) { return false; }
  static void RunDirect(int, const uint8_t*, int64_t, const uint8_t* const*, DType, int64_t, float*,
                        int64_t, int, const float*) {}
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
