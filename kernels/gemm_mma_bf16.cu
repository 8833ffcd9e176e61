// The mma.sync GEMM for bf16 inputs, bf16 or f32 output.
#include "kernels/gemm_mma.cuh"

namespace phx::kernels {
template cudaError_t RunMmaGemm<DType::kBF16, DType::kBF16>(const GemmParams&, cudaStream_t);
template cudaError_t RunMmaGemm<DType::kBF16, DType::kF32>(const GemmParams&, cudaStream_t);
}  // namespace phx::kernels
