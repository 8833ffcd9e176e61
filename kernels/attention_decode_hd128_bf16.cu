// One instantiation of the paged decode kernel: head_dim 128, bf16 KV cache; q/out in
// the cache type or f32; with and without soft-cap/window.
#include "kernels/attention_decode.cuh"

namespace phx::kernels {
template cudaError_t RunPagedDecode<128, DType::kBF16, false, false>(const PagedDecodeParams&,
                                                                     cudaStream_t);
template cudaError_t RunPagedDecode<128, DType::kBF16, false, true>(const PagedDecodeParams&,
                                                                    cudaStream_t);
template cudaError_t RunPagedDecode<128, DType::kBF16, true, false>(const PagedDecodeParams&,
                                                                    cudaStream_t);
template cudaError_t RunPagedDecode<128, DType::kBF16, true, true>(const PagedDecodeParams&,
                                                                   cudaStream_t);
}  // namespace phx::kernels
