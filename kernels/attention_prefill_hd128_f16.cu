// One instantiation of the paged prefill kernel: head_dim 128, f16 KV cache; with and without
// soft-cap/window.
#include "kernels/attention_prefill.cuh"

namespace phx::kernels {
template cudaError_t RunPagedPrefill<128, DType::kF16, false>(const PagedPrefillParams&,
                                                              cudaStream_t);
template cudaError_t RunPagedPrefill<128, DType::kF16, true>(const PagedPrefillParams&,
                                                             cudaStream_t);
}  // namespace phx::kernels
