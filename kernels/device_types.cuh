// Device-side type helpers shared by the kernels (included by .cu files only): the CUDA type of
// a 16-bit DType, conversions of packed 16-byte vectors and launch-error checks.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

template <DType D>
struct DevType;
template <>
struct DevType<DType::kF16> {
  using type = __half;
  using type2 = __half2;
};
template <>
struct DevType<DType::kBF16> {
  using type = __nv_bfloat16;
  using type2 = __nv_bfloat162;
};

__device__ __forceinline__ float ToF32(__half x) { return __half2float(x); }
__device__ __forceinline__ float ToF32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float ToF32(float x) { return x; }

template <typename T>
__device__ __forceinline__ T FromF32(float x);
template <>
__device__ __forceinline__ __half FromF32<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromF32<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ float FromF32<float>(float x) {
  return x;
}

__device__ __forceinline__ float2 ToF32x2(uint32_t packed, __half) {
  return __half22float2(*reinterpret_cast<const __half2*>(&packed));
}
__device__ __forceinline__ float2 ToF32x2(uint32_t packed, __nv_bfloat16) {
  return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&packed));
}

// Two floats rounded to T and packed into 32 bits (element a in the low half).
template <typename T>
__device__ __forceinline__ uint32_t Pack2(float a, float b);
template <>
__device__ __forceinline__ uint32_t Pack2<__half>(float a, float b) {
  __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<uint32_t*>(&h);
}
template <>
__device__ __forceinline__ uint32_t Pack2<__nv_bfloat16>(float a, float b) {
  __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
  return *reinterpret_cast<uint32_t*>(&h);
}

// The 8 values of a 16-byte vector of T as floats.
template <typename T>
__device__ __forceinline__ void Unpack8(const uint4& v, float (&out)[8]) {
  const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = ToF32x2(w[i], T{});
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

template <typename T>
__device__ __forceinline__ uint4 Pack8(const float (&in)[8]) {
  return make_uint4(Pack2<T>(in[0], in[1]), Pack2<T>(in[2], in[3]), Pack2<T>(in[4], in[5]),
                    Pack2<T>(in[6], in[7]));
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// cudaGetLastError() after a launch: configuration errors surface here; errors inside the
// kernel surface at the next synchronizing call.
inline cudaError_t LaunchStatus() { return cudaGetLastError(); }

// Calls fn(TypeTag<T>{}) with T the CUDA type of an activation dtype the validator accepted:
// float (f32), __half (f16) or __nv_bfloat16 (bf16).
template <typename T>
struct TypeTag {
  using type = T;
};
template <typename Fn>
cudaError_t DispatchActType(DType t, Fn&& fn) {
  switch (t) {
    case DType::kF32:
      return fn(TypeTag<float>{});
    case DType::kF16:
      return fn(TypeTag<__half>{});
    default:
      return fn(TypeTag<__nv_bfloat16>{});
  }
}

}  // namespace phx::kernels
