// Owning handle of a CUDA stream (cudaStreamCreateWithFlags / cudaStreamDestroy), move-only.
#pragma once

#include <cuda_runtime_api.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace phx::ops::cuda {

class CudaStream {
 public:
  CudaStream() = default;  // the legacy default stream, not owned
  ~CudaStream();
  CudaStream(CudaStream&& other) noexcept;
  CudaStream& operator=(CudaStream&& other) noexcept;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;

  // A new non-blocking stream on the current device.
  static absl::StatusOr<CudaStream> Create();

  cudaStream_t get() const { return stream_; }
  // Waits for all work queued on the stream; returns the first error it raised.
  absl::Status Synchronize() const;

 private:
  explicit CudaStream(cudaStream_t s) : stream_(s) {}
  void Reset();

  cudaStream_t stream_ = nullptr;
};

}  // namespace phx::ops::cuda
