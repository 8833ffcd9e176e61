// cuBLAS GEMM (host code only): y[m, n] = x[m, k] . w[n, k]^T in cuBLAS's column-major terms is
// y^T[n, m] = w[n, k] (op T of the column-major [k, n] view) times x^T[k, m].
#include <cublas_v2.h>

#include "kernels/error.h"
#include "kernels/gemm.h"

namespace phx::kernels {
namespace {

cudaDataType_t CudaType(DType t) {
  switch (t) {
    case DType::kF16:
      return CUDA_R_16F;
    case DType::kBF16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

cudaError_t FromCublas(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return cudaSuccess;
  InvalidArgument("%s: %s (%d)", what, cublasGetStatusString(s), static_cast<int>(s));
  return s == CUBLAS_STATUS_INVALID_VALUE ? cudaErrorInvalidValue : cudaErrorUnknown;
}

}  // namespace

cudaError_t LaunchCublasGemm(const GemmParams& p, cublasHandle_t handle, cudaStream_t stream) {
  if (cudaError_t e = ValidateGemm(p, "cublas gemm"); e != cudaSuccess) return e;
  if (handle == nullptr) return InvalidArgument("cublas gemm: null handle");
  if (p.m == 0 || p.n == 0) return cudaSuccess;
  if (cudaError_t e = FromCublas(cublasSetStream(handle, stream), "cublasSetStream");
      e != cudaSuccess) {
    return e;
  }
  const float alpha = 1.f, beta = 0.f;
  const cudaDataType_t ab = CudaType(p.dtype);
  return FromCublas(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, p.n, p.m, p.k, &alpha, p.w, ab,
                                 static_cast<int>(p.ldw), p.x, ab, static_cast<int>(p.ldx), &beta,
                                 p.y, CudaType(p.y_dtype), static_cast<int>(p.ldy),
                                 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                    "cublasGemmEx");
}

}  // namespace phx::kernels
