// cudaError_t -> absl::Status for the CUDA backend. Argument errors of the kernel launchers
// (cudaErrorInvalidValue, cudaErrorNotSupported) carry the launcher's message naming the bad
// value (kernels::LastErrorMessage()); other errors carry cudaGetErrorString.
#pragma once

#include <cuda_runtime_api.h>

#include <string_view>

#include "absl/status/status.h"

namespace phx::ops::cuda {

// OK for cudaSuccess; otherwise a status whose message starts with `what`. Codes:
// invalid value -> InvalidArgument, not supported -> Unimplemented, out of memory ->
// ResourceExhausted, anything else -> Internal. Clears the launcher message it used.
absl::Status CudaStatus(cudaError_t e, std::string_view what);

}  // namespace phx::ops::cuda

// Returns the status of a cudaError_t expression from the enclosing function when it failed.
#define PHX_CUDA_RETURN_IF_ERROR(expr, what)                                                    \
  do {                                                                                          \
    const cudaError_t phx_cuda_err_ = (expr);                                                   \
    if (phx_cuda_err_ != cudaSuccess) return ::phx::ops::cuda::CudaStatus(phx_cuda_err_, what); \
  } while (0)
