// The wgmma GEMM (sm_90a) for bf16 inputs, bf16 or f32 output.
#include "kernels/gemm_wgmma.cuh"

namespace phx::kernels {
template cudaError_t RunWgmmaGemm<DType::kBF16, DType::kBF16>(const GemmParams&, cudaStream_t);
template cudaError_t RunWgmmaGemm<DType::kBF16, DType::kF32>(const GemmParams&, cudaStream_t);
}  // namespace phx::kernels
