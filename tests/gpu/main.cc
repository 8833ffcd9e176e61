// phx_gpu_kernels: every kernel of kernels/ against float64 references on fresh random inputs
// (outputs poisoned with NaN first, every element checked), then a benchmark table with the
// roofline measured in the same run. Plain C++ + CUDA runtime + cuBLAS only.
//   phx_gpu_kernels [--no-bench] [--seed N]
#include <cublas_v2.h>

#include <cstdlib>
#include <cstring>

#include "tests/gpu/common.h"

namespace phx::gpu_test {

void MeasureRoofline() {
  const size_t bytes = size_t{1} << 30;
  Dev a(bytes), b(bytes);
  GPU_CHECK(cudaMemset(a.as(), 1, bytes));
  const double copy_ms = TimeMs(
      [&] { GPU_CHECK(cudaMemcpyAsync(b.as(), a.as(), bytes, cudaMemcpyDeviceToDevice)); }, 10, 2);
  Roof().gbps = 2.0 * bytes / (copy_ms * 1e-3) / 1e9;

  const int n = 8192;
  Dev x(size_t{2} * n * n), w(size_t{2} * n * n), y(size_t{2} * n * n);
  GPU_CHECK(cudaMemset(x.as(), 0, x.bytes()));
  GPU_CHECK(cudaMemset(w.as(), 0, w.bytes()));
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) std::exit(2);
  const float alpha = 1.f, beta = 0.f;
  const double gemm_ms = TimeMs(
      [&] {
        cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, w.as(), CUDA_R_16F, n, x.as(),
                     CUDA_R_16F, n, &beta, y.as(), CUDA_R_16F, n, CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT);
      },
      10, 2);
  cublasDestroy(h);
  Roof().tflops = 2.0 * n * n * n / (gemm_ms * 1e-3) / 1e12;
  std::printf("roofline: device copy %.0f GB/s, cuBLAS f16 8192^3 %.1f TFLOP/s\n", Roof().gbps,
              Roof().tflops);
}

}  // namespace phx::gpu_test

int main(int argc, char** argv) {
  using namespace phx::gpu_test;
  bool bench = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--no-bench") == 0) bench = false;
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) Rng().seed(std::atoll(argv[++i]));
  }
  cudaDeviceProp prop;
  GPU_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount);
  if (bench) MeasureRoofline();
  RunGemmTests(bench);
  RunGemvTests(bench);
  RunAttentionTests(bench);
  RunFusedTests(bench);
  RunSamplingTests(bench);
  if (bench) PrintBenchTable();
  std::printf("\n%s: %d failure(s)\n", Failures() == 0 ? "ALL PASS" : "FAILED", Failures());
  return Failures() == 0 ? 0 : 1;
}
