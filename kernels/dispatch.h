// Turns run-time kernel parameters into compile-time constants. Each Dispatch* function calls
// `fn` with a std::integral_constant for a supported value and returns what it returns; any
// other value is rejected with cudaErrorInvalidValue and a message naming it (read with
// LastErrorMessage()). Host code: the callables invoke explicit template instantiations that
// live in their own .cu files.
//
//   return DispatchHeadDim(p.head_dim, [&](auto hd) {
//     return DispatchKvType(p.kv_dtype, [&](auto kv) {
//       return RunPagedDecode<decltype(hd)::value, decltype(kv)::value>(p, stream);
//     });
//   });
#pragma once

#include <cuda_runtime_api.h>

#include <type_traits>

#include "base/dtype.h"
#include "kernels/error.h"

namespace phx::kernels {

template <int V>
using IntC = std::integral_constant<int, V>;
template <DType V>
using DTypeC = std::integral_constant<DType, V>;

// ggml's spelling of a dtype for error messages (no link dependency on phx_base).
inline const char* KernelTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kBF16:
      return "bf16";
    case DType::kQ4_0:
      return "q4_0";
    case DType::kQ4_1:
      return "q4_1";
    case DType::kQ5_0:
      return "q5_0";
    case DType::kQ5_1:
      return "q5_1";
    case DType::kQ8_0:
      return "q8_0";
    case DType::kQ2_K:
      return "q2_K";
    case DType::kQ3_K:
      return "q3_K";
    case DType::kQ4_K:
      return "q4_K";
    case DType::kQ5_K:
      return "q5_K";
    case DType::kQ6_K:
      return "q6_K";
    case DType::kIQ4_NL:
      return "iq4_nl";
    case DType::kIQ4_XS:
      return "iq4_xs";
    case DType::kMXFP4:
      return "mxfp4";
    case DType::kI32:
      return "i32";
  }
  return "unknown";
}

// Head dimensions with attention kernels: 64 and 128.
inline constexpr int kSupportedHeadDims[] = {64, 128};

template <typename Fn>
cudaError_t DispatchHeadDim(int head_dim, Fn&& fn) {
  switch (head_dim) {
    case 64:
      return fn(IntC<64>{});
    case 128:
      return fn(IntC<128>{});
    default:
      return InvalidArgument("head_dim %d is not supported (supported: 64, 128)", head_dim);
  }
}

// 16-bit floating types of the KV cache, of attention's q/out and of GEMM activations.
template <typename Fn>
cudaError_t DispatchHalfType(const char* what, DType t, Fn&& fn) {
  switch (t) {
    case DType::kF16:
      return fn(DTypeC<DType::kF16>{});
    case DType::kBF16:
      return fn(DTypeC<DType::kBF16>{});
    default:
      return InvalidArgument("%s dtype %s (id %u) is not supported (supported: f16, bf16)", what,
                             KernelTypeName(t), static_cast<unsigned>(t));
  }
}

template <typename Fn>
cudaError_t DispatchKvType(DType t, Fn&& fn) {
  return DispatchHalfType("kv cache", t, static_cast<Fn&&>(fn));
}

}  // namespace phx::kernels

// Macro form for code that prefers a named constant over a generic lambda:
//   PHX_DISPATCH_HEAD_DIM(p.head_dim, kHeadDim, { return Run<kHeadDim>(p); });
#define PHX_DISPATCH_HEAD_DIM(VALUE, NAME, ...)                  \
  ::phx::kernels::DispatchHeadDim((VALUE), [&](auto phx_hd_c_) { \
    constexpr int NAME = decltype(phx_hd_c_)::value;             \
    __VA_ARGS__                                                  \
  })
#define PHX_DISPATCH_KV_TYPE(VALUE, NAME, ...)                  \
  ::phx::kernels::DispatchKvType((VALUE), [&](auto phx_kv_c_) { \
    constexpr ::phx::DType NAME = decltype(phx_kv_c_)::value;   \
    __VA_ARGS__                                                 \
  })
