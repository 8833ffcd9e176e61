// The mma.sync GEMM for f16 inputs, f16 or f32 output.
#include "kernels/gemm_mma.cuh"

namespace phx::kernels {
template cudaError_t RunMmaGemm<DType::kF16, DType::kF16>(const GemmParams&, cudaStream_t);
template cudaError_t RunMmaGemm<DType::kF16, DType::kF32>(const GemmParams&, cudaStream_t);
}  // namespace phx::kernels
