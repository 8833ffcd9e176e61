// Float64 reference implementations of every ops::Backend operator: plain loops in double over
// dequantized inputs. They define the semantics the CPU and CUDA backends are tested against and
// serve as the building blocks of a float64 reference forward pass of a whole model.
//
// Conventions: every tensor is a packed row-major std::vector<double> (or span) plus explicit
// dims; nothing here touches a Backend. Quantized weights enter as their dequantized values
// (ToDouble or DequantizeRow), so a reference matmul over ToDouble(w) is the exact product the
// backend approximates up to activation quantization and float rounding.
//
// Example (one Llama block, host side):
//   auto h = ref::RmsNorm(x, ToDouble(attn_norm), T, D, eps);
//   auto q = ref::Matmul(h, ToDouble(wq), {}, T, QD, D);
//   ref::Rope(q, T, head_dim, positions, rope);
//   ...
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "ops/backend.h"
#include "ops/tensor.h"

namespace phx::ops::ref {

// ---- Conversions ------------------------------------------------------------------------------
// The values of a host tensor of any dtype (quantized types dequantized with DequantizeRow, i32
// converted) as packed [rows * cols] doubles; strided rows are gathered.
std::vector<double> ToDouble(const Tensor& t);
// Rounds `v` to f32 (helper for building test inputs).
std::vector<float> ToFloat(std::span<const double> v);

// ---- Activation quantization (what an integer-dot matmul sees) ---------------------------------
// llama.cpp's x86 quantize_row_q8_0: per 32 values d = amax / 127, q = rint(x * 127 / amax),
// stored scale fp16(d). Returns the dequantized values q * fp16(d). n % 32 == 0.
std::vector<double> QuantizeDequantizeQ8_0(std::span<const float> x);
// llama.cpp's quantize_row_q8_K: per 256 values iscale = -127 / (value of largest magnitude),
// q = min(127, rint(x * iscale)), d = 1 / iscale (f32). Returns q * d. n % 256 == 0.
std::vector<double> QuantizeDequantizeQ8_K(std::span<const float> x);

// ---- Operators --------------------------------------------------------------------------------
// y[M, N] = x[M, K] . w[N, K]^T + bias[N] (bias may be empty).
std::vector<double> Matmul(std::span<const double> x, std::span<const double> w,
                           std::span<const double> bias, int64_t M, int64_t N, int64_t K);

// y[M, D] = x / sqrt(mean(x^2) + eps) * w[D]; a shorter w[G] (G divides D) normalizes each
// group of G columns on its own (per-head norm).
std::vector<double> RmsNorm(std::span<const double> x, std::span<const double> w, int64_t M,
                            int64_t D, double eps);
// y[M, D] = (x - mean) / sqrt(var + eps) * w[D] + b[D] (variance over D, not D - 1).
std::vector<double> LayerNorm(std::span<const double> x, std::span<const double> w,
                              std::span<const double> b, int64_t M, int64_t D, double eps);
// residual + RmsNorm(x, w) (a post-norm added to the residual stream).
std::vector<double> PostNormAdd(std::span<const double> residual, std::span<const double> x,
                                std::span<const double> w, int64_t M, int64_t D, double eps);

// The rotation angle of pair i (0 <= i < n_rot / 2) at position `pos`, computed exactly as ggml
// does in f32 (theta = pos; theta *= powf(base, -2 / n_rot) per pair; angle =
// freq_scale * theta / factor_i). Part of the op's semantics: llama.cpp's angles differ from the
// exact ones by many ulps at large positions, and token-exact output needs the same angles.
std::vector<float> RopeAngles(int32_t pos, const RopeParams& p);
// (cos, sin) of pair i at `pos` as ggml's rope cache holds them, YaRN and attn_factor included
// (see RopeParams): angles and magnitude in f32 as ggml computes them, cos/sin in double.
std::vector<std::pair<double, double>> RopeCosSin(int32_t pos, const RopeParams& p);
// In place on x[T, H * head_dim]: rotates the first n_rot dims of each head by the angles of
// positions[t] (normal: pairs (2i, 2i+1); NeoX: (i, i + n_rot/2)). Rotation done in double.
void Rope(std::span<double> x, int64_t T, int64_t head_dim, std::span<const int32_t> positions,
          const RopeParams& p);

// A paged KV cache in double: k and v are [num_blocks, block_size, n_kv_heads, head_dim].
struct KvCache {
  int64_t num_blocks = 0, block_size = 16, n_kv_heads = 0, head_dim = 0;
  std::vector<double> k, v;
  int64_t Index(int64_t slot, int64_t head) const { return (slot * n_kv_heads + head) * head_dim; }
};
// Writes rows of k, v [T, n_kv_heads * head_dim] to slots[t].
void WriteKv(std::span<const double> k, std::span<const double> v, std::span<const int32_t> slots,
             KvCache& cache);
// out[T, n_heads * head_dim]: causal softmax(q k^T * scale) v per sequence of `batch` (see
// AttentionBatch; every key of the sequence when batch.causal is false), query head h reading KV
// head h / (n_heads / n_kv_heads). With softcap > 0 the scores are softcap * tanh(score / softcap);
// with window > 0 a query at position p attends to positions max(0, p - window + 1)..p only.
std::vector<double> Attention(std::span<const double> q, const KvCache& cache,
                              const AttentionBatch& batch, int64_t n_heads, double scale,
                              double softcap = 0, int64_t window = 0);

// out = silu(gate) * up, elementwise.
std::vector<double> SwiGlu(std::span<const double> gate, std::span<const double> up);
// out = gelu(gate) * up with GELU's tanh form, elementwise.
std::vector<double> GeGlu(std::span<const double> gate, std::span<const double> up);
// gelu(x) with GELU's tanh form, elementwise.
std::vector<double> Gelu(std::span<const double> x);
// cap * tanh(x / cap), elementwise (logit soft-capping).
std::vector<double> Softcap(std::span<const double> x, double cap);
std::vector<double> Add(std::span<const double> a, std::span<const double> b);
// out[T, D] = table[ids[t], :].
std::vector<double> Embedding(std::span<const double> table, int64_t D,
                              std::span<const int32_t> ids);
// Mixture of experts (see Backend::MoeRoute, MatmulExperts, MoeCombine).
struct Routing {
  std::vector<double> weights;  // [T, k]
  std::vector<int32_t> ids;     // [T, k]
};
// softmax of each row of logits[T, E], the k largest (ties: lower index first), renormalized
// to sum 1 (the sum clamped below at 2^-14) when `normalize`.
Routing MoeRoute(std::span<const double> logits, int64_t T, int64_t E, int64_t k, bool normalize);
// y[T * k, N]: row t * k + s = x_r . w[ids[t * k + s]]^T, w [E, N, K] packed; x_r is row t of x
// (x [T, K]) or row t * k + s (x [T * k, K]) as x's size says.
std::vector<double> MatmulExperts(std::span<const double> x, std::span<const double> w,
                                  std::span<const int32_t> ids, int64_t T, int64_t k, int64_t N,
                                  int64_t K);
// out[T, D] = residual + sum_s weights[t, s] * y[t * k + s].
std::vector<double> MoeCombine(std::span<const double> y, std::span<const double> weights,
                               std::span<const double> residual, int64_t T, int64_t k, int64_t D);
// Row-wise softmax(x / temperature) of x[M, N]; a row of all -inf gives all 0.
std::vector<double> Softmax(std::span<const double> x, int64_t M, int64_t N, double temperature);
// llama.cpp penalties on logits[M, V] row by row (see ops/logits.h): for each token with
// count c > 0: logit > 0 ? logit / repetition : logit * repetition, then
// logit -= c * frequency + presence.
void ApplyPenalties(std::span<double> logits, int64_t M, int64_t V,
                    std::span<const PenaltyRow> rows);

}  // namespace phx::ops::ref
