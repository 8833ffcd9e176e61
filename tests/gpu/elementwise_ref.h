// Row-wise ops on the host for the GPU checks (plain C++): float64 references of RMSNorm (with
// the fused residual add), SwiGLU and RoPE, their error bounds, the bugs each bound must catch
// and f32 emulations of the kernels' arithmetic. Used by test_fused.cc and
// tests/unit/gpu_harness_test.cc.
#pragma once

#include <cstdint>
#include <vector>

#include "base/dtype.h"

namespace phx::gpu_test {

// Relative f32 error allowed on top of the output rounding: RMSNorm sums squares in f32 over
// chains of at most dim / 256 + 8 additions, then sqrt, a division and two products (~20 u32);
// SwiGLU's expf, add, division and product (~6 u32). Both get 64 u32.
inline constexpr double kRowOpF32Ulps = 64;

// ---- RMSNorm: h = round(x + r) (or x), y = h / sqrt(mean(h^2) + eps) * w -----------------
struct RmsRef {
  std::vector<double> y, h;
};
enum class RmsBug { kNone, kDropLastInSum, kNoResidual };
RmsRef ReferenceRmsNorm(const std::vector<double>& x, const std::vector<double>* residual,
                        const std::vector<double>& w, int rows, int dim, DType t, double eps,
                        RmsBug bug = RmsBug::kNone);
// The kernel's f32 arithmetic (256 strided partial sums, then their sum), rounded to t.
std::vector<double> EmulateRmsNorm(const std::vector<double>& x,
                                   const std::vector<double>* residual,
                                   const std::vector<double>& w, int rows, int dim, DType t,
                                   double eps);
std::vector<double> RowOpTol(const std::vector<double>& want, DType t);

// ---- SwiGLU: out = g / (1 + e^-g) * u ---------------------------------------------------
enum class SwiGluBug { kNone, kUpShifted };  // kUpShifted: u read one column to the right
std::vector<double> ReferenceSwiGlu(const std::vector<double>& g, const std::vector<double>& u,
                                    int rows, int dim, SwiGluBug bug = SwiGluBug::kNone);
std::vector<double> EmulateSwiGlu(const std::vector<double>& g, const std::vector<double>& u,
                                  DType t);

// ---- RoPE (ggml's angles: theta_i = pos * theta_scale^i iterated in f32, then
// freq_scale * theta / factor_i in f32) ------------------------------------------------------
struct RopeSpec {
  bool neox = false;
  int n_rot = 0, head_dim = 0;
  float theta_scale = 1.f, freq_scale = 1.f;
  const std::vector<float>* freq_factors = nullptr;  // [n_rot / 2] or null
};
enum class RopeBug { kNone, kPositionPlusOne, kNoFreqFactors, kPairsSwapped };
// x: [tokens, heads * head_dim] rotated in place (float64) at positions pos[t].
void ReferenceRope(std::vector<double>& x, int tokens, int heads, const std::vector<int32_t>& pos,
                   const RopeSpec& s, RopeBug bug = RopeBug::kNone);
// The same rotation in f32 (f32 sin/cos, f32 products), for the positive control.
void EmulateRope(std::vector<double>& x, int tokens, int heads, const std::vector<int32_t>& pos,
                 const RopeSpec& s);
// u_out |want| + 16 u32 (|x0| + |x1|) of the element's pair (input values, pre-rotation).
std::vector<double> RopeTol(const std::vector<double>& want, const std::vector<double>& input,
                            int tokens, int heads, const RopeSpec& s, DType out);

}  // namespace phx::gpu_test
