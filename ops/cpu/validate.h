// Cheap argument checks shared by the CPU backend's ops. Each returns InvalidArgumentError
// naming the op, the tensor and its shape.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "ops/tensor.h"

namespace phx::ops::cpu {

// `t` is a host tensor with data (or no elements) and, when `dtype_check`, of type `dtype`.
absl::Status CheckHost(std::string_view op, std::string_view name, const Tensor& t);
// A host f32 tensor whose rows()/cols() match (a negative expectation matches anything).
absl::Status CheckF32(std::string_view op, std::string_view name, const Tensor& t, int64_t rows,
                      int64_t cols);
// A host i32 tensor holding exactly n packed values (any shape).
absl::Status CheckI32(std::string_view op, std::string_view name, const Tensor& t, int64_t n);
absl::Status ShapeError(std::string_view op, std::string_view what, const Tensor& a,
                        const Tensor* b = nullptr);

}  // namespace phx::ops::cpu
