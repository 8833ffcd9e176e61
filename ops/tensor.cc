#include "ops/tensor.h"

#include "base/strings.h"

namespace phx::ops {

Tensor Tensor::View(void* data, DType dtype, std::initializer_list<int64_t> shape, Device device) {
  Tensor t;
  t.data = data;
  t.dtype = dtype;
  t.device = device;
  for (int64_t d : shape) t.shape[t.ndim++] = d;
  return t;
}

int64_t Tensor::rows() const {
  int64_t r = 1;
  for (int i = 0; i + 1 < ndim; ++i) r *= shape[i];
  return r;
}

int64_t Tensor::row_bytes() const {
  auto b = RowBytes(dtype, static_cast<uint64_t>(cols()));
  return b ? static_cast<int64_t>(*b) : 0;
}

Tensor Tensor::Rows(int64_t begin, int64_t count) const {
  Tensor t = *this;
  t.data = row(begin);
  t.ndim = 2;
  t.shape = {count, cols(), 0, 0};
  t.row_stride = stride();
  return t;
}

Tensor Tensor::Cols(int64_t begin, int64_t count) const {
  Tensor t = *this;
  const int64_t elem = row_bytes() / (cols() == 0 ? 1 : cols());
  t.data = static_cast<uint8_t*>(data) + begin * elem;
  t.ndim = 2;
  t.shape = {rows(), count, 0, 0};
  t.row_stride = stride();
  return t;
}

Tensor Tensor::Reshape(std::initializer_list<int64_t> shape) const {
  Tensor t = *this;
  t.ndim = 0;
  for (int64_t d : shape) t.shape[t.ndim++] = d;
  t.row_stride = 0;
  return t;
}

std::string Tensor::ShapeString() const {
  std::string s = StrCat(DTypeName(dtype), "[");
  for (int i = 0; i < ndim; ++i) s += StrCat(i ? ", " : "", shape[i]);
  return s + "]";
}

}  // namespace phx::ops
