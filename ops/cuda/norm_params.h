// The RMSNorm launch parameters the CUDA backend's f32 norms share (RmsNorm, AddRmsNorm,
// PostNormAdd): each sets its own extra (a group, a residual stream, a post-norm add) on top.
// The caller has checked the tensors (device_checks.h).
#pragma once

#include "kernels/elementwise.h"
#include "ops/cuda/device_checks.h"
#include "ops/tensor.h"

namespace phx::ops::cuda {

// Rows of f32 x normalized by f32 w (over the whole row) into f32 y.
inline kernels::RmsNormParams F32RmsNormParams(const Tensor& x, const Tensor& w, float eps,
                                               const Tensor& y) {
  kernels::RmsNormParams p;
  p.x = x.data;
  p.x_stride = ElemStride(x);
  p.w = w.data;
  p.w_dtype = DType::kF32;
  p.y = y.data;
  p.y_stride = ElemStride(y);
  p.dtype = DType::kF32;
  p.rows = static_cast<int32_t>(x.rows());
  p.dim = static_cast<int32_t>(x.cols());
  p.eps = eps;
  return p;
}

}  // namespace phx::ops::cuda
