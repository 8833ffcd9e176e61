#include "ops/cuda/device_checks.h"

#include <limits>

#include "base/strings.h"

namespace phx::ops::cuda {
namespace {

absl::Status ShapeError(std::string_view op, std::string_view what, const Tensor& t) {
  return absl::InvalidArgumentError(StrCat(op, ": ", what, " (", t.ShapeString(), ")"));
}

}  // namespace

absl::Status CheckDevice(std::string_view op, std::string_view name, const Tensor& t) {
  if (t.device != Device::kCuda) {
    return absl::InvalidArgumentError(StrCat(op, ": ", name, " is not a CUDA device tensor"));
  }
  if (t.ndim < 1 || t.ndim > 4) {
    return absl::InvalidArgumentError(StrCat(op, ": ", name, " has ", t.ndim, " dimensions"));
  }
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) return ShapeError(op, StrCat(name, " has a negative dimension"), t);
  }
  if (t.row_stride != 0 && t.row_stride < t.row_bytes()) {
    return ShapeError(op, StrCat(name, " row stride ", t.row_stride, " is below the row size"), t);
  }
  if (t.data == nullptr && t.numel() != 0) {
    return absl::InvalidArgumentError(StrCat(op, ": ", name, " has no data"));
  }
  return absl::OkStatus();
}

absl::Status CheckDeviceF32(std::string_view op, std::string_view name, const Tensor& t,
                            int64_t rows, int64_t cols) {
  if (absl::Status s = CheckDevice(op, name, t); !s.ok()) return s;
  if (t.dtype != DType::kF32) return ShapeError(op, StrCat(name, " must be f32"), t);
  if ((rows >= 0 && t.rows() != rows) || (cols >= 0 && t.cols() != cols)) {
    return ShapeError(op, StrCat(name, " expected [", rows, ", ", cols, "]"), t);
  }
  if (t.stride() % 4 != 0) return ShapeError(op, StrCat(name, " row stride is not whole f32s"), t);
  return CheckInt32(op, name, t.rows());
}

absl::Status CheckDeviceI32(std::string_view op, std::string_view name, const Tensor& t,
                            int64_t n) {
  if (absl::Status s = CheckDevice(op, name, t); !s.ok()) return s;
  if (t.dtype != DType::kI32 || !t.packed() || t.numel() != n) {
    return ShapeError(op, StrCat(name, " must be a packed i32 tensor of ", n, " values"), t);
  }
  return absl::OkStatus();
}

absl::Status CheckInt32(std::string_view op, std::string_view what, int64_t v) {
  if (v < 0 || v > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(StrCat(op, ": ", what, " ", v, " is out of range"));
  }
  return absl::OkStatus();
}

}  // namespace phx::ops::cuda
