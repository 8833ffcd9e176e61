// One instantiation of the paged decode kernel: head_dim 128, f16 KV cache.
#include "kernels/attention_decode.cuh"

namespace phx::kernels {
template cudaError_t RunPagedDecode<128, DType::kF16>(const PagedDecodeParams&, cudaStream_t);
}  // namespace phx::kernels
