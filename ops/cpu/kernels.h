// The per-ISA kernel table of the CPU backend. Each ISA level (scalar, AVX2, AVX-512) compiles
// its kernels in separate translation units with the matching -m flags; CpuBackend picks one
// table at construction and calls through these pointers only.
//
// Matmul families and their packed formats (shared by all levels, see packed_formats.h):
//   float  F32/F16/BF16 weights, f32 activations used as they are;
//   q8     32-element blocks (Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 IQ4_NL MXFP4, and IQ4_XS as 8 such blocks
//          per super-block), activations quantized once per row to Q8 pairs (QuantizeActQ8);
//   k      Q2_K..Q6_K weights, activations quantized once per row to Q8_K (QuantizeActK).
// (decode_blocks.h reads every type's blocks for these paths.)
// A GemmFn computes y[m0:m1, n0:n1] straight from the weight bytes; it decodes small panels of
// weight rows into `scratch` (per thread, kGemmScratchBytes) so each weight block is decoded
// once per panel and reused across all activation rows of the task.
#pragma once

#include <cstdint>

#include "base/dtype.h"
#include "ops/cpu/cpu_features.h"

namespace phx::ops::cpu {

inline constexpr int64_t kGemmScratchBytes = 320 << 10;

enum class Family { kFloat, kQ8, kK, kNone };

constexpr Family MatmulFamily(DType t) {
  switch (t) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return Family::kFloat;
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kIQ4_NL:
    case DType::kIQ4_XS:
    case DType::kMXFP4:
      return Family::kQ8;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return Family::kK;
    default:
      return Family::kNone;
  }
}

struct GemmArgs {
  const uint8_t* act = nullptr;  // packed activation rows, or f32 rows for the float family
  int64_t act_pitch = 0;         // bytes between activation rows (Q8x16: between 8-row panels)
  const uint8_t* w = nullptr;    // weight row 0
  int64_t w_pitch = 0;           // bytes between weight rows
  DType wtype = DType::kF32;
  const float* bias = nullptr;  // [N] or nullptr
  float* y = nullptr;           // output row 0
  int64_t y_pitch = 0;          // floats between output rows
  int64_t M = 0, N = 0, K = 0;
  // Q8x16 and K panels: the one activation row (M == 1) comes as its compact copy, a 1-row
  // panel (PanelUnit), which every task reads as it is.
  bool act_compact = false;
};
using GemmFn = void (*)(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                        uint8_t* scratch);

// One block of paged attention for nv query vectors of one KV head (VecKernels::attend_block):
// scores against n <= kAttnMaxKeys cached keys, an f32 online-softmax update of (m, l, o), and
// o += p V. Key and value rows are read where they lie in the cache, row j at
// k_rows[j] + off (v_rows[j] + off) elements, f16 rows converted as they are loaded; vector v
// sees only keys lo[v] <= j < cnt[v] <= n (causal mask; lo: sliding window, nullptr = 0). With
// softcap > 0 the scores (q already carries the softmax scale) become softcap * tanh(s / softcap).
inline constexpr int kAttnMaxKeys = 64;
struct AttnBlock {
  const float* q = nullptr;  // [nv][hd], already multiplied by the softmax scale
  int nv = 0, hd = 0, n = 0;
  const int* cnt = nullptr;
  const int* lo = nullptr;
  float softcap = 0.f;
  const void* const* k_rows = nullptr;
  const void* const* v_rows = nullptr;
  int64_t off = 0;
  bool f16 = false;
  float* m = nullptr;  // [nv] running max (-inf before the first key)
  float* l = nullptr;  // [nv] running sum of exp(score - m)
  float* o = nullptr;  // [nv][hd] running sum of exp(score - m) * value
  float* s = nullptr;  // scratch, [nv][kAttnMaxKeys]
  // Rows to prefetch while this block computes (the next head or block): pf_n rows of both
  // tensors at pf_k[j] + pf_off (pf_v[j] + pf_off), spread over the loop so the misses overlap
  // the arithmetic instead of queuing at its start.
  const void* const* pf_k = nullptr;
  const void* const* pf_v = nullptr;
  int pf_n = 0;
  int64_t pf_off = 0;
};

