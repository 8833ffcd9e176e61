// Host-side argument checks and path choice of the GEMM launchers (no device access).
#include <cstdint>

#include "kernels/dispatch.h"
#include "kernels/error.h"
#include "kernels/gemm.h"

namespace phx::kernels {
namespace {

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
bool IsHalf(DType t) { return t == DType::kF16 || t == DType::kBF16; }

cudaError_t CheckDims(const char* op, int32_t m, int32_t n, int32_t k) {
  if (m < 0 || n < 0 || k <= 0) return InvalidArgument("%s: bad shape m %d n %d k %d", op, m, n, k);
  return cudaSuccess;
}

}  // namespace

cudaError_t ValidateGemm(const GemmParams& p, const char* op) {
  if (cudaError_t e = CheckDims(op, p.m, p.n, p.k); e != cudaSuccess) return e;
  if (!IsHalf(p.dtype)) {
    return InvalidArgument("%s: dtype %s is not supported (supported: f16, bf16)", op,
                           KernelTypeName(p.dtype));
  }
  if (p.y_dtype != p.dtype && p.y_dtype != DType::kF32) {
    return InvalidArgument("%s: output dtype %s with inputs %s (supported: the input type, f32)",
                           op, KernelTypeName(p.y_dtype), KernelTypeName(p.dtype));
  }
  if (p.x == nullptr || p.w == nullptr || p.y == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (p.k % 8 != 0) return InvalidArgument("%s: k %d is not a multiple of 8", op, p.k);
  if (p.ldx < p.k || p.ldw < p.k || p.ldy < p.n || p.ldx % 8 != 0 || p.ldw % 8 != 0) {
    return InvalidArgument(
        "%s: leading dimensions x %lld, w %lld (multiples of 8, >= k %d), "
        "y %lld (>= n %d)",
        op, static_cast<long long>(p.ldx), static_cast<long long>(p.ldw), p.k,
        static_cast<long long>(p.ldy), p.n);
  }
  if (!Aligned16(p.x) || !Aligned16(p.w)) {
    return InvalidArgument("%s: x and w must be 16-byte aligned", op);
  }
  return cudaSuccess;
}

cudaError_t ValidateWeightGemv(const WeightGemvParams& p) {
  const char* op = "weight gemv";
  if (cudaError_t e = CheckDims(op, p.m, p.n, p.k); e != cudaSuccess) return e;
  const bool f32_act = p.act_dtype == DType::kF32;
  if (!IsHalf(p.act_dtype) && !f32_act) {
    return InvalidArgument("%s: activation dtype %s is not supported (supported: f16, bf16, f32)",
                           op, KernelTypeName(p.act_dtype));
  }
  switch (p.w_dtype) {
    case DType::kF16:
    case DType::kBF16:
      if (p.w_dtype != p.act_dtype && !f32_act) {
        return InvalidArgument("%s: %s weights need %s or f32 activations, got %s", op,
                               KernelTypeName(p.w_dtype), KernelTypeName(p.w_dtype),
                               KernelTypeName(p.act_dtype));
      }
      if (p.k % 8 != 0) return InvalidArgument("%s: k %d is not a multiple of 8", op, p.k);
      break;
    case DType::kQ8_0:
      if (p.k % kQK8_0 != 0)
        return InvalidArgument("%s: q8_0 k %d is not a multiple of 32", op, p.k);
      break;
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      if (p.k % kQK_K != 0) {
        return InvalidArgument("%s: %s k %d is not a multiple of 256", op,
                               KernelTypeName(p.w_dtype), p.k);
      }
      break;
    default:
      return InvalidArgument(
          "%s: weight dtype %s is not supported (supported: f16, bf16, q8_0, q4_K, q5_K, q6_K)", op,
          KernelTypeName(p.w_dtype));
  }
  if (p.y_dtype != DType::kF32 && (f32_act || p.y_dtype != p.act_dtype)) {
    return InvalidArgument("%s: output dtype %s with %s activations (supported: %s, f32)", op,
                           KernelTypeName(p.y_dtype), KernelTypeName(p.act_dtype),
                           f32_act ? "f32 only" : KernelTypeName(p.act_dtype));
  }
  if (p.x == nullptr || p.w == nullptr || p.y == nullptr) {
    return InvalidArgument("%s: null pointer argument", op);
  }
  if (p.ldx < p.k || p.ldx % 8 != 0 || p.ldy < p.n || !Aligned16(p.x) || !Aligned16(p.w)) {
    return InvalidArgument(
        "%s: ldx %lld must be a multiple of 8 and >= k %d, ldy %lld >= n %d, "
        "x and w 16-byte aligned",
        op, static_cast<long long>(p.ldx), p.k, static_cast<long long>(p.ldy), p.n);
  }
  if (p.num_extra < 0 || p.num_extra > kMaxGemvExtra) {
    return InvalidArgument("%s: %d extra outputs (at most %d)", op, p.num_extra, kMaxGemvExtra);
  }
  bool has_bias = p.bias != nullptr;
  for (int i = 0; i < p.num_extra; ++i) {
    const GemvOutput& o = p.extra[i];
    if (o.n < 0 || o.w == nullptr || o.y == nullptr || !Aligned16(o.w) || o.ldy < o.n) {
      return InvalidArgument("%s: extra output %d (n %d, ldy %lld) needs aligned w and y", op, i,
                             o.n, static_cast<long long>(o.ldy));
    }
    has_bias = has_bias || o.bias != nullptr;
  }
  if (has_bias && p.y_dtype != DType::kF32) {
    return InvalidArgument("%s: a bias needs f32 output (got %s)", op, KernelTypeName(p.y_dtype));
  }
  if (p.m > 65535 * kGemvRowsPerPass) return InvalidArgument("%s: m %d too large", op, p.m);
  return cudaSuccess;
}

cudaError_t ValidateDequantize(const DequantizeParams& p) {
  const char* op = "dequantize";
  if (p.w_dtype != DType::kQ8_0 && p.w_dtype != DType::kQ4_K && p.w_dtype != DType::kQ5_K &&
      p.w_dtype != DType::kQ6_K) {
    return InvalidArgument(
        "%s: weight dtype %s is not supported (supported: q8_0, q4_K, q5_K, q6_K)", op,
        KernelTypeName(p.w_dtype));
  }
  if (!IsHalf(p.out_dtype)) {
    return InvalidArgument("%s: output dtype %s is not supported (supported: f16, bf16)", op,
                           KernelTypeName(p.out_dtype));
  }
  const int64_t block = p.w_dtype == DType::kQ8_0 ? kQK8_0 : kQK_K;
  if (p.rows < 0 || p.cols <= 0 || p.cols % block != 0) {
    return InvalidArgument("%s: %s matrix [%lld, %lld] (cols must be a multiple of %lld)", op,
                           KernelTypeName(p.w_dtype), static_cast<long long>(p.rows),
                           static_cast<long long>(p.cols), static_cast<long long>(block));
  }
  if (p.w == nullptr || p.out == nullptr || !Aligned16(p.w) || !Aligned16(p.out)) {
    return InvalidArgument("%s: null or unaligned pointer", op);
  }
  return cudaSuccess;
}

bool DequantizeBlocksSupports(DType t) {
  switch (t) {
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kIQ4_NL:
    case DType::kIQ4_XS:
    case DType::kMXFP4:
      return true;
    default:
      return false;
  }
}

cudaError_t ValidateDequantizeBlocks(const DequantizeBlocksParams& p) {
  const char* op = "dequantize blocks";
  if (!DequantizeBlocksSupports(p.src_dtype)) {
    return InvalidArgument(
        "%s: source dtype %s is not supported (supported: q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, "
        "iq4_nl, iq4_xs, mxfp4)",
        op, KernelTypeName(p.src_dtype));
  }
  if (!IsHalf(p.out_dtype)) {
    return InvalidArgument("%s: output dtype %s is not supported (supported: f16, bf16)", op,
                           KernelTypeName(p.out_dtype));
  }
  const bool k_type =
      p.src_dtype == DType::kQ2_K || p.src_dtype == DType::kQ3_K || p.src_dtype == DType::kIQ4_XS;
  const int64_t block = k_type ? kQK_K : kQK32;
  if (p.n < 0 || p.n % block != 0) {
    return InvalidArgument("%s: %s count %lld is not a multiple of the block (%lld)", op,
                           KernelTypeName(p.src_dtype), static_cast<long long>(p.n),
                           static_cast<long long>(block));
  }
  if (p.n == 0) return cudaSuccess;
  if (p.src == nullptr || p.out == nullptr || !Aligned16(p.out)) {
    return InvalidArgument("%s: null source, or output not 16-byte aligned", op);
  }
  return cudaSuccess;
}

GemmPath ChooseGemmPath(DType w_dtype, int32_t m, bool wgmma_available, bool prefer_cublas,
                        int32_t max_gemv_rows) {
  const bool quantized = w_dtype == DType::kQ8_0 || w_dtype == DType::kQ4_K ||
                         w_dtype == DType::kQ5_K || w_dtype == DType::kQ6_K;
  if (m <= max_gemv_rows) return GemmPath::kGemv;
  if (quantized) return GemmPath::kDequantThenGemm;
  if (prefer_cublas) return GemmPath::kCublas;
  return wgmma_available ? GemmPath::kWgmma : GemmPath::kMma;
}

const char* GemmPathName(GemmPath path) {
  switch (path) {
    case GemmPath::kGemv:
      return "gemv";
    case GemmPath::kDequantThenGemm:
      return "dequant+gemm";
    case GemmPath::kCublas:
      return "cublas";
    case GemmPath::kMma:
      return "mma.sync";
    case GemmPath::kWgmma:
      return "wgmma";
  }
  return "?";
}

}  // namespace phx::kernels
