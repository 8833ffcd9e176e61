// Host-side argument checks of the fused elementwise launchers (no device access, unit-tested).
#include <cmath>
#include <cstdint>

#include "kernels/dispatch.h"
#include "kernels/elementwise.h"
#include "kernels/error.h"

namespace phx::kernels {
namespace {

bool IsActType(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }
bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

cudaError_t CheckAct(const char* op, const char* what, DType t) {
  if (IsActType(t)) return cudaSuccess;
  return InvalidArgument("%s: %s dtype %s is not supported (supported: f32, f16, bf16)", op, what,
                         KernelTypeName(t));
}

cudaError_t CheckRows(const char* op, int32_t rows, int32_t dim) {
  if (rows < 0 || dim <= 0) return InvalidArgument("%s: bad shape rows %d dim %d", op, rows, dim);
  return cudaSuccess;
}

cudaError_t CheckStride(const char* op, const char* what, int64_t stride, int32_t dim) {
  if (stride >= dim) return cudaSuccess;
  return InvalidArgument("%s: %s stride %lld is below dim %d", op, what,
                         static_cast<long long>(stride), dim);
}

}  // namespace

cudaError_t ValidateRmsNorm(const RmsNormParams& p) {
  const char* op = "rms norm";
  if (cudaError_t e = CheckRows(op, p.rows, p.dim); e != cudaSuccess) return e;
  if (cudaError_t e = CheckAct(op, "activation", p.dtype); e != cudaSuccess) return e;
  if (p.w_dtype != DType::kF32 && p.w_dtype != p.dtype) {
    return InvalidArgument(
        "%s: weight dtype %s with activations %s (supported: f32, the "
        "activation type)",
        op, KernelTypeName(p.w_dtype), KernelTypeName(p.dtype));
  }
  if (!(p.eps > 0.f)) return InvalidArgument("%s: eps %g must be positive", op, p.eps);
  if (p.group < 0 || (p.group > 0 && p.dim % p.group != 0)) {
    return InvalidArgument("%s: group %d must be 0 or divide dim %d", op, p.group, p.dim);
  }
  if (p.group > 0 && p.dim / p.group > 65535) {
    return InvalidArgument("%s: %d groups per row (at most 65535)", op, p.dim / p.group);
  }
  if (p.post_add != nullptr && p.residual != nullptr) {
    return InvalidArgument("%s: post_add and residual are exclusive", op);
  }
  if (p.rows == 0) return cudaSuccess;
  if (p.x == nullptr || p.w == nullptr || p.y == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (cudaError_t e = CheckStride(op, "x", p.x_stride, p.dim); e != cudaSuccess) return e;
  if (cudaError_t e = CheckStride(op, "y", p.y_stride, p.dim); e != cudaSuccess) return e;
  if (p.post_add != nullptr) {
    if (cudaError_t e = CheckStride(op, "post_add", p.post_add_stride, p.dim); e != cudaSuccess) {
      return e;
    }
  }
  if (p.residual != nullptr) return CheckStride(op, "residual", p.residual_stride, p.dim);
  return cudaSuccess;
}

cudaError_t ValidateSwiGlu(const SwiGluParams& p) {
  const char* op = "swiglu";
  if (cudaError_t e = CheckRows(op, p.rows, p.dim); e != cudaSuccess) return e;
  if (cudaError_t e = CheckAct(op, "activation", p.dtype); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  if (p.gate == nullptr || p.up == nullptr || p.out == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (cudaError_t e = CheckStride(op, "gate", p.gate_stride, p.dim); e != cudaSuccess) return e;
  if (cudaError_t e = CheckStride(op, "up", p.up_stride, p.dim); e != cudaSuccess) return e;
  return CheckStride(op, "out", p.out_stride, p.dim);
}

cudaError_t ValidateEmbedding(const EmbeddingParams& p) {
  const char* op = "embedding";
  if (p.num_tokens < 0 || p.dim <= 0 || p.vocab <= 0) {
    return InvalidArgument("%s: bad shape tokens %d dim %d vocab %lld", op, p.num_tokens, p.dim,
                           static_cast<long long>(p.vocab));
  }
  if (cudaError_t e = CheckAct(op, "output", p.out_dtype); e != cudaSuccess) return e;
  int32_t multiple = 8;
  switch (p.table_dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      break;
    case DType::kQ8_0:
      multiple = kQK8_0;
      break;
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      multiple = kQK_K;
      break;
    default:
      return InvalidArgument(
          "%s: table dtype %s is not supported (supported: f32, f16, bf16, "
          "q8_0, q4_K, q5_K, q6_K)",
          op, KernelTypeName(p.table_dtype));
  }
  if (!std::isfinite(p.scale)) return InvalidArgument("%s: scale %g is not finite", op, p.scale);
  if (p.dim % multiple != 0) {
    return InvalidArgument("%s: dim %d is not a multiple of %d for a %s table", op, p.dim, multiple,
                           KernelTypeName(p.table_dtype));
  }
  if (p.num_tokens == 0) return cudaSuccess;
  if (p.table == nullptr || p.ids == nullptr || p.out == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (!Aligned16(p.table) || !Aligned16(p.out) || p.out_stride < p.dim || p.out_stride % 8 != 0) {
    return InvalidArgument(
        "%s: table and out must be 16-byte aligned and out_stride %lld a "
        "multiple of 8 >= dim %d",
        op, static_cast<long long>(p.out_stride), p.dim);
  }
  return cudaSuccess;
}

cudaError_t ValidateSoftcap(const SoftcapParams& p) {
  const char* op = "softcap";
  if (p.rows < 0 || p.cols < 0) {
    return InvalidArgument("%s: bad shape rows %d cols %d", op, p.rows, p.cols);
  }
  if (!(p.cap > 0.f) || !std::isfinite(p.cap)) {
    return InvalidArgument("%s: cap %g must be positive and finite", op, p.cap);
  }
  if (p.rows == 0 || p.cols == 0) return cudaSuccess;
  if (p.y == nullptr) return InvalidArgument("%s: null pointer argument", op);
  return CheckStride(op, "y", p.stride, p.cols);
}

}  // namespace phx::kernels
