// Kernels of kernels/convert.h: grid-stride loops over rows x cols (these run at the f32/f16
// boundaries of the CUDA backend and are bandwidth-bound, so one element per thread suffices).
#include "kernels/convert.h"
#include "kernels/device_types.cuh"
#include "kernels/dispatch.h"
#include "kernels/error.h"

namespace phx::kernels {
namespace {

constexpr int kThreads = 256;

unsigned GridFor(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 * 8 ? blocks : 65535 * 8);
}

template <typename In, typename Out>
__global__ void ConvertKernel(const ConvertParams p) {
  const int64_t n = static_cast<int64_t>(p.rows) * p.cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / p.cols, c = i % p.cols;
    const In x = static_cast<const In*>(p.in)[r * p.in_stride + c];
    static_cast<Out*>(p.out)[r * p.out_stride + c] = FromF32<Out>(ToF32(x));
  }
}

template <typename In>
cudaError_t RunConvert(const ConvertParams& p, cudaStream_t stream) {
  const unsigned grid = GridFor(int64_t{p.rows} * p.cols);
  switch (p.out_dtype) {
    case DType::kF32:
      ConvertKernel<In, float><<<grid, kThreads, 0, stream>>>(p);
      break;
    case DType::kF16:
      ConvertKernel<In, __half><<<grid, kThreads, 0, stream>>>(p);
      break;
    default:
      ConvertKernel<In, __nv_bfloat16><<<grid, kThreads, 0, stream>>>(p);
      break;
  }
  return LaunchStatus();
}

__global__ void AddKernel(const AddParams p) {
  const int64_t n = static_cast<int64_t>(p.rows) * p.cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / p.cols, c = i % p.cols;
    p.out[r * p.out_stride + c] = p.a[r * p.a_stride + c] + p.b[r * p.b_stride + c];
  }
}

template <typename T>
__global__ void FillKernel(const FillParams p, T value) {
  const int64_t n = static_cast<int64_t>(p.rows) * p.cols;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / p.cols, c = i % p.cols;
    static_cast<T*>(p.out)[r * p.stride + c] = value;
  }
}

__device__ float BlockReduce(float v, bool is_max, float* shared) {
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = is_max ? fmaxf(v, other) : v + other;
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < static_cast<int>(blockDim.x / 32) ? shared[lane] : (is_max ? -INFINITY : 0.f);
    for (int o = 16; o > 0; o >>= 1) {
      const float other = __shfl_xor_sync(0xffffffffu, v, o);
      v = is_max ? fmaxf(v, other) : v + other;
    }
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  const float out = shared[0];
  __syncthreads();
  return out;
}

__global__ void __launch_bounds__(kThreads) SoftmaxKernel(const SoftmaxParams p) {
  __shared__ float shared[kThreads / 32];
  const float* x = p.x + blockIdx.x * p.x_stride;
  float* out = p.out + blockIdx.x * p.out_stride;
  float m = -INFINITY;
  for (int c = threadIdx.x; c < p.cols; c += blockDim.x) m = fmaxf(m, x[c] * p.inv_temperature);
  m = BlockReduce(m, true, shared);
  if (m == -INFINITY) {  // every element masked: no mass (not exp(-inf - -inf) = NaN)
    for (int c = threadIdx.x; c < p.cols; c += blockDim.x) out[c] = 0.f;
    return;
  }
  float s = 0.f;
  for (int c = threadIdx.x; c < p.cols; c += blockDim.x) {
    const float e = expf(x[c] * p.inv_temperature - m);
    out[c] = e;
    s += e;
  }
  s = BlockReduce(s, false, shared);
  const float inv = 1.f / s;
  for (int c = threadIdx.x; c < p.cols; c += blockDim.x) out[c] *= inv;
}

}  // namespace

cudaError_t LaunchConvert(const ConvertParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateConvert(p); e != cudaSuccess) return e;
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  switch (p.in_dtype) {
    case DType::kF32:
      return RunConvert<float>(p, stream);
    case DType::kF16:
      return RunConvert<__half>(p, stream);
    default:
      return RunConvert<__nv_bfloat16>(p, stream);
  }
}

cudaError_t LaunchAdd(const AddParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateAdd(p); e != cudaSuccess) return e;
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  AddKernel<<<GridFor(int64_t{p.rows} * p.cols), kThreads, 0, stream>>>(p);
  return LaunchStatus();
}

cudaError_t LaunchFill(const FillParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateFill(p); e != cudaSuccess) return e;
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  const unsigned grid = GridFor(int64_t{p.rows} * p.cols);
  switch (p.dtype) {
    case DType::kF32:
      FillKernel<float><<<grid, kThreads, 0, stream>>>(p, p.value);
      break;
    case DType::kI32: {
      const bool finite = p.value == p.value && p.value < 2147483648.f && p.value >= -2147483648.f;
      FillKernel<int32_t>
          <<<grid, kThreads, 0, stream>>>(p, finite ? static_cast<int32_t>(p.value) : 0);
      break;
    }
    case DType::kF16:
      FillKernel<__half><<<grid, kThreads, 0, stream>>>(p, __float2half_rn(p.value));
      break;
    default:
      FillKernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(p, __float2bfloat16_rn(p.value));
      break;
  }
  return LaunchStatus();
}

cudaError_t LaunchSoftmax(const SoftmaxParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateSoftmax(p); e != cudaSuccess) return e;
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  SoftmaxKernel<<<p.rows, kThreads, 0, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
