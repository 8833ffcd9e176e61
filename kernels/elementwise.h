// Fused row-wise and elementwise kernels of a transformer block (host launchers):
//   LaunchRmsNorm    y = rmsnorm(x [+ residual]) * w, optionally writing the sum back into the
//                    residual stream (the pre-norm "add, then normalize" of every block); per
//                    group of columns (q/k norm of each head) and with a post-norm residual add.
//   LaunchSwiGlu     out = silu(gate) * up, or gelu_tanh(gate) * up (GeGLU).
//   LaunchEmbedding  out[t] = table[ids[t]] * scale for f32/f16/bf16/q8_0 (planar)/q4_K/q5_K/q6_K
//                    (planar) tables.
//   LaunchSoftcap    y = cap * tanh(y / cap) in place (final logit soft-capping).
// Arithmetic is f32; every output is rounded once to its dtype.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

// With residual != null: h = round(x + residual) is written to residual (in place) and
// normalized; else h = x. y = h / sqrt(mean(h^2) + eps) * w, rounded to dtype. With group > 0
// (a divisor of dim) each run of `group` columns is normalized on its own with the same w[group]
// (per-head q/k RMSNorm). With post_add != null: y = post_add + (the normalized row) * w (a
// post-norm and its residual add in one pass; y may alias post_add or x; no residual then).
struct RmsNormParams {
  const void* x = nullptr;  // [rows, dim] dtype, rows x_stride elements apart
  int64_t x_stride = 0;
  void* residual = nullptr;  // [rows, dim] dtype, in/out, residual_stride apart; may be null
  int64_t residual_stride = 0;
  const void* w = nullptr;      // [dim] w_dtype
  DType w_dtype = DType::kF32;  // f32, or the same type as dtype
  void* y = nullptr;            // [rows, dim] dtype, rows y_stride apart (may alias x)
  int64_t y_stride = 0;
  DType dtype = DType::kF16;  // x, residual and y: f32, f16 or bf16
  int32_t rows = 0;
  int32_t dim = 0;
  float eps = 1e-5f;
  int32_t group = 0;               // 0: the whole row; else columns per normalized group
  const void* post_add = nullptr;  // [rows, dim] dtype, post_add_stride apart; may be null
  int64_t post_add_stride = 0;
};
cudaError_t ValidateRmsNorm(const RmsNormParams& p);
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);

// out = gate * sigmoid(gate) * up, or with gelu_tanh
// 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))) * up (GeGLU). gate and up may be the two halves
// of one fused [rows, 2 * dim] projection (up = gate + dim, both strides 2 * dim).
struct SwiGluParams {
  const void* gate = nullptr;  // [rows, dim] dtype, rows gate_stride elements apart
  int64_t gate_stride = 0;
  const void* up = nullptr;  // [rows, dim] dtype, rows up_stride elements apart
  int64_t up_stride = 0;
  void* out = nullptr;  // [rows, dim] dtype, rows out_stride apart (may alias gate/up)
  int64_t out_stride = 0;
  DType dtype = DType::kF16;  // f32, f16 or bf16
  int32_t rows = 0;
  int32_t dim = 0;
  bool gelu_tanh = false;  // GeGLU instead of SwiGLU
};
cudaError_t ValidateSwiGlu(const SwiGluParams& p);
cudaError_t LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream);

// out[t, :] = table[ids[t], :] * scale, dequantized (scale 1: a plain gather). An id outside [0,
// vocab) writes a row of zeros (the host checks ids before they reach the device; this only keeps
// the kernel in bounds).
struct EmbeddingParams {
  const void* table = nullptr;      // [vocab, dim] in the device layout of table_dtype
  DType table_dtype = DType::kF16;  // f32, f16, bf16, q8_0 (planar), q4_K, q5_K, q6_K
  int64_t vocab = 0;
  const int32_t* ids = nullptr;  // device [num_tokens]
  void* out = nullptr;           // [num_tokens, dim] out_dtype, rows out_stride apart
  int64_t out_stride = 0;
  DType out_dtype = DType::kF16;  // f32, f16 or bf16
  int32_t num_tokens = 0;
  int32_t dim = 0;    // multiple of 8 (q8_0: of 32, q4_K/q5_K/q6_K: of 256)
  float scale = 1.f;  // finite (Gemma: sqrt(n_embd))
};
cudaError_t ValidateEmbedding(const EmbeddingParams& p);
cudaError_t LaunchEmbedding(const EmbeddingParams& p, cudaStream_t stream);

// y = cap * tanh(y / cap) over [rows, cols] f32, in place (Gemma's final logits).
struct SoftcapParams {
  float* y = nullptr;  // [rows, cols], rows stride elements apart
  int64_t stride = 0;
  int32_t rows = 0;
  int32_t cols = 0;
  float cap = 0.f;  // positive and finite
};
cudaError_t ValidateSoftcap(const SoftcapParams& p);
cudaError_t LaunchSoftcap(const SoftcapParams& p, cudaStream_t stream);

}  // namespace phx::kernels
