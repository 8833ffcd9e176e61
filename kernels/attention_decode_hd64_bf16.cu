// One instantiation of the paged decode kernel: head_dim 64, bf16 KV cache.
#include "kernels/attention_decode.cuh"

namespace phx::kernels {
template cudaError_t RunPagedDecode<64, DType::kBF16>(const PagedDecodeParams&, cudaStream_t);
}  // namespace phx::kernels
