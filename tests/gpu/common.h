// Shared helpers of phx_gpu_kernels (plain C++ and the CUDA runtime; the host-only half - random
// inputs, roundings, error bounds - is tests/gpu/harness.h): device memory, the PASS/FAIL lines,
// cudaEvent timing and the benchmark table.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "tests/gpu/harness.h"

namespace phx::gpu_test {

#define GPU_CHECK(expr)                                                                           \
  do {                                                                                            \
    const cudaError_t e_ = (expr);                                                                \
    if (e_ != cudaSuccess) {                                                                      \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, cudaGetErrorString(e_)); \
      std::exit(2);                                                                               \
    }                                                                                             \
  } while (0)

// Launcher calls: print the launcher's message (kernels::LastErrorMessage) and abort.
void CheckLaunch(cudaError_t e, const char* what);

// Device memory, freed on destruction.
class Dev {
 public:
  explicit Dev(size_t bytes = 0) { Resize(bytes); }
  ~Dev() { cudaFree(p_); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  void Resize(size_t bytes) {
    cudaFree(p_);
    p_ = nullptr;
    bytes_ = bytes;
    if (bytes > 0) GPU_CHECK(cudaMalloc(&p_, bytes));
  }
  template <typename T = void>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return bytes_; }
  void Upload(const void* src, size_t n) {
    GPU_CHECK(cudaMemcpy(p_, src, n, cudaMemcpyHostToDevice));
  }
  void Download(void* dst, size_t n) const {
    GPU_CHECK(cudaMemcpy(dst, p_, n, cudaMemcpyDeviceToHost));
  }
  void Poison() { GPU_CHECK(cudaMemset(p_, 0xFF, bytes_)); }  // NaN in f16, bf16 and f32

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

template <typename T>
void UploadVec(Dev& d, const std::vector<T>& v) {
  d.Resize(v.size() * sizeof(T));
  if (!v.empty()) d.Upload(v.data(), v.size() * sizeof(T));
}

const char* Name(DType t);

// Compares every element against per-element bounds (tests/gpu/harness.h; NaN fails); prints one
// PASS/FAIL line for op x shape with the worst err/tol; returns ok.
bool Compare(const std::string& op, const std::string& shape, const std::vector<double>& got,
             const std::vector<double>& want, const std::vector<double>& tol);
bool Report(const std::string& op, const std::string& shape, bool ok, const std::string& note);
// Reads n elements of type t (f32/f16/bf16) from host bytes as doubles.
std::vector<double> ToDoubles(const void* host, size_t n, DType t);

// Median time in ms of `runs` calls of fn (after `warmup` calls), by cudaEvents.
double TimeMs(const std::function<void()>& fn, int runs = 20, int warmup = 3);

// ---- Benchmark table ---------------------------------------------------------------------
struct Roofline {
  double gbps = 0;    // device-to-device copy bandwidth (read + write bytes / s)
  double tflops = 0;  // large cuBLAS f16 GEMM
};
Roofline& Roof();
// kind "GB/s" (memory-bound: ratio to Roof().gbps) or "TFLOP/s" (ratio to Roof().tflops).
// `key` (e.g. "gemm:mma:bf16:1x4096x4096") names the row for tests/gpu/torch_ref.py, which
// reads the machine-readable "bench|key|us|..." lines PrintBenchTable adds.
void AddBench(const std::string& kernel, const std::string& shape, double ms, double amount,
              bool flops, const std::string& note = "", const std::string& key = "");
void PrintBenchTable();
int Failures();

// ---- Test suites (one file each): checks, then benchmarks, each when asked ----------------
// Checks: wgmma false: cuBLAS and mma.sync; true: the wgmma kernel only (sm_90, the riskiest,
// run last). Benchmarks: cuBLAS and mma.sync, plus wgmma when true.
void RunGemmTests(bool check, bool bench, bool wgmma);
void RunGemvTests(bool check, bool bench);
// LaunchDequantizeBlocks (the types dequantized to f16 at load) bit for bit against base's
// DequantizeRow rounded to f16/bf16 (test_dequant_blocks.cc; run by the gemv suite).
void RunDequantizeBlocksChecks();
void RunAttentionTests(bool check, bool bench);
void RunFusedTests(bool check, bool bench);
void RunFamilyTests(bool check, bool bench);
void RunSamplingTests(bool check, bool bench);
void MeasureRoofline();
int Checks();

}  // namespace phx::gpu_test
