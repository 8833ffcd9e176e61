// Host-side argument checks of the mixture-of-experts launchers (no device access, unit-tested).
#include <cstdint>

#include "kernels/dispatch.h"
#include "kernels/error.h"
#include "kernels/moe.h"
#include "kernels/quant_layout.h"

namespace phx::kernels {
namespace {

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

size_t ExpertWorkspaceBytes(int32_t n_experts, int64_t routed_rows) {
  if (n_experts < 0 || routed_rows < 0) return 0;
  return static_cast<size_t>(n_experts + 2 + routed_rows) * sizeof(int32_t);
}

cudaError_t ValidateMoeRoute(const MoeRouteParams& p) {
  const char* op = "moe route";
  if (p.rows < 0 || p.n_experts <= 0 || p.n_experts > kMaxRouteExperts) {
    return InvalidArgument("%s: rows %d, n_experts %d (1..%d)", op, p.rows, p.n_experts,
                           kMaxRouteExperts);
  }
  if (p.k <= 0 || p.k > p.n_experts || p.k > kMaxRouteTopK) {
    return InvalidArgument("%s: k %d outside 1..%d", op, p.k,
                           p.n_experts < kMaxRouteTopK ? p.n_experts : kMaxRouteTopK);
  }
  if (p.rows == 0) return cudaSuccess;
  if (p.logits == nullptr || p.weights == nullptr || p.ids == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (p.logits_stride < p.n_experts || p.weights_stride < p.k) {
    return InvalidArgument("%s: strides (logits %lld, weights %lld) below the row width", op,
                           static_cast<long long>(p.logits_stride),
                           static_cast<long long>(p.weights_stride));
  }
  return cudaSuccess;
}

cudaError_t ValidateExpertGemv(const ExpertGemvParams& p) {
  const char* op = "expert gemv";
  if (p.tokens < 0 || p.top_k <= 0 || p.n_experts <= 0 || p.n_experts > kMaxRouteExperts ||
      p.k <= 0) {
    return InvalidArgument("%s: tokens %d, top_k %d, n_experts %d (1..%d), k %d", op, p.tokens,
                           p.top_k, p.n_experts, kMaxRouteExperts, p.k);
  }
  if (static_cast<int64_t>(p.tokens) * p.top_k > INT32_MAX) {
    return InvalidArgument("%s: %d x %d routed rows", op, p.tokens, p.top_k);
  }
  int32_t multiple = 8;
  switch (p.w_dtype) {
    case DType::kF16:
    case DType::kBF16:
      break;
    case DType::kQ8_0:
      multiple = kQK8_0;
      break;
    case DType::kQ4_K:
    case DType::kQ6_K:
      multiple = kQK_K;
      break;
    default:
      return InvalidArgument(
          "%s: weight dtype %s is not supported (supported: f16, bf16, q8_0, q4_K, q6_K)", op,
          KernelTypeName(p.w_dtype));
  }
  if (p.k % multiple != 0) {
    return InvalidArgument("%s: k %d is not a multiple of %d for %s weights", op, p.k, multiple,
                           KernelTypeName(p.w_dtype));
  }
  if (p.num_outputs < 1 || p.num_outputs > kMaxExpertOutputs) {
    return InvalidArgument("%s: %d outputs (1..%d)", op, p.num_outputs, kMaxExpertOutputs);
  }
  for (int i = 0; i < p.num_outputs; ++i) {
    if (p.out[i].n <= 0 || p.out[i].ldy < p.out[i].n) {
      return InvalidArgument("%s: output %d has n %d, ldy %lld", op, i, p.out[i].n,
                             static_cast<long long>(p.out[i].ldy));
    }
    if (p.out[i].n > 65535 * 8 || static_cast<int64_t>(p.out[i].n) * p.n_experts > INT32_MAX) {
      return InvalidArgument("%s: output %d: %d experts of %d rows", op, i, p.n_experts,
                             p.out[i].n);
    }
  }
  if (p.tokens == 0) return cudaSuccess;
  for (int i = 0; i < p.num_outputs; ++i) {
    if (p.out[i].w == nullptr || p.out[i].y == nullptr) {
      return InvalidArgument("%s: output %d: null pointer", op, i);
    }
    if (!Aligned16(p.out[i].w)) return InvalidArgument("%s: weight %d not 16-byte aligned", op, i);
  }
  if (p.x == nullptr || p.ids == nullptr || p.workspace == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (!Aligned16(p.x) || p.ldx < p.k || p.ldx % 4 != 0) {
    return InvalidArgument("%s: x must be 16-byte aligned with ldx %lld a multiple of 4 >= k %d",
                           op, static_cast<long long>(p.ldx), p.k);
  }
  if (reinterpret_cast<uintptr_t>(p.workspace) % 4 != 0) {
    return InvalidArgument("%s: workspace not 4-byte aligned", op);
  }
  return cudaSuccess;
}

cudaError_t ValidateMoeCombine(const MoeCombineParams& p) {
  const char* op = "moe combine";
  if (p.rows < 0 || p.k <= 0 || p.dim <= 0) {
    return InvalidArgument("%s: rows %d, k %d, dim %d", op, p.rows, p.k, p.dim);
  }
  if (p.rows == 0) return cudaSuccess;
  if (p.y == nullptr || p.weights == nullptr || p.residual == nullptr || p.out == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (p.y_stride < p.dim || p.weights_stride < p.k || p.residual_stride < p.dim ||
      p.out_stride < p.dim) {
    return InvalidArgument(
        "%s: a stride is below its row width (y %lld, weights %lld, residual "
        "%lld, out %lld)",
        op, static_cast<long long>(p.y_stride), static_cast<long long>(p.weights_stride),
        static_cast<long long>(p.residual_stride), static_cast<long long>(p.out_stride));
  }
  return cudaSuccess;
}

}  // namespace phx::kernels
