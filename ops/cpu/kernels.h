// The per-ISA kernel table of the CPU backend. Each ISA level (scalar, AVX2, AVX-512) compiles
// its kernels in separate translation units with the matching -m flags; CpuBackend picks one
// table at construction and calls through these pointers only.
//
// Matmul families and their packed formats (shared by all levels, see packed_formats.h):
//   float  F32/F16/BF16 weights, f32 activations used as they are;
//   q8     Q8_0/Q4_0 weights, activations quantized once per row to Q8 pairs (QuantizeActQ8);
//   k      Q4_K/Q6_K weights, activations quantized once per row to Q8_K (QuantizeActK).
// A GemmFn computes y[m0:m1, n0:n1] straight from the weight bytes; it decodes small panels of
// weight rows into `scratch` (per thread, kGemmScratchBytes) so each weight block is decoded
// once per panel and reused across all activation rows of the task.
#pragma once

#include <cstdint>

#include "base/dtype.h"
#include "ops/cpu/cpu_features.h"

namespace phx::ops::cpu {

inline constexpr int64_t kGemmScratchBytes = 320 << 10;

struct GemmArgs {
  const uint8_t* act = nullptr;  // packed activation rows, or f32 rows for the float family
  int64_t act_pitch = 0;         // bytes between activation rows
  const uint8_t* w = nullptr;    // weight row 0
  int64_t w_pitch = 0;           // bytes between weight rows
  DType wtype = DType::kF32;
  const float* bias = nullptr;  // [N] or nullptr
  float* y = nullptr;           // output row 0
  int64_t y_pitch = 0;          // floats between output rows
  int64_t M = 0, N = 0, K = 0;
};
using GemmFn = void (*)(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                        uint8_t* scratch);

// Vector helpers for the element-wise ops and attention (n >= 0, any alignment).
struct VecKernels {
  double (*sum_sq)(const float* x, int64_t n);  // sum of float(x*x) in double
  void (*scale_mul)(const float* x, float s, const float* w, float* y, int64_t n);  // (x*s)*w
  void (*silu_mul)(const float* g, const float* u, float* o, int64_t n);            // g/(1+e^-g)*u
  void (*add)(const float* a, const float* b, float* o, int64_t n);
  float (*max)(const float* x, int64_t n);         // -inf for n == 0
  float (*exp_sum)(float* x, float m, int64_t n);  // x = exp(x - m) in place; returns the sum
  void (*scale)(float* x, float s, int64_t n);     // x *= s
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);  // y += a * x
  void (*f16_to_f32)(const uint16_t* x, float* y, int64_t n);
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);  // round to nearest even
  // Attention blocks: s[v][j] = scale * q_v . k_j, and o_v += sum_{j < cnt[v]} p[v][j] v_j
  // (q, k, v rows of hd floats; s and p rows of pitch s_pitch / p_pitch).
  void (*qk_block)(const float* q, int nv, const float* k, int n, int hd, float scale, float* s,
                   int s_pitch);
  void (*pv_block)(const float* p, int p_pitch, const int* cnt, int nv, const float* vb, int hd,
                   float* o);
};

struct KernelTable {
  IsaLevel isa = IsaLevel::kScalar;
  GemmFn gemm_float = nullptr;
  GemmFn gemm_q8 = nullptr;
  GemmFn gemm_k = nullptr;
  // Activation row quantizers (quantize_act.h); identical bytes on every level.
  void (*quantize_q8)(const float* x, int64_t K, uint8_t* out) = nullptr;
  void (*quantize_k)(const float* x, int64_t K, uint8_t* out) = nullptr;
  VecKernels vec{};
};

KernelTable ScalarKernels();
KernelTable Avx2Kernels();    // only usable where BestIsa() >= kAvx2
KernelTable Avx512Kernels();  // only usable where BestIsa() >= kAvx512
// The table for `isa` (scalar on builds without x86 kernels).
KernelTable KernelsFor(IsaLevel isa);

}  // namespace phx::ops::cpu
