// Argument checks of the CUDA backend's ops (host code): each returns InvalidArgumentError
// naming the op, the tensor and its shape.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "ops/tensor.h"

namespace phx::ops::cuda {

// A device tensor with data (or no elements), 1 to 4 dimensions, a stride not below its row.
absl::Status CheckDevice(std::string_view op, std::string_view name, const Tensor& t);
// A device f32 tensor whose rows()/cols() match (a negative expectation matches anything), with
// a row stride that is a whole number of elements.
absl::Status CheckDeviceF32(std::string_view op, std::string_view name, const Tensor& t,
                            int64_t rows, int64_t cols);
// A packed device i32 tensor of exactly n values.
absl::Status CheckDeviceI32(std::string_view op, std::string_view name, const Tensor& t, int64_t n);
// Row stride in elements of a plain-typed tensor.
inline int64_t ElemStride(const Tensor& t) {
  return t.stride() /
         static_cast<int64_t>(t.dtype == DType::kF32 || t.dtype == DType::kI32 ? 4 : 2);
}
// An int32 count, or InvalidArgument naming `what` when it does not fit.
absl::Status CheckInt32(std::string_view op, std::string_view what, int64_t v);

}  // namespace phx::ops::cuda
