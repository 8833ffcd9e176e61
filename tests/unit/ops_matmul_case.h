// The matmul case runner shared by ops_test.cc (quantized types) and ops_float_test.cc.
//
// Tolerances (per output element y[m, n], S = sum_k |x_k w_k| + |bias_n|, u = 2^-24):
//  * F32/F16/BF16 weights: the reference uses the exact (dequantized) weights and the f32
//    activations (BF16 on AVX-512 BF16 CPUs: the bf16-rounded activations), so the only error
//    is f32 accumulation, and the bound is the depth of the longest chain of roundings that
//    reaches an output, times u * S. The portable tiles (scalar, AVX2) keep 4 partial sums of
//    K/4 terms, then re-add a K chunk of 512 into y: depth K/4 + 16. Every AVX-512 path (one
//    order for every M, matmul_float_panel_avx512.cc) is one sequential FMA chain per output
//    over each K block of 512 (vdpbf16ps for BF16: two roundings per pair, the same count),
//    and the blocks re-added into y in order: depth min(K, 512) + K/512 + 1. The bound is the
//    larger of the two (+ 16 slack), max(K/4 + 16, min(K, 512) + K/512 + 17): the single-chain
//    order is what makes every row independent of its batch (one accumulator lane per output,
//    no split of K across lanes), so the pre-invariance bound K/4 + 16 cannot hold on AVX-512
//    for K < 2048 without 4 accumulators per output (4x the registers of the 6-row tile).
//  * Q8_0/Q4_0/Q4_K/Q6_K weights: activations are quantized first (Q8_0 per 32 for Q8_0/Q4_0,
//    Q8_K per 256 for the K-quants, exactly as llama.cpp). (1) Against the reference over the
//    dequantized weights and the *quantized* activations (ref::QuantizeDequantize*), integer
//    block dots are exact and only the per-block float scaling and accumulation remain:
//    |err| <= (K/16 + 16) * 4u * S_q. (2) Against the exact-activation reference the error adds
//    sum_k |w_k| |x_k - xq_k| (computed exactly), the activation quantization bound.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "base/dtype.h"

namespace phx::ops::testing {

inline constexpr double kU = 1.0 / (1 << 24);

struct Case {
  int64_t M, N, K;
  bool bias = false;
  bool strided = false;  // x and y are column slices of wider buffers
};

// Random weight rows of `t`: floats through QuantizeRow for the float types and Q8_0 (whose
// -128 a quantizer never writes); every other type as random blocks, which cover every quant,
// scale and min pattern, with small f16 scales (signed where the type allows), mins of either
// sign and MXFP4 exponents around 2^-6. `quantized_floats`: every type through QuantizeRow
// (the weights `phalanx model synth` writes: a quantizer's scales, mins and codes).
std::vector<uint8_t> RandomWeights(std::mt19937_64& rng, DType t, int64_t N, int64_t K,
                                   bool quantized_floats = false);

// Runs case c of type t on every backend configuration (ForEachBackend), y poisoned, against
// the float64 reference with the tolerances above. prepare: the weight also goes through
// PrepareMatmul (the copy in the AVX-512 VNNI kernels' layout for every quantized type on that
// level; float weights: the 64-row groups on AVX-512, a plain huge-page copy elsewhere).
void RunCase(DType t, const Case& c, std::mt19937_64& rng, bool prepare = false,
             bool quantized_floats = false);

}  // namespace phx::ops::testing
