// GGUF blocks of the types without a weight GEMV -> f16/bf16, once at load (kernels/gemm.h
// LaunchDequantizeBlocks). One thread per 32 elements (a 32-element block, or a 32-element
// group of a 256-element K block) decodes them with kernels/dequantize_blocks.cuh (bit-exact
// with base's DequantizeRow) and writes them, rounded once to the output type as the host's
// F32ToF16 / F32ToBF16 do, as four 16-byte vectors.
#include <algorithm>
#include <cstdint>

#include "kernels/dequantize_blocks.cuh"
#include "kernels/device_types.cuh"
#include "kernels/dispatch.h"
#include "kernels/error.h"
#include "kernels/gemm.h"

namespace phx::kernels {
namespace {

using dequant_blocks::Blocks;

template <DType kT, typename O>
__global__ void __launch_bounds__(256) DequantizeBlocksKernel(const DequantizeBlocksParams p) {
  using B = Blocks<kT>;
  const auto* src = static_cast<const uint8_t*>(p.src);
  const int64_t groups = p.n / 32;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < groups;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float y[32];
    B::Decode(src + (i / B::kGroups) * B::kBytes, static_cast<int>(i % B::kGroups), y);
    uint4* out = reinterpret_cast<uint4*>(static_cast<O*>(p.out) + i * 32);
#pragma unroll
    for (int v = 0; v < 4; ++v) {
      float part[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) part[j] = y[8 * v + j];
      out[v] = Pack8<O>(part);
    }
  }
}

template <DType kT, typename O>
cudaError_t Run(const DequantizeBlocksParams& p, cudaStream_t stream) {
  const int64_t groups = p.n / 32;
  const int64_t blocks = std::min<int64_t>((groups + 255) / 256, 65535 * 8);
  DequantizeBlocksKernel<kT, O><<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return LaunchStatus();
}

template <typename O>
cudaError_t RunType(const DequantizeBlocksParams& p, cudaStream_t stream) {
  switch (p.src_dtype) {
    case DType::kQ4_0:
      return Run<DType::kQ4_0, O>(p, stream);
    case DType::kQ4_1:
      return Run<DType::kQ4_1, O>(p, stream);
    case DType::kQ5_0:
      return Run<DType::kQ5_0, O>(p, stream);
    case DType::kQ5_1:
      return Run<DType::kQ5_1, O>(p, stream);
    case DType::kIQ4_NL:
      return Run<DType::kIQ4_NL, O>(p, stream);
    case DType::kMXFP4:
      return Run<DType::kMXFP4, O>(p, stream);
    case DType::kQ2_K:
      return Run<DType::kQ2_K, O>(p, stream);
    case DType::kQ3_K:
      return Run<DType::kQ3_K, O>(p, stream);
    case DType::kIQ4_XS:
      return Run<DType::kIQ4_XS, O>(p, stream);
    default:  // the validator accepted only the types above
      return InvalidArgument("dequantize blocks: %s", KernelTypeName(p.src_dtype));
  }
}

}  // namespace

cudaError_t LaunchDequantizeBlocks(const DequantizeBlocksParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateDequantizeBlocks(p); e != cudaSuccess) return e;
  if (p.n == 0) return cudaSuccess;
  if (p.out_dtype == DType::kBF16) return RunType<__nv_bfloat16>(p, stream);
  return RunType<__half>(p, stream);
}

}  // namespace phx::kernels
