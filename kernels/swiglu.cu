// SiLU(gate) * up, elementwise over [rows, dim]: a grid-stride loop, f32 arithmetic.
#include <algorithm>

#include "kernels/device_types.cuh"
#include "kernels/elementwise.h"

namespace phx::kernels {
namespace {

template <typename T>
__global__ void __launch_bounds__(256) SwiGluKernel(const SwiGluParams p) {
  const int64_t total = static_cast<int64_t>(p.rows) * p.dim;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / p.dim, c = i % p.dim;
    const float g = ToF32(static_cast<const T*>(p.gate)[r * p.gate_stride + c]);
    const float u = ToF32(static_cast<const T*>(p.up)[r * p.up_stride + c]);
    static_cast<T*>(p.out)[r * p.out_stride + c] = FromF32<T>(g / (1.f + expf(-g)) * u);
  }
}

template <typename T>
cudaError_t Run(const SwiGluParams& p, cudaStream_t stream) {
  const int64_t total = static_cast<int64_t>(p.rows) * p.dim;
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 132 * 16);
  SwiGluKernel<T><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return LaunchStatus();
}

}  // namespace

cudaError_t LaunchSwiGlu(const SwiGluParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateSwiGlu(p); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  return DispatchActType(p.dtype,
                         [&](auto t) { return Run<typename decltype(t)::type>(p, stream); });
}

}  // namespace phx::kernels