// Vector helpers for the element-wise ops and attention (n >= 0, any alignment).
struct VecKernels {
  double (*sum_sq)(const float* x, int64_t n);  // sum of float(x*x) in double
  void (*scale_mul)(const float* x, float s, const float* w, float* y, int64_t n);  // (x*s)*w
  void (*silu_mul)(const float* g, const float* u, float* o, int64_t n);            // g/(1+e^-g)*u
  // gelu_tanh(g) * u, computed as g / (1 + e^(-2 z)) * u with z = sqrt(2/pi) (g + 0.044715 g^3).
  void (*gelu_mul)(const float* g, const float* u, float* o, int64_t n);
  void (*softcap)(float* x, float cap, int64_t n);  // x = cap * tanh(x * (1 / cap))
  void (*add)(const float* a, const float* b, float* o, int64_t n);
  void (*scale)(float* x, float s, int64_t n);  // x *= s
  float (*dot)(const float* a, const float* b, int64_t n);
  void (*axpy)(float a, const float* x, float* y, int64_t n);  // y += a * x
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);  // round to nearest even
  // One block of keys of paged attention: scores, online softmax, o += p V.
  void (*attend_block)(const AttnBlock& a);  // see AttnBlock
};

struct KernelTable {
  IsaLevel isa = IsaLevel::kScalar;
  GemmFn gemm_float = nullptr;
  GemmFn gemm_q8 = nullptr;
  GemmFn gemm_k = nullptr;
  // Q8_0 weights in the Q8x16 layout (a.w the copy, a.w_pitch its group bytes, n0 % 16 == 0),
  // activations in Q8x16 panels (a.act_pitch the bytes between panels, m0 % 8 == 0); nullptr
  // where the level has no such kernel.
  GemmFn gemm_q8x16 = nullptr;
  // The 4-6-bit types repacked at load (repack_formats.h): Q32x16 weights against Q8x16 panels,
  // and Kx16 weights (Q2_K..Q6_K, IQ4_XS) against K panels (quantize_kx8); nullptr where the
  // level has no such kernels. Same conventions as gemm_q8x16.
  GemmFn gemm_q32x16 = nullptr;
  GemmFn gemm_kx16 = nullptr;
  // Activation row quantizers (quantize_act.h); identical bytes on every level.
  void (*quantize_q8)(const float* x, int64_t K, uint8_t* out) = nullptr;
  void (*quantize_k)(const float* x, int64_t K, uint8_t* out) = nullptr;
  // Row `row` of a `rows`-row Q8x16 activation panel of gemm_q8x16 (the blocks of
  // quantize_q8): rows 8, or 1 for a single row's compact copy (GemmArgs::act_compact).
  void (*quantize_q8x16)(const float* x, int64_t K, uint8_t* panel, int row, int rows) = nullptr;
  // Row `row` of a `rows`-row K activation panel of gemm_kx16 (Q8_K, as quantize_k), likewise.
  void (*quantize_kx8)(const float* x, int64_t K, uint8_t* panel, int row, int rows) = nullptr;
  // BF16 weights with vdpbf16ps (AVX-512 BF16 CPUs only, else nullptr) against bf16 activation
  // rows of BF16ActRowBytes(K) bytes (quantize_bf16: round to nearest even, subnormals zero).
  GemmFn gemm_bf16 = nullptr;
  // F32/F16/BF16 weights in the 64-row group layout of PrepareMatmul (repack_formats.h; a.w the
  // copy, a.w_pitch its group bytes, n0 % 64 == 0), every M; nullptr where the level has none.
  // gemm_float_groups: against f32 rows; gemm_bf16_groups: BF16 as gemm_bf16. Each sums every
  // output in the same order as gemm_float / gemm_bf16 on that level do from the plain rows, for
  // any M and split (matmul_float_panel_avx512.cc), so results are batch-invariant.
  GemmFn gemm_float_groups = nullptr;
  GemmFn gemm_bf16_groups = nullptr;
  void (*quantize_bf16)(const float* x, int64_t K, uint8_t* out) = nullptr;
  VecKernels vec{};
};

KernelTable ScalarKernels();
KernelTable Avx2Kernels();    // only usable where BestIsa() >= kAvx2
KernelTable Avx512Kernels();  // only usable where BestIsa() >= kAvx512
// The table for `isa` (scalar on builds without x86 kernels).
KernelTable KernelsFor(IsaLevel isa);

}  // namespace phx::ops::cpu
