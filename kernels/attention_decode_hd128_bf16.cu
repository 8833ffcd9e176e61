// One instantiation of the paged decode kernel: head_dim 128, bf16 KV cache.
#include "kernels/attention_decode.cuh"

namespace phx::kernels {
template cudaError_t RunPagedDecode<128, DType::kBF16>(const PagedDecodeParams&, cudaStream_t);
}  // namespace phx::kernels
