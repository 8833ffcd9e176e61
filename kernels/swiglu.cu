// SiLU(gate) * up or GELU-tanh(gate) * up, elementwise over [rows, dim]: a grid-stride loop, f32
// arithmetic.
#include <algorithm>

#include "kernels/device_types.cuh"
#include "kernels/elementwise.h"

namespace phx::kernels {
namespace {

template <typename T, bool kGelu>
__global__ void __launch_bounds__(256) SwiGluKernel(const SwiGluParams p) {
  const int64_t total = static_cast<int64_t>(p.rows) * p.dim;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / p.dim, c = i % p.dim;
    const float g = ToF32(static_cast<const T*>(p.gate)[r * p.gate_stride + c]);
    const float u = ToF32(static_cast<const T*>(p.up)[r * p.up_stride + c]);
    float a;
    if constexpr (kGelu) {
      // gelu_tanh(g) = 0.5 g (1 + tanh(z)) = g / (1 + e^(-2z)), z = sqrt(2/pi) (g + 0.044715 g^3)
      const float z = 0.7978845608028654f * (g + 0.044715f * g * g * g);
      a = g / (1.f + expf(-2.f * z));
    } else {
      a = g / (1.f + expf(-g));
    }
    static_cast<T*>(p.out)[r * p.out_stride + c] = FromF32<T>(a * u);
  }
}

template <typename T>
cudaError_t Run(const SwiGluParams& p, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(p.rows) * p.dim;
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 132 * 16);
  if (p.gelu_tanh) {
    SwiGluKernel<T, true><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  } else {
    SwiGluKernel<T, false><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  }
  return LaunchStatus();
}

__global__ void __launch_bounds__(256) SoftcapKernel(const SoftcapParams p) {
  const int64_t total = static_cast<int64_t>(p.rows) * p.cols;
  const float inv = 1.f / p.cap;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float* y = p.y + (i / p.cols) * p.stride + i % p.cols;
    *y = p.cap * tanhf(*y * inv);
  }
}

}  // namespace

cudaError_t LaunchSoftcap(const SoftcapParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateSoftcap(p); e != cudaSuccess) return e;
  const int64_t total = static_cast<int64_t>(p.rows) * p.cols;
  if (total == 0) return cudaSuccess;
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 132 * 16);
  SoftcapKernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return LaunchStatus();
}

cudaError_t LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateSwiGlu(p); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  return DispatchActType(p.dtype,
                         [&](auto t) { return Run<typename decltype(t)::type>(p, stream); });
}

}  // namespace phx::kernels
