// Embedding gather: one CTA per token; each thread decodes QuantUnit units of the token's table
// row (16-byte loads) and stores them as 16-byte (or 2 x 16-byte f32) vectors.
#include <type_traits>

#include "kernels/device_types.cuh"
#include "kernels/elementwise.h"
#include "kernels/quant_device.cuh"

namespace phx::kernels {
namespace {

// f32 table rows: 8 values from two 16-byte loads.
struct F32Unit {
  static constexpr int kVals = 8;
  static constexpr int kSegs = 1;
  __device__ __forceinline__ static void Load(const void* w, int64_t /*rows*/, int64_t k,
                                              int64_t row, int64_t u, float (&v)[kVals],
                                              int64_t (&off)[kSegs]) {
    const float4* src =
        reinterpret_cast<const float4*>(static_cast<const float*>(w) + row * k) + 2 * u;
    const float4 a = __ldg(src), b = __ldg(src + 1);
    v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
    v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    off[0] = 8 * u;
  }
};

template <typename O>
__device__ __forceinline__ void Store8(O* dst, const float (&v)[8]) {
  if constexpr (std::is_same_v<O, float>) {
    reinterpret_cast<float4*>(dst)[0] = make_float4(v[0], v[1], v[2], v[3]);
    reinterpret_cast<float4*>(dst)[1] = make_float4(v[4], v[5], v[6], v[7]);
  } else {
    *reinterpret_cast<uint4*>(dst) = Pack8<O>(v);
  }
}

template <typename U, typename O>
__global__ void __launch_bounds__(128) EmbeddingKernel(const EmbeddingParams p) {
  const int32_t id = p.ids[blockIdx.x];
  O* out = static_cast<O*>(p.out) + static_cast<int64_t>(blockIdx.x) * p.out_stride;
  const bool valid = id >= 0 && id < p.vocab;
  for (int u = threadIdx.x; u < p.dim / U::kVals; u += blockDim.x) {
    float v[U::kVals];
    int64_t off[U::kSegs];
    if (valid) {
      U::Load(p.table, p.vocab, p.dim, id, u, v, off);
    } else {
#pragma unroll
      for (int i = 0; i < U::kVals; ++i) v[i] = 0.f;
#pragma unroll
      for (int s = 0; s < U::kSegs; ++s) off[s] = static_cast<int64_t>(u) * U::kVals + 8 * s;
    }
#pragma unroll
    for (int s = 0; s < U::kSegs; ++s) {
      float part[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) part[i] = v[8 * s + i] * p.scale;
      Store8<O>(out + off[s], part);
    }
  }
}

template <typename O>
cudaError_t Run(const EmbeddingParams& p, cudaStream_t stream) {
  switch (p.table_dtype) {
    case DType::kF32:
      EmbeddingKernel<F32Unit, O><<<p.num_tokens, 128, 0, stream>>>(p);
      break;
    case DType::kF16:
      EmbeddingKernel<QuantUnit<DType::kF16>, O><<<p.num_tokens, 128, 0, stream>>>(p);
      break;
    case DType::kBF16:
      EmbeddingKernel<QuantUnit<DType::kBF16>, O><<<p.num_tokens, 128, 0, stream>>>(p);
      break;
    case DType::kQ8_0:
      EmbeddingKernel<QuantUnit<DType::kQ8_0>, O><<<p.num_tokens, 128, 0, stream>>>(p);
      break;
    case DType::kQ5_K:
      EmbeddingKernel<QuantUnit<DType::kQ5_K>, O><<<p.num_tokens, 128, 0, stream>>>(p);
      break;
    case DType::kQ6_K:
      EmbeddingKernel<QuantUnit<DType::kQ6_K>, O><<<p.num_tokens, 128, 0, stream>>>(p);
      break;
    default:
      EmbeddingKernel<QuantUnit<DType::kQ4_K>, O><<<p.num_tokens, 128, 0, stream>>>(p);
      break;
  }
  return LaunchStatus();
}

}  // namespace

cudaError_t LaunchEmbedding(const EmbeddingParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateEmbedding(p); e != cudaSuccess) return e;
  if (p.num_tokens == 0) return cudaSuccess;
  return DispatchActType(p.out_dtype,
                         [&](auto t) { return Run<typename decltype(t)::type>(p, stream); });
}

}  // namespace phx::kernels
