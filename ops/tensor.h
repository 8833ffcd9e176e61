// Non-owning tensor views and owning buffers. Row-major: the last dimension is contiguous; rows
// (all other dimensions flattened) may be strided, so a view can address a slice of a larger
// buffer (e.g. the K part of a fused QKV output).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>

#include "base/dtype.h"

namespace phx::ops {

enum class Device { kCpu, kCuda };

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  int ndim = 0;
  std::array<int64_t, 4> shape{};  // shape[ndim-1] is contiguous
  int64_t row_stride = 0;          // bytes between consecutive rows; 0 means packed
  Device device = Device::kCpu;

  // A packed view of `data` with the given shape.
  static Tensor View(void* data, DType dtype, std::initializer_list<int64_t> shape,
                     Device device = Device::kCpu);
  static Tensor View(const void* data, DType dtype, std::initializer_list<int64_t> shape,
                     Device device = Device::kCpu) {
    return View(const_cast<void*>(data), dtype, shape, device);
  }

  int64_t cols() const { return ndim == 0 ? 1 : shape[ndim - 1]; }
  int64_t rows() const;
  int64_t numel() const { return rows() * cols(); }
  // Packed bytes of one row (cols elements of dtype).
  int64_t row_bytes() const;
  // Distance between rows in bytes (row_stride, or row_bytes when packed).
  int64_t stride() const { return row_stride != 0 ? row_stride : row_bytes(); }
  bool packed() const { return row_stride == 0 || row_stride == row_bytes(); }
  int64_t nbytes() const { return rows() == 0 ? 0 : (rows() - 1) * stride() + row_bytes(); }

  uint8_t* row(int64_t i) const { return static_cast<uint8_t*>(data) + i * stride(); }
  template <typename T>
  T* row_as(int64_t i) const {
    return reinterpret_cast<T*>(row(i));
  }
  // Rows [begin, begin+count) as a 2-D view [count, cols].
  Tensor Rows(int64_t begin, int64_t count) const;
  // Columns [begin, begin+count) of every row as a strided 2-D view (plain types only).
  Tensor Cols(int64_t begin, int64_t count) const;
  // Same bytes, new shape (must be packed and have the same element count).
  Tensor Reshape(std::initializer_list<int64_t> shape) const;

  std::string ShapeString() const;  // "f32[4, 64]"
};

// Owning memory for a tensor; the deleter comes from the backend that allocated it.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Tensor t, std::function<void(void*)> deleter) : t_(t), deleter_(std::move(deleter)) {}
  ~Buffer() { Reset(); }
  Buffer(Buffer&& o) noexcept : t_(o.t_), deleter_(std::move(o.deleter_)) { o.t_.data = nullptr; }
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      Reset();
      t_ = o.t_;
      deleter_ = std::move(o.deleter_);
      o.t_.data = nullptr;
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  const Tensor& tensor() const { return t_; }
  Tensor& tensor() { return t_; }
  void* data() const { return t_.data; }
  explicit operator bool() const { return t_.data != nullptr; }

 private:
  void Reset() {
    if (t_.data != nullptr && deleter_) deleter_(t_.data);
    t_.data = nullptr;
  }
  Tensor t_;
  std::function<void(void*)> deleter_;
};

}  // namespace phx::ops
