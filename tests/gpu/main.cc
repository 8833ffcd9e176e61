// phx_gpu_kernels: every kernel of kernels/ against float64 references on fresh random inputs
// (outputs poisoned with NaN first, every element within its error bound: tests/gpu/harness.h),
// then, when asked, a benchmark table with the roofline measured in the same run. Plain C++ +
// CUDA runtime + cuBLAS only.
//   phx_gpu_kernels [--only SUITES] [--bench] [--no-check] [--seed N]
// SUITES: comma-separated from gemm (cuBLAS + mma.sync), wgmma, gemv, attention, fused,
// sampling, family (the model-family ops: q/k norm, GeGLU, soft-caps, YaRN, MoE); default: all.
// tests/gpu/run.sh runs each suite in its own process (a crash or a hang ends one suite, not the
// run) and the benchmarks in one more.
#include <cublas_v2.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

#include "tests/gpu/common.h"

namespace phx::gpu_test {

void MeasureRoofline() {
  const size_t bytes = size_t{1} << 30;
  Dev a(bytes), b(bytes);
  GPU_CHECK(cudaMemset(a.as(), 1, bytes));
  const double copy_ms = TimeMs(
      [&] { GPU_CHECK(cudaMemcpyAsync(b.as(), a.as(), bytes, cudaMemcpyDeviceToDevice)); }, 10, 2);
  Roof().gbps = 2.0 * bytes / (copy_ms * 1e-3) / 1e9;

  // Random operands (zeros run faster than real data on these chips).
  const int n = 8192;
  Dev x, w, y(size_t{2} * n * n);
  UploadVec(x, FastRandomHalf(size_t{1} * n * n, DType::kBF16, 1.0));
  UploadVec(w, FastRandomHalf(size_t{1} * n * n, DType::kBF16, 0.01));
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) std::exit(2);
  const float alpha = 1.f, beta = 0.f;
  const double gemm_ms = TimeMs(
      [&] {
        cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, w.as(), CUDA_R_16BF, n, x.as(),
                     CUDA_R_16BF, n, &beta, y.as(), CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT);
      },
      10, 2);
  cublasDestroy(h);
  Roof().tflops = 2.0 * n * n * n / (gemm_ms * 1e-3) / 1e12;
  std::printf("roofline: device copy %.0f GB/s, cuBLAS bf16 8192^3 %.1f TFLOP/s\n", Roof().gbps,
              Roof().tflops);
}

}  // namespace phx::gpu_test

int main(int argc, char** argv) {
  using namespace phx::gpu_test;
  bool bench = false, check = true;
  uint64_t seed = kDefaultSeed;
  std::set<std::string> only;
  const std::set<std::string> known = {"gemm",  "wgmma",    "gemv",  "attention",
                                       "fused", "sampling", "family"};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--bench") {
      bench = true;
    } else if (a == "--no-check") {
      check = false;
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--only" && i + 1 < argc) {
      std::string list = argv[++i];
      for (size_t pos = 0; pos <= list.size();) {
        const size_t comma = std::min(list.find(',', pos), list.size());
        const std::string name = list.substr(pos, comma - pos);
        if (!known.count(name)) {
          std::fprintf(stderr, "unknown suite '%s'\n", name.c_str());
          return 2;
        }
        only.insert(name);
        pos = comma + 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s [--only SUITES] [--bench] [--no-check] [--seed N]\n",
                   argv[0]);
      return 2;
    }
  }
  if (only.empty()) only = known;
  Rng().seed(seed);
  cudaDeviceProp prop;
  GPU_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d, %d SMs), seed %llu\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount, static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  if (bench) MeasureRoofline();
  if (only.count("gemm")) RunGemmTests(check, bench, /*wgmma=*/false);
  if (only.count("gemv")) RunGemvTests(check, bench);
  if (only.count("attention")) RunAttentionTests(check, bench);
  if (only.count("fused")) RunFusedTests(check, bench);
  if (only.count("family")) RunFamilyTests(check, bench);
  if (only.count("sampling")) RunSamplingTests(check, bench);
  // wgmma last: the riskiest kernel (with --bench it adds its timings to the gemm rows).
  if (only.count("wgmma")) RunGemmTests(check, bench, /*wgmma=*/true);
  if (bench) PrintBenchTable();
  std::printf("\n%s: %d check(s), %d failure(s)\n", Failures() == 0 ? "ALL PASS" : "FAILED",
              Checks(), Failures());
  return Failures() == 0 ? 0 : 1;
}
