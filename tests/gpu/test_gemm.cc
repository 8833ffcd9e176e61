// Dense f16/bf16 GEMM: cuBLAS, mma.sync and wgmma against the float64 reference of gemv_ref.h,
// then issue 31's shapes against cuBLAS (torch_ref.py adds torch.matmul in the same run).
#include <cublas_v2.h>

#include "kernels/gemm.h"
#include "tests/gpu/common.h"
#include "tests/gpu/gemv_ref.h"

namespace phx::gpu_test {
namespace {

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
  const DotRef ref = ReferenceDot(xv, wv, m, n, k);
  Compare(std::string("gemm ") + ImplName(impl), shape, ToDoubles(out.data(), ref.y.size(), yt),
          ref.y, DotTol(ref.y, ref.abs_sum, k, yt));
}

}  // namespace

void RunGemmTests(bool check, bool bench, bool wgmma) {
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) {
    Report("cublas", "cublasCreate", false, "failed");
    return;
  }
  int major = 0;
  GPU_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
  if (wgmma && major != 9) {
    std::printf("SKIP  wgmma: needs a compute capability 9.x device (this one is %d.x)\n", major);
    wgmma = false;
    check = false;
  }
  // Checks: cuBLAS and mma.sync, or wgmma alone; benchmarks: cuBLAS, mma.sync (+ wgmma).
  const std::vector<Impl> impls =
      wgmma ? std::vector<Impl>{Impl::kWgmma} : std::vector<Impl>{Impl::kCublas, Impl::kMma};
  if (check) {
    // Tile tails in every dimension: m 1/37/300, n 200/520 (not multiples of 128), k 264.
    const int shapes[][3] = {{1, 256, 512}, {37, 200, 264}, {128, 128, 64}, {300, 520, 1024}};
    for (Impl impl : impls) {
      for (DType t : {DType::kF16, DType::kBF16}) {
        for (const auto& s : shapes) {
          CheckShape(impl, t, t, s[0], s[1], s[2], h);
          CheckShape(impl, t, DType::kF32, s[0], s[1], s[2], h);
        }
      }
    }
  }
  if (bench) {
    // Issue 31's (M, N, K), bf16 and f16, random inputs; our kernels against cuBLAS here and
    // against torch.matmul in torch_ref.py (same shapes, same run).
    const int shapes[][3] = {
        {1, 4096, 4096}, {16, 4096, 14336}, {512, 4096, 4096}, {4096, 4096, 4096}};
    // wgmma's call re-times cuBLAS for its ratio without repeating cuBLAS's row.
    const std::vector<Impl> timed = wgmma ? std::vector<Impl>{Impl::kCublas, Impl::kWgmma}
                                          : std::vector<Impl>{Impl::kCublas, Impl::kMma};
    for (DType t : {DType::kBF16, DType::kF16}) {
      for (const auto& s : shapes) {
        const int m = s[0], n = s[1], k = s[2];
        Dev x, w, y(size_t{2} * m * n);
        UploadVec(x, FastRandomHalf(static_cast<size_t>(m) * k, t, 1.0));
        UploadVec(w, FastRandomHalf(static_cast<size_t>(n) * k, t, 0.02));
        kernels::GemmParams p;
        p.x = x.as(), p.ldx = k, p.w = w.as(), p.ldw = k, p.y = y.as(), p.ldy = n;
        p.dtype = t, p.y_dtype = t, p.m = m, p.n = n, p.k = k;
        char shape[64], key[64];
        std::snprintf(shape, sizeof(shape), "m%d n%d k%d %s", m, n, k, Name(t));
        double cublas_ms = 0;
        for (Impl impl : timed) {
          const double ms = TimeMs([&] { CheckLaunch(Run(impl, p, h), ImplName(impl)); });
          if (impl == Impl::kCublas) cublas_ms = ms;
          char note[48];
          std::snprintf(note, sizeof(note), "%.2fx cuBLAS", cublas_ms / ms);
          std::snprintf(key, sizeof(key), "gemm:%s:%s:%dx%dx%d", ImplName(impl), Name(t), m, n, k);
          if (impl == Impl::kCublas && wgmma) continue;
          AddBench(std::string("gemm ") + ImplName(impl), shape, ms, 2.0 * m * n * k, true,
                   impl == Impl::kCublas ? "" : note, key);
        }
      }
    }
  }
  cublasDestroy(h);
}

}  // namespace phx::gpu_test
