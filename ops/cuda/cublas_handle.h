// Owning handle of a cuBLAS context (cublasCreate / cublasDestroy), move-only.
#pragma once

#include <cublas_v2.h>

#include "absl/status/statusor.h"

namespace phx::ops::cuda {

class CublasHandle {
 public:
  CublasHandle() = default;
  ~CublasHandle();
  CublasHandle(CublasHandle&& other) noexcept;
  CublasHandle& operator=(CublasHandle&& other) noexcept;
  CublasHandle(const CublasHandle&) = delete;
  CublasHandle& operator=(const CublasHandle&) = delete;

  // A handle on the current device.
  static absl::StatusOr<CublasHandle> Create();
  cublasHandle_t get() const { return handle_; }

 private:
  explicit CublasHandle(cublasHandle_t h) : handle_(h) {}
  void Reset();

  cublasHandle_t handle_ = nullptr;
};

}  // namespace phx::ops::cuda
