// The wgmma GEMM (sm_90a) for f16 inputs, f16 or f32 output.
#include "kernels/gemm_wgmma.cuh"

namespace phx::kernels {
template cudaError_t RunWgmmaGemm<DType::kF16, DType::kF16>(const GemmParams&, cudaStream_t);
template cudaError_t RunWgmmaGemm<DType::kF16, DType::kF32>(const GemmParams&, cudaStream_t);
}  // namespace phx::kernels
