#include "ops/cuda/cublas_handle.h"

#include <utility>

#include "base/strings.h"

namespace phx::ops::cuda {

CublasHandle::~CublasHandle() { Reset(); }

CublasHandle::CublasHandle(CublasHandle&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)) {}

CublasHandle& CublasHandle::operator=(CublasHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    handle_ = std::exchange(other.handle_, nullptr);
  }
  return *this;
}

absl::StatusOr<CublasHandle> CublasHandle::Create() {
  cublasHandle_t h = nullptr;
  const cublasStatus_t s = cublasCreate(&h);
  if (s != CUBLAS_STATUS_SUCCESS) {
    return absl::InternalError(StrCat("cublasCreate: ", cublasGetStatusString(s)));
  }
  return CublasHandle(h);
}

void CublasHandle::Reset() {
  if (handle_ != nullptr) cublasDestroy(handle_);
  handle_ = nullptr;
}

}  // namespace phx::ops::cuda
