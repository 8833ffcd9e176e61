// Owning handle of device memory (cudaMalloc / cudaFree), move-only.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace phx::ops::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // `bytes` of device memory on the current device (bytes == 0 gives an empty buffer).
  static absl::StatusOr<DeviceBuffer> Allocate(size_t bytes);

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Asynchronous copies on `stream` (host memory should be pinned for true asynchrony); `bytes`
  // at `offset` must lie within the buffer.
  absl::Status CopyFromHost(const void* src, size_t bytes, cudaStream_t stream, size_t offset = 0);
  absl::Status CopyToHost(void* dst, size_t bytes, cudaStream_t stream, size_t offset = 0) const;
  // Sets every byte to `value` on `stream`.
  absl::Status Fill(int value, cudaStream_t stream);

  // Frees the memory now (the destructor does the same).
  void Reset();

 private:
  DeviceBuffer(void* data, size_t size) : data_(data), size_(size) {}
  absl::Status CheckRange(size_t offset, size_t bytes) const;

  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace phx::ops::cuda
