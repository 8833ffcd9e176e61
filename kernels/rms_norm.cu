// RMSNorm with the residual add fused in: one CTA per row. Pass 1 forms h = round(x + residual)
// (written back to the residual stream) and sums h^2 in f32; a block reduction gives
// 1 / sqrt(mean + eps); pass 2 re-reads h (the CTA's own writes, cache-hot) and writes y (plus
// post_add). Per-group norms (q/k norm) run one CTA per (row, group): blockIdx.y is the group.
// Every element is read and written by the same thread, so y may alias x or post_add.
#include <type_traits>

#include "kernels/device_types.cuh"
#include "kernels/dispatch.h"
#include "kernels/elementwise.h"

namespace phx::kernels {
namespace {

constexpr int kNormThreads = 256;

template <typename T, typename W>
__global__ void __launch_bounds__(kNormThreads) RmsNormKernel(const RmsNormParams p) {
  __shared__ float s_part[kNormThreads / 32];
  __shared__ float s_inv;
  const int64_t row = blockIdx.x;
  const int dim = p.group > 0 ? p.group : p.dim;
  const int64_t col0 = static_cast<int64_t>(blockIdx.y) * dim;
  const T* x = static_cast<const T*>(p.x) + row * p.x_stride + col0;
  T* res = p.residual != nullptr ? static_cast<T*>(p.residual) + row * p.residual_stride + col0
                                 : nullptr;
  const W* w = static_cast<const W*>(p.w);
  T* y = static_cast<T*>(p.y) + row * p.y_stride + col0;
  const T* add = p.post_add != nullptr
                     ? static_cast<const T*>(p.post_add) + row * p.post_add_stride + col0
                     : nullptr;

  float ss = 0.f;
  for (int i = threadIdx.x; i < dim; i += kNormThreads) {
    float h = ToF32(x[i]);
    if (res != nullptr) {
      const T sum = FromF32<T>(h + ToF32(res[i]));
      res[i] = sum;
      h = ToF32(sum);
    }
    ss = fmaf(h, h, ss);
  }
  ss = WarpSum(ss);
  if ((threadIdx.x & 31) == 0) s_part[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < kNormThreads / 32 ? s_part[threadIdx.x] : 0.f;
    v = WarpSum(v);
    if (threadIdx.x == 0) s_inv = 1.f / sqrtf(v / static_cast<float>(dim) + p.eps);
  }
  __syncthreads();
  const float inv = s_inv;
  const T* h = res != nullptr ? res : x;
  if (add != nullptr) {
    for (int i = threadIdx.x; i < dim; i += kNormThreads) {
      y[i] = FromF32<T>(ToF32(add[i]) + ToF32(h[i]) * inv * ToF32(w[i]));
    }
  } else {
    for (int i = threadIdx.x; i < dim; i += kNormThreads) {
      y[i] = FromF32<T>(ToF32(h[i]) * inv * ToF32(w[i]));
    }
  }
}

template <typename T>
cudaError_t Run(const RmsNormParams& p, cudaStream_t stream) {
  const dim3 grid(p.rows, p.group > 0 ? p.dim / p.group : 1);
  if (p.w_dtype == DType::kF32) {
    RmsNormKernel<T, float><<<grid, kNormThreads, 0, stream>>>(p);
  } else {
    RmsNormKernel<T, T><<<grid, kNormThreads, 0, stream>>>(p);
  }
  return LaunchStatus();
}

}  // namespace

cudaError_t LaunchRmsNorm(const RmsNormParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateRmsNorm(p); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  return DispatchActType(p.dtype,
                         [&](auto t) { return Run<typename decltype(t)::type>(p, stream); });
}

}  // namespace phx::kernels
