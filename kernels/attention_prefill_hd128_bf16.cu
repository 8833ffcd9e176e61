// One instantiation of the paged prefill kernel: head_dim 128, bf16 KV cache; with and without
// soft-cap/window.
#include "kernels/attention_prefill.cuh"

namespace phx::kernels {
template cudaError_t RunPagedPrefill<128, DType::kBF16, false>(const PagedPrefillParams&,
                                                               cudaStream_t);
template cudaError_t RunPagedPrefill<128, DType::kBF16, true>(const PagedPrefillParams&,
                                                              cudaStream_t);
}  // namespace phx::kernels
