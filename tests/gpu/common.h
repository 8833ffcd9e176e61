// Shared helpers of phx_gpu_kernels (plain C++ and the CUDA runtime only: the GPU machine has no
// absl, gtest or spdlog): device memory, random inputs, 16-bit conversions, element-by-element
// comparison against float64 references, cudaEvent timing and the result table.
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
  d.Upload(v.data(), v.size() * sizeof(T));
}

std::mt19937_64& Rng();
double Uniform(double lo, double hi);
double Normal(double sd = 1.0);

// 16-bit storage of a float (round to nearest even) and back.
uint16_t ToBits(float f, DType t);
float FromBits(uint16_t h, DType t);
// Random values rounded to `t` (f16/bf16): bits out, exact values (as double) in *values.
std::vector<uint16_t> RandomHalf(size_t n, DType t, double sd, std::vector<double>* values);
// Reads n elements of type t (f32/f16/bf16) from host bytes as doubles.
std::vector<double> ToDoubles(const void* host, size_t n, DType t);
size_t ElemBytes(DType t);
const char* Name(DType t);

// Tolerance of an output of dtype t: |got - want| <= atol + rtol * |want|.
struct Tol {
  double atol, rtol;
};
Tol OutputTol(DType t, double scale = 1.0);

// Compares every element (NaN fails); prints one PASS/FAIL line for op x shape; returns ok.
bool Compare(const std::string& op, const std::string& shape, const std::vector<double>& got,
             const std::vector<double>& want, Tol tol);
bool Report(const std::string& op, const std::string& shape, bool ok, const std::string& note);

// Median time in ms of `runs` calls of fn (after `warmup` calls), by cudaEvents.
double TimeMs(const std::function<void()>& fn, int runs = 20, int warmup = 3);

// ---- Benchmark table ---------------------------------------------------------------------
struct Roofline {
  double gbps = 0;    // device-to-device copy bandwidth (read + write bytes / s)
  double tflops = 0;  // large cuBLAS f16 GEMM
};
Roofline& Roof();
// kind "GB/s" (memory-bound: ratio to Roof().gbps) or "TFLOP/s" (ratio to Roof().tflops).
void AddBench(const std::string& kernel, const std::string& shape, double ms, double amount,
              bool flops, const std::string& note = "");
void PrintBenchTable();
int Failures();

// ---- Test suites (one file each) ------------------------------------------------------------
void RunGemmTests(bool bench);
void RunGemvTests(bool bench);
void RunAttentionTests(bool bench);
void RunFusedTests(bool bench);
void RunSamplingTests(bool bench);
void MeasureRoofline();

}  // namespace phx::gpu_test
