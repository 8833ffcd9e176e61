// The host half of the GPU checks (plain C++: no CUDA header, no device): the seeded random
// source, 16-bit roundings, the error bounds every kernel check uses, and the element-by-element
// verdict. phx_gpu_kernels uses it on the GPU machine; tests/unit/gpu_harness_test.cc uses the
// same code here to show that each bound is loose enough for the arithmetic the kernels do and
// tight enough that an off-by-one or a dropped piece of work fails it.
//
// Error bounds are per element: tol_i = u_out * |want_i| + (terms of the computation's f32
// error, each scaled by a magnitude the reference computes alongside the result), where u_out is
// the unit roundoff of the output type (one round-to-nearest-even of the exact value). Subnormal
// outputs add half the smallest spacing of the type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace phx::gpu_test {

// The process-wide generator (seeded by --seed; the default seed is fixed and printed).
std::mt19937_64& Rng();
inline constexpr uint64_t kDefaultSeed = 20261117;
double Uniform(double lo, double hi);
double Normal(double sd = 1.0);
// A cheap approximately normal value for bulk data (K/V caches): the sum of four 16-bit uniforms
// of one draw, centred and scaled to unit variance (tails bounded at +-3.46 sd).
double FastNormal(double sd = 1.0);

// 16-bit storage of a float (round to nearest even) and back; t is f16 or bf16.
uint16_t ToBits(float f, DType t);
float FromBits(uint16_t h, DType t);
// x rounded to t (f32, f16 or bf16) and back to double.
double RoundTo(double x, DType t);
// Random values of sd `sd` rounded to t (f16/bf16): bits out, exact values in *values.
std::vector<uint16_t> RandomHalf(size_t n, DType t, double sd, std::vector<double>* values);
// Bulk random 16-bit values (FastNormal of sd `sd`) without their exact values: benchmarks.
std::vector<uint16_t> FastRandomHalf(size_t n, DType t, double sd);
size_t ElemBytes(DType t);

// Unit roundoff of a storage type: f32 2^-24, f16 2^-11, bf16 2^-8 (half an ulp, relative).
double UnitRoundoff(DType t);
// Largest absolute rounding error of a value below the type's normal range (half the subnormal
// spacing): f16 2^-25; f32 and bf16 share f32's range, 2^-150.
double SubnormalFloor(DType t);

// The verdict of got against want under per-element bounds tol (same sizes). NaN fails.
struct Verdict {
  size_t n = 0;
  size_t bad = 0;
  size_t first = 0;     // first failing index (valid when bad > 0)
  double worst = 0.0;   // max err / tol over the elements (inf when an element is NaN)
  size_t worst_at = 0;  // index of that element
  bool ok() const { return n > 0 && bad == 0; }
};
Verdict Judge(const std::vector<double>& got, const std::vector<double>& want,
              const std::vector<double>& tol);
// "worst err/tol 0.123 at [17]" or "5/100 bad; first [3] got 1.5 want 2 (tol 1e-3)".
std::string Describe(const Verdict& v, const std::vector<double>& got,
                     const std::vector<double>& want, const std::vector<double>& tol);

// ---- Bounds -----------------------------------------------------------------------------
// One rounding of an exactly computed value (conversions, gathers, dequantization):
// u_out * |want| (+ 2 u32 |want| for an f32 intermediate) + the subnormal floor.
std::vector<double> RoundingTol(const std::vector<double>& want, DType out, bool f32_intermediate);

// A dot product of length k accumulated in f32 from exactly representable products (GEMM,
// GEMV): u_out * |want_i| + DotF32Factor(k) * sum_l |x_l w_l| (abs_sum_i) + the floor.
// DotF32Factor(k) = 2 * u32 * (k / 8 + 64): the longest chain of f32 additions of any of our
// kernels or cuBLAS (k / 8 sequential partial sums of at most 8 products - tensor cores add 16
// products per step with at most ~2 ulps each - plus a reduction tree), twice.
double DotF32Factor(int64_t k);
std::vector<double> DotTol(const std::vector<double>& want, const std::vector<double>& abs_sum,
                           int64_t k, DType out);

}  // namespace phx::gpu_test
