#include "ops/cuda/device_buffer.h"

#include <utility>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cuda/cuda_status.h"

namespace phx::ops::cuda {

DeviceBuffer::~DeviceBuffer() { Reset(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

absl::StatusOr<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  if (bytes == 0) return DeviceBuffer();
  void* p = nullptr;
  PHX_CUDA_RETURN_IF_ERROR(cudaMalloc(&p, bytes), StrCat("cudaMalloc(", bytes, ")"));
  return DeviceBuffer(p, bytes);
}

void DeviceBuffer::Reset() {
  if (data_ != nullptr) cudaFree(data_);  // errors here are sticky and reported by the next call
  data_ = nullptr;
  size_ = 0;
}

absl::Status DeviceBuffer::CheckRange(size_t offset, size_t bytes) const {
  if (offset > size_ || bytes > size_ - offset) {
    return absl::OutOfRangeError(
        StrCat("device buffer: ", bytes, " bytes at offset ", offset, " exceed its ", size_));
  }
  return absl::OkStatus();
}

absl::Status DeviceBuffer::CopyFromHost(const void* src, size_t bytes, cudaStream_t stream,
                                        size_t offset) {
  PHX_RETURN_IF_ERROR(CheckRange(offset, bytes));
  if (bytes == 0) return absl::OkStatus();
  PHX_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(static_cast<char*>(data_) + offset, src, bytes,
                                           cudaMemcpyHostToDevice, stream),
                           "host-to-device copy");
  return absl::OkStatus();
}

absl::Status DeviceBuffer::CopyToHost(void* dst, size_t bytes, cudaStream_t stream,
                                      size_t offset) const {
  PHX_RETURN_IF_ERROR(CheckRange(offset, bytes));
  if (bytes == 0) return absl::OkStatus();
  PHX_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(dst, static_cast<const char*>(data_) + offset, bytes,
                                           cudaMemcpyDeviceToHost, stream),
                           "device-to-host copy");
  return absl::OkStatus();
}

absl::Status DeviceBuffer::Fill(int value, cudaStream_t stream) {
  if (size_ == 0) return absl::OkStatus();
  PHX_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(data_, value, size_, stream), "cudaMemsetAsync");
  return absl::OkStatus();
}

}  // namespace phx::ops::cuda
