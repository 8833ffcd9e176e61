// Matrix products on the host for the GPU checks (plain C++): random weight matrices in GGUF's
// layouts (f16, bf16, Q8_0, Q4_K, Q5_K, Q6_K) with their exact values, the float64 product with the
// magnitude its error bound needs, mutated products (the bugs the bound must catch) and an f32
// emulation of the kernels' accumulation (the errors it must allow). Used by test_gemm.cc,
// test_gemv.cc and tests/unit/gpu_harness_test.cc.
#pragma once

#include <cstdint>
#include <vector>

#include "base/dtype.h"

namespace phx::gpu_test {

// A [rows, cols] weight matrix: `bytes` in GGUF's layout (raw 16-bit values for f16/bf16,
// consecutive blocks otherwise) and the exact value of every element.
struct HostWeights {
  DType t = DType::kF16;
  int64_t rows = 0, cols = 0;
  std::vector<uint8_t> bytes;
  std::vector<double> values;
};
// Random weights of sd ~ 1/sqrt(cols) (so products with unit activations are ~1); quantized
// types get random scales, including a block with the largest scales of the type. exact false
// (benchmarks): cheaper draws, `values` left empty.
HostWeights RandomWeights(DType t, int64_t rows, int64_t cols, bool exact = true);
// Exact (float64) dequantization of GGUF blocks (Q8_0, Q4_K, Q5_K, Q6_K; f16/bf16 raw values).
// With `wrong_scale`, every odd scale group (Q8_0 block, Q4_K/Q5_K/Q6_K sub-block) uses the scale
// of the group before it: the bug the GEMV/dequantize checks must catch.
std::vector<double> DequantizeExact(DType t, const uint8_t* bytes, int64_t rows, int64_t cols,
                                    bool wrong_scale = false);

// y[m, n] = x[m, k] . w[n, k]^T in float64, with abs_sum[i, j] = sum_l |x_il w_jl|.
struct DotRef {
  std::vector<double> y, abs_sum;
};
enum class DotBug {
  kNone,
  kDropLast8,    // the last 8 products of every row are skipped (a k-tail off by one unit)
  kDropUnit,     // products [k/2, k/2 + 8) skipped (one 16-byte unit lost mid-row)
  kShiftColumn,  // column j computed with weight row j + 1 (mod n)
};
DotRef ReferenceDot(const std::vector<double>& x, const std::vector<double>& w, int m, int n, int k,
                    DotBug bug = DotBug::kNone);
// The products accumulated in f32 in order (x and w rounded to f32 first), rounded to `out`.
std::vector<double> EmulateDot(const std::vector<double>& x, const std::vector<double>& w, int m,
                               int n, int k, DType out);

}  // namespace phx::gpu_test
