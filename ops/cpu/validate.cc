#include "ops/cpu/validate.h"

#include "base/strings.h"

namespace phx::ops::cpu {

absl::Status ShapeError(std::string_view op, std::string_view what, const Tensor& a,
                        const Tensor* b) {
  return absl::InvalidArgumentError(StrCat(op, ": ", what, " (", a.ShapeString(),
                                           b ? StrCat(" vs ", b->ShapeString()) : "", ")"));
}

absl::Status CheckHost(std::string_view op, std::string_view name, const Tensor& t) {
  if (t.device != Device::kCpu) {
    return absl::InvalidArgumentError(StrCat(op, ": ", name, " is not a host tensor"));
  }
  if (t.ndim < 1 || t.ndim > 4) {
    return absl::InvalidArgumentError(StrCat(op, ": ", name, " has ", t.ndim, " dimensions"));
  }
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] < 0) return ShapeError(op, StrCat(name, " has a negative dimension"), t);
  }
  if (t.row_bytes() == 0 && t.cols() != 0) {
    return ShapeError(op, StrCat(name, " row is not a whole number of blocks"), t);
  }
  if (t.row_stride != 0 && t.row_stride < t.row_bytes()) {
    return ShapeError(op, StrCat(name, " row stride ", t.row_stride, " is below the row size"), t);
  }
  if (t.data == nullptr && t.numel() != 0) {
    return absl::InvalidArgumentError(StrCat(op, ": ", name, " has no data"));
  }
  return absl::OkStatus();
}

absl::Status CheckF32(std::string_view op, std::string_view name, const Tensor& t, int64_t rows,
                      int64_t cols) {
  absl::Status s = CheckHost(op, name, t);
  if (!s.ok()) return s;
  if (t.dtype != DType::kF32) return ShapeError(op, StrCat(name, " must be f32"), t);
  if ((rows >= 0 && t.rows() != rows) || (cols >= 0 && t.cols() != cols)) {
    return ShapeError(op,
                      StrCat(name, " must be [", rows < 0 ? std::string("*") : StrCat(rows), ", ",
                             cols < 0 ? std::string("*") : StrCat(cols), "]"),
                      t);
  }
  return absl::OkStatus();
}

absl::Status CheckI32(std::string_view op, std::string_view name, const Tensor& t, int64_t n) {
  absl::Status s = CheckHost(op, name, t);
  if (!s.ok()) return s;
  if (t.dtype != DType::kI32 || t.numel() != n || !t.packed()) {
    return ShapeError(op, StrCat(name, " must be packed i32 with ", n, " values"), t);
  }
  return absl::OkStatus();
}

}  // namespace phx::ops::cpu
