// One instantiation of the paged prefill kernel: head_dim 128, f16 KV cache.
#include "kernels/attention_prefill.cuh"

namespace phx::kernels {
template cudaError_t RunPagedPrefill<128, DType::kF16>(const PagedPrefillParams&, cudaStream_t);
}  // namespace phx::kernels
