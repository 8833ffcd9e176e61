// Dense f16/bf16 GEMM: cuBLAS, mma.sync and wgmma against a float64 reference, then the
// decode/prefill shapes of a 1B and an 8B model against cuBLAS.
#include <cublas_v2.h>

#include "kernels/gemm.h"
#include "tests/gpu/common.h"

namespace phx::gpu_test {
namespace {

std::vector<double> RefGemm(const std::vector<double>& x, const std::vector<double>& w, int m,
                            int n, int k) {
  std::vector<double> y(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = 0;
      const double* xr = &x[static_cast<size_t>(i) * k];
      const double* wr = &w[static_cast<size_t>(j) * k];
      for (int l = 0; l < k; ++l) s += xr[l] * wr[l];
      y[static_cast<size_t>(i) * n + j] = s;
    }
  }
  return y;
}

enum class Impl { kCublas, kMma, kWgmma };
const char* ImplName(Impl i) {
  return i == Impl::kCublas ? "cublas" : i == Impl::kMma ? "mma" : "wgmma";
}

cudaError_t Run(Impl impl, const kernels::GemmParams& p, cublasHandle_t h) {
  switch (impl) {
    case Impl::kCublas:
      return kernels::LaunchCublasGemm(p, h, nullptr);
    case Impl::kMma:
      return kernels::LaunchMmaGemm(p, nullptr);
    default:
      return kernels::LaunchWgmmaGemm(p, nullptr);
  }
}

void CheckShape(Impl impl, DType t, DType yt, int m, int n, int k, cublasHandle_t h) {
  std::vector<double> xv, wv;
  Dev x, w, y(static_cast<size_t>(m) * n * ElemBytes(yt));
  UploadVec(x, RandomHalf(static_cast<size_t>(m) * k, t, 1.0, &xv));
  UploadVec(w, RandomHalf(static_cast<size_t>(n) * k, t, 1.0 / std::sqrt(k), &wv));
  y.Poison();
  kernels::GemmParams p;
  p.x = x.as(), p.ldx = k, p.w = w.as(), p.ldw = k, p.y = y.as(), p.ldy = n;
  p.dtype = t, p.y_dtype = yt, p.m = m, p.n = n, p.k = k;
  CheckLaunch(Run(impl, p, h), ImplName(impl));
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<char> out(y.bytes());
  y.Download(out.data(), out.size());
  char shape[96];
  std::snprintf(shape, sizeof(shape), "m%d n%d k%d %s->%s", m, n, k, Name(t), Name(yt));
  // Products of unit-variance x and 1/sqrt(k) w: |y| ~ 1; f32 accumulation error ~ k * 2^-24.
  Tol tol = OutputTol(yt);
  if (yt == DType::kF32) tol = {1e-3, 1e-3};
  Compare(std::string("gemm ") + ImplName(impl), shape, ToDoubles(out.data(), size_t(m) * n, yt),
          RefGemm(xv, wv, m, n, k), tol);
}

}  // namespace

void RunGemmTests(bool bench) {
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) std::exit(2);
  int major = 0;
  GPU_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
  std::vector<Impl> impls = {Impl::kCublas, Impl::kMma};
  if (major == 9) impls.push_back(Impl::kWgmma);
  const int shapes[][3] = {{1, 256, 512}, {37, 200, 264}, {128, 128, 64}, {300, 520, 1024}};
  for (Impl impl : impls) {
    for (DType t : {DType::kF16, DType::kBF16}) {
      for (const auto& s : shapes) {
        CheckShape(impl, t, t, s[0], s[1], s[2], h);
        CheckShape(impl, t, DType::kF32, s[0], s[1], s[2], h);
      }
    }
  }
  if (bench) {
    // (n, k) of Llama-3.2-1B (hidden 2048, ffn 8192) and Llama-3.1-8B (4096, 14336) projections.
    const int models[][2] = {{2048, 2048}, {8192, 2048},  {2048, 8192},
                             {4096, 4096}, {14336, 4096}, {4096, 14336}};
    for (int m : {16, 512, 4096}) {
      for (const auto& nk : models) {
        const int n = nk[0], k = nk[1];
        Dev x(size_t{2} * m * k), w(size_t{2} * n * k), y(size_t{2} * m * n);
        GPU_CHECK(cudaMemset(x.as(), 0, x.bytes()));
        GPU_CHECK(cudaMemset(w.as(), 0, w.bytes()));
        kernels::GemmParams p;
        p.x = x.as(), p.ldx = k, p.w = w.as(), p.ldw = k, p.y = y.as(), p.ldy = n;
        p.m = m, p.n = n, p.k = k;
        char shape[64];
        std::snprintf(shape, sizeof(shape), "m%d n%d k%d f16", m, n, k);
        double cublas_ms = 0;
        for (Impl impl : impls) {
          const double ms = TimeMs([&] { CheckLaunch(Run(impl, p, h), ImplName(impl)); });
          if (impl == Impl::kCublas) cublas_ms = ms;
          char note[48];
          std::snprintf(note, sizeof(note), "%.2fx cuBLAS", cublas_ms / ms);
          AddBench(std::string("gemm ") + ImplName(impl), shape, ms, 2.0 * m * n * k, true,
                   impl == Impl::kCublas ? "" : note);
        }
      }
    }
  }
  cublasDestroy(h);
}

}  // namespace phx::gpu_test
