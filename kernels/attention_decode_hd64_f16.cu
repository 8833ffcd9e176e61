// One instantiation of the paged decode kernel: head_dim 64, f16 KV cache; q/out in
// the cache type or f32.
#include "kernels/attention_decode.cuh"

namespace phx::kernels {
template cudaError_t RunPagedDecode<64, DType::kF16, false>(const PagedDecodeParams&, cudaStream_t);
template cudaError_t RunPagedDecode<64, DType::kF16, true>(const PagedDecodeParams&, cudaStream_t);
}  // namespace phx::kernels
