// Small f32 helpers of the CUDA backend (host launchers): the Backend interface keeps activations
// in f32, while the GEMM and attention kernels read f16/bf16, so the backend converts at those
// boundaries; plus the residual add (with an optional broadcast bias row), fill and row softmax.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

// out[r, c] = in[r, c] converted (round to nearest even).
struct ConvertParams {
  const void* in = nullptr;  // [rows, cols] in_dtype, rows in_stride elements apart
  int64_t in_stride = 0;
  DType in_dtype = DType::kF32;  // f32, f16 or bf16
  void* out = nullptr;           // [rows, cols] out_dtype, rows out_stride elements apart
  int64_t out_stride = 0;
  DType out_dtype = DType::kF16;  // f32, f16 or bf16
  int32_t rows = 0;
  int32_t cols = 0;
};
cudaError_t ValidateConvert(const ConvertParams& p);
cudaError_t LaunchConvert(const ConvertParams& p, cudaStream_t stream);

// out[r, c] = a[r, c] + b[r, c], all f32. b_stride == 0 broadcasts row 0 of b (a bias). out may
// alias a or b.
struct AddParams {
  const float* a = nullptr;  // [rows, cols], rows a_stride elements apart
  int64_t a_stride = 0;
  const float* b = nullptr;  // [rows, cols] or [1, cols] with b_stride 0
  int64_t b_stride = 0;
  float* out = nullptr;  // [rows, cols], rows out_stride elements apart
  int64_t out_stride = 0;
  int32_t rows = 0;
  int32_t cols = 0;
};
cudaError_t ValidateAdd(const AddParams& p);
cudaError_t LaunchAdd(const AddParams& p, cudaStream_t stream);

// Every element of out[rows, cols] (f32, i32, f16 or bf16) set to `value` (i32: truncated).
struct FillParams {
  void* out = nullptr;  // [rows, cols] dtype, rows stride elements apart
  int64_t stride = 0;
  DType dtype = DType::kF32;
  int32_t rows = 0;
  int32_t cols = 0;
  float value = 0.f;
};
cudaError_t ValidateFill(const FillParams& p);
cudaError_t LaunchFill(const FillParams& p, cudaStream_t stream);

// out[r, :] = softmax(x[r, :] * inv_temperature), f32; one CTA per row. out may alias x. A row
// whose every element is -inf (all masked) comes out all 0, never NaN (ops/logits.h).
struct SoftmaxParams {
  const float* x = nullptr;  // [rows, cols], rows x_stride elements apart
  int64_t x_stride = 0;
  float* out = nullptr;  // [rows, cols], rows out_stride elements apart
  int64_t out_stride = 0;
  int32_t rows = 0;
  int32_t cols = 0;
  float inv_temperature = 1.f;
};
cudaError_t ValidateSoftmax(const SoftmaxParams& p);
cudaError_t LaunchSoftmax(const SoftmaxParams& p, cudaStream_t stream);

}  // namespace phx::kernels
