// Argument checks of kernels/convert.h (host code, unit-tested without a GPU).
#include "kernels/convert.h"
#include "kernels/dispatch.h"
#include "kernels/error.h"

namespace phx::kernels {
namespace {

bool IsActType(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

}  // namespace

cudaError_t ValidateConvert(const ConvertParams& p) {
  if (!IsActType(p.in_dtype) || !IsActType(p.out_dtype)) {
    return InvalidArgument("convert: %s -> %s is not supported (supported: f32, f16, bf16)",
                           KernelTypeName(p.in_dtype), KernelTypeName(p.out_dtype));
  }
  if (p.rows < 0 || p.cols < 0) return InvalidArgument("convert: rows %d, cols %d", p.rows, p.cols);
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  if (p.in == nullptr || p.out == nullptr) return InvalidArgument("convert: null pointer argument");
  if (p.in_stride < p.cols || p.out_stride < p.cols) {
    return InvalidArgument("convert: strides in %lld, out %lld below cols %d",
                           static_cast<long long>(p.in_stride),
                           static_cast<long long>(p.out_stride), p.cols);
  }
  return cudaSuccess;
}

cudaError_t ValidateAdd(const AddParams& p) {
  if (p.rows < 0 || p.cols < 0) return InvalidArgument("add: rows %d, cols %d", p.rows, p.cols);
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  if (p.a == nullptr || p.b == nullptr || p.out == nullptr) {
    return InvalidArgument("add: null pointer argument");
  }
  if (p.a_stride < p.cols || p.out_stride < p.cols || (p.b_stride != 0 && p.b_stride < p.cols)) {
    return InvalidArgument("add: strides a %lld, b %lld, out %lld below cols %d",
                           static_cast<long long>(p.a_stride), static_cast<long long>(p.b_stride),
                           static_cast<long long>(p.out_stride), p.cols);
  }
  return cudaSuccess;
}

cudaError_t ValidateFill(const FillParams& p) {
  if (!IsActType(p.dtype) && p.dtype != DType::kI32) {
    return InvalidArgument("fill: dtype %s is not supported (supported: f32, i32, f16, bf16)",
                           KernelTypeName(p.dtype));
  }
  if (p.rows < 0 || p.cols < 0) return InvalidArgument("fill: rows %d, cols %d", p.rows, p.cols);
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  if (p.out == nullptr) return InvalidArgument("fill: null pointer argument");
  if (p.stride < p.cols) {
    return InvalidArgument("fill: stride %lld below cols %d", static_cast<long long>(p.stride),
                           p.cols);
  }
  return cudaSuccess;
}

cudaError_t ValidateSoftmax(const SoftmaxParams& p) {
  if (p.rows < 0 || p.cols < 0) return InvalidArgument("softmax: rows %d, cols %d", p.rows, p.cols);
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  if (p.x == nullptr || p.out == nullptr) return InvalidArgument("softmax: null pointer argument");
  if (p.x_stride < p.cols || p.out_stride < p.cols) {
    return InvalidArgument("softmax: strides x %lld, out %lld below cols %d",
                           static_cast<long long>(p.x_stride), static_cast<long long>(p.out_stride),
                           p.cols);
  }
  if (!(p.inv_temperature > 0.f)) {
    return InvalidArgument("softmax: 1/temperature %g must be positive",
                           static_cast<double>(p.inv_temperature));
  }
  return cudaSuccess;
}

}  // namespace phx::kernels
