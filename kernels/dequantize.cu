// Dequantize instantiations: q8_0 (planar), q4_K, q5_K and q6_K (planar) weights to f16 or bf16
// rows (the large-M path: dequantize into a workspace, then a tensor-core GEMM).
#include "kernels/weight_gemv.cuh"

namespace phx::kernels {
template cudaError_t RunDequantize<DType::kQ8_0, DType::kF16>(const DequantizeParams&,
                                                              cudaStream_t);
template cudaError_t RunDequantize<DType::kQ8_0, DType::kBF16>(const DequantizeParams&,
                                                               cudaStream_t);
template cudaError_t RunDequantize<DType::kQ4_K, DType::kF16>(const DequantizeParams&,
                                                              cudaStream_t);
template cudaError_t RunDequantize<DType::kQ4_K, DType::kBF16>(const DequantizeParams&,
                                                               cudaStream_t);
template cudaError_t RunDequantize<DType::kQ5_K, DType::kF16>(const DequantizeParams&,
                                                              cudaStream_t);
template cudaError_t RunDequantize<DType::kQ5_K, DType::kBF16>(const DequantizeParams&,
                                                               cudaStream_t);
template cudaError_t RunDequantize<DType::kQ6_K, DType::kF16>(const DequantizeParams&,
                                                              cudaStream_t);
template cudaError_t RunDequantize<DType::kQ6_K, DType::kBF16>(const DequantizeParams&,
                                                               cudaStream_t);
}  // namespace phx::kernels
