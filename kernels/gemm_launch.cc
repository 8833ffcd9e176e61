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

cudaError_t LaunchWeightGemv(const WeightGemvParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateWeightGemv(p); e != cudaSuccess) return e;
  if (p.m == 0 || p.n == 0) return cudaSuccess;
  return DispatchHalfType("activation", p.act_dtype, [&](auto ac) -> cudaError_t {
    constexpr DType kA = decltype(ac)::value;
    const bool f32 = p.y_dtype == DType::kF32;
    switch (p.w_dtype) {
      case DType::kQ8_0:
        return f32 ? RunWeightGemv<DType::kQ8_0, kA, DType::kF32>(p, stream)
                   : RunWeightGemv<DType::kQ8_0, kA, kA>(p, stream);
      case DType::kQ4_K:
        return f32 ? RunWeightGemv<DType::kQ4_K, kA, DType::kF32>(p, stream)
                   : RunWeightGemv<DType::kQ4_K, kA, kA>(p, stream);
      default:  // dense weights of the activation type (validated)
        return f32 ? RunWeightGemv<kA, kA, DType::kF32>(p, stream)
                   : RunWeightGemv<kA, kA, kA>(p, stream);
    }
  });
}

cudaError_t LaunchDequantize(const DequantizeParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateDequantize(p); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  return DispatchHalfType("dequantize output", p.out_dtype, [&](auto oc) {
    constexpr DType kOut = decltype(oc)::value;
    return p.w_dtype == DType::kQ8_0 ? RunDequantize<DType::kQ8_0, kOut>(p, stream)
                                     : RunDequantize<DType::kQ4_K, kOut>(p, stream);
  });
}

}  // namespace phx::kernels
