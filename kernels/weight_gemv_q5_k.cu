// Weight GEMV instantiations for q5_K weights: f16 and bf16 activations (output in the
// activation type or f32) and f32 activations (f32 output).
#include "kernels/weight_gemv.cuh"

namespace phx::kernels {
template cudaError_t RunWeightGemv<DType::kQ5_K, DType::kF16, DType::kF16>(const WeightGemvParams&,
                                                                           cudaStream_t);
template cudaError_t RunWeightGemv<DType::kQ5_K, DType::kF16, DType::kF32>(const WeightGemvParams&,
                                                                           cudaStream_t);
template cudaError_t RunWeightGemv<DType::kQ5_K, DType::kBF16, DType::kBF16>(
    const WeightGemvParams&, cudaStream_t);
template cudaError_t RunWeightGemv<DType::kQ5_K, DType::kBF16, DType::kF32>(const WeightGemvParams&,
                                                                            cudaStream_t);
template cudaError_t RunWeightGemv<DType::kQ5_K, DType::kF32, DType::kF32>(const WeightGemvParams&,
                                                                           cudaStream_t);
}  // namespace phx::kernels
