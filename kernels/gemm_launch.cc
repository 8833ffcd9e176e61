// dtype dispatch of the GEMM, GEMV and dequantize launchers (host compiler; the kernels are
// explicit instantiations in their own .cu files).
#include "kernels/dispatch.h"
#include "kernels/error.h"
#include "kernels/gemm.h"

namespace phx::kernels {
namespace {

// Calls fn(DTypeC<kT>, DTypeC<kY>) for y_dtype == dtype or f32.
template <typename Fn>
cudaError_t DispatchOut(DType t, DType y, Fn&& fn) {
  return DispatchHalfType("gemm input", t, [&](auto tc) {
    constexpr DType kT = decltype(tc)::value;
    if (y == DType::kF32) return fn(tc, DTypeC<DType::kF32>{});
    return fn(tc, DTypeC<kT>{});
  });
}

}  // namespace

cudaError_t LaunchMmaGemm(const GemmParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateGemm(p, "mma gemm"); e != cudaSuccess) return e;
  if (p.m == 0 || p.n == 0) return cudaSuccess;
  return DispatchOut(p.dtype, p.y_dtype, [&](auto t, auto y) {
    return RunMmaGemm<decltype(t)::value, decltype(y)::value>(p, stream);
  });
}

bool WgmmaGemmSupported(int device) {
  int major = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    return false;
  }
  return major == 9;
}

cudaError_t LaunchWgmmaGemm(const GemmParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateGemm(p, "wgmma gemm"); e != cudaSuccess) return e;
  int device = 0;
  if (cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
  if (!WgmmaGemmSupported(device)) {
    return NotSupported("wgmma gemm: needs a compute capability 9.x (sm_90a) device");
  }
  if (p.m == 0 || p.n == 0) return cudaSuccess;
  return DispatchOut(p.dtype, p.y_dtype, [&](auto t, auto y) {
    return RunWgmmaGemm<decltype(t)::value, decltype(y)::value>(p, stream);
  });
}

namespace {

// RunWeightGemv for weight type kW and activation type kA (f16/bf16: output kA or f32; f32: f32).
template <DType kW, DType kA>
cudaError_t GemvOut(const WeightGemvParams& p, cudaStream_t stream) {
  if constexpr (kA == DType::kF32) {
    return RunWeightGemv<kW, kA, DType::kF32>(p, stream);
  } else {
    return p.y_dtype == DType::kF32 ? RunWeightGemv<kW, kA, DType::kF32>(p, stream)
                                    : RunWeightGemv<kW, kA, kA>(p, stream);
  }
}

template <DType kA>
cudaError_t GemvWeights(const WeightGemvParams& p, cudaStream_t stream) {
  switch (p.w_dtype) {
    case DType::kQ8_0:
      return GemvOut<DType::kQ8_0, kA>(p, stream);
    case DType::kQ4_K:
      return GemvOut<DType::kQ4_K, kA>(p, stream);
    case DType::kQ5_K:
      return GemvOut<DType::kQ5_K, kA>(p, stream);
    case DType::kQ6_K:
      return GemvOut<DType::kQ6_K, kA>(p, stream);
    case DType::kBF16:
      if constexpr (kA == DType::kF32 || kA == DType::kBF16)
        return GemvOut<DType::kBF16, kA>(p, stream);
      break;
    default:  // f16 (validated)
      if constexpr (kA == DType::kF32 || kA == DType::kF16)
        return GemvOut<DType::kF16, kA>(p, stream);
      break;
  }
  return InvalidArgument("weight gemv: %s weights with %s activations", KernelTypeName(p.w_dtype),
                         KernelTypeName(kA));
}

}  // namespace

cudaError_t LaunchWeightGemv(const WeightGemvParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateWeightGemv(p); e != cudaSuccess) return e;
  int64_t columns = p.n;
  for (int i = 0; i < p.num_extra; ++i) columns += p.extra[i].n;
  if (p.m == 0 || columns == 0) return cudaSuccess;
  switch (p.act_dtype) {
    case DType::kF32:
      return GemvWeights<DType::kF32>(p, stream);
    case DType::kBF16:
      return GemvWeights<DType::kBF16>(p, stream);
    default:
      return GemvWeights<DType::kF16>(p, stream);
  }
}

cudaError_t LaunchDequantize(const DequantizeParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateDequantize(p); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  return DispatchHalfType("dequantize output", p.out_dtype, [&](auto oc) {
    constexpr DType kOut = decltype(oc)::value;
    switch (p.w_dtype) {
      case DType::kQ8_0:
        return RunDequantize<DType::kQ8_0, kOut>(p, stream);
      case DType::kQ5_K:
        return RunDequantize<DType::kQ5_K, kOut>(p, stream);
      case DType::kQ6_K:
        return RunDequantize<DType::kQ6_K, kOut>(p, stream);
      default:
        return RunDequantize<DType::kQ4_K, kOut>(p, stream);
    }
  });
}

}  // namespace phx::kernels
