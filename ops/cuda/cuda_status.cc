#include "ops/cuda/cuda_status.h"

#include <string>

#include "base/strings.h"
#include "kernels/error.h"

namespace phx::ops::cuda {

absl::Status CudaStatus(cudaError_t e, std::string_view what) {
  if (e == cudaSuccess) return absl::OkStatus();
  std::string detail;
  if (e == cudaErrorInvalidValue || e == cudaErrorNotSupported) {
    detail = kernels::LastErrorMessage();
    kernels::ClearErrorMessage();
  }
  if (detail.empty()) detail = StrCat(cudaGetErrorName(e), ": ", cudaGetErrorString(e));
  const std::string msg = StrCat(what, ": ", detail);
  switch (e) {
    case cudaErrorInvalidValue:
      return absl::InvalidArgumentError(msg);
    case cudaErrorNotSupported:
      return absl::UnimplementedError(msg);
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace phx::ops::cuda
