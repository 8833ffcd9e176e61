// The CUDA backend's calls into kernels/: each wrapper runs a launcher and turns its
// cudaError_t (with the launcher's message naming a bad value) into an absl::Status.
//
//   PHX_RETURN_IF_ERROR(cuda::Launch(kernels::LaunchRmsNorm, params, stream, "attn_norm"));
#pragma once

#include <cuda_runtime_api.h>

#include <string_view>

#include "absl/status/status.h"
#include "kernels/error.h"
#include "ops/cuda/cuda_status.h"

namespace phx::ops::cuda {

// Calls launcher(params, stream); `what` prefixes the error message.
template <typename Params>
absl::Status Launch(cudaError_t (*launcher)(const Params&, cudaStream_t), const Params& params,
                    cudaStream_t stream, std::string_view what) {
  kernels::ClearErrorMessage();
  return CudaStatus(launcher(params, stream), what);
}

}  // namespace phx::ops::cuda
