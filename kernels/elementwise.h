// Fused row-wise and elementwise kernels of a transformer block (host launchers):
//   LaunchRmsNorm    y = rmsnorm(x [+ residual]) * w, optionally writing the sum back into the
//                    residual stream (the pre-norm "add, then normalize" of every block).
//   LaunchSwiGlu     out = silu(gate) * up.
//   LaunchEmbedding  out[t] = table[ids[t]] for f32/f16/bf16/q8_0 (planar)/q4_K/q5_K/q6_K
//                    (planar)
//                    tables.
// Arithmetic is f32; every output is rounded once to its dtype.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

// With residual != null: h = round(x + residual) is written to residual (in place) and
// normalized; else h = x. y = h / sqrt(mean(h^2) + eps) * w, rounded to dtype.
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
};
cudaError_t ValidateRmsNorm(const RmsNormParams& p);
cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream);

// out = gate * sigmoid(gate) * up. gate and up may be the two halves of one fused
// [rows, 2 * dim] projection (up = gate + dim, both strides 2 * dim).
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
};
cudaError_t ValidateSwiGlu(const SwiGluParams& p);
cudaError_t LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream);

// out[t, :] = table[ids[t], :], dequantized. An id outside [0, vocab) writes a row of zeros
// (the host checks ids before they reach the device; this only keeps the kernel in bounds).
struct EmbeddingParams {
  const void* table = nullptr;      // [vocab, dim] in the device layout of table_dtype
  DType table_dtype = DType::kF16;  // f32, f16, bf16, q8_0 (planar), q4_K, q5_K, q6_K
  int64_t vocab = 0;
  const int32_t* ids = nullptr;  // device [num_tokens]
  void* out = nullptr;           // [num_tokens, dim] out_dtype, rows out_stride apart
  int64_t out_stride = 0;
  DType out_dtype = DType::kF16;  // f32, f16 or bf16
  int32_t num_tokens = 0;
  int32_t dim = 0;  // multiple of 8 (q8_0: of 32, q4_K/q5_K/q6_K: of 256)
};
cudaError_t ValidateEmbedding(const EmbeddingParams& p);
cudaError_t LaunchEmbedding(const EmbeddingParams& p, cudaStream_t stream);

}  // namespace phx::kernels
