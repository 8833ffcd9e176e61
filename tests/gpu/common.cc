#include "tests/gpu/common.h"

#include <algorithm>

#include "kernels/dispatch.h"
#include "kernels/error.h"

namespace phx::gpu_test {
namespace {

int g_failures = 0;
struct BenchRow {
  std::string kernel, shape, note;
  double ms, amount;
  bool flops;
};
std::vector<BenchRow>& Rows() {
  static std::vector<BenchRow> rows;
  return rows;
}

}  // namespace

void CheckLaunch(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "%s failed: %s (%s)\n", what, cudaGetErrorString(e),
               kernels::LastErrorMessage());
  std::exit(2);
}

std::mt19937_64& Rng() {
  static std::mt19937_64 rng(std::random_device{}());
  return rng;
}
double Uniform(double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(Rng());
}
double Normal(double sd) { return std::normal_distribution<double>(0.0, sd)(Rng()); }

uint16_t ToBits(float f, DType t) {
  if (t == DType::kBF16) {
    const __nv_bfloat16 b = __float2bfloat16_rn(f);
    uint16_t r;
    std::memcpy(&r, &b, 2);
    return r;
  }
  const __half h = __float2half_rn(f);
  uint16_t r;
  std::memcpy(&r, &h, 2);
  return r;
}

float FromBits(uint16_t h, DType t) {
  if (t == DType::kBF16) {
    __nv_bfloat16_raw raw;
    raw.x = h;
    return __bfloat162float(__nv_bfloat16(raw));
  }
  __half_raw raw;
  raw.x = h;
  return __half2float(__half(raw));
}

std::vector<uint16_t> RandomHalf(size_t n, DType t, double sd, std::vector<double>* values) {
  std::vector<uint16_t> bits(n);
  values->resize(n);
  for (size_t i = 0; i < n; ++i) {
    bits[i] = ToBits(static_cast<float>(Normal(sd)), t);
    (*values)[i] = FromBits(bits[i], t);
  }
  return bits;
}

size_t ElemBytes(DType t) { return t == DType::kF32 ? 4 : 2; }
const char* Name(DType t) { return kernels::KernelTypeName(t); }

std::vector<double> ToDoubles(const void* host, size_t n, DType t) {
  std::vector<double> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::kF32) {
      out[i] = static_cast<const float*>(host)[i];
    } else {
      out[i] = FromBits(static_cast<const uint16_t*>(host)[i], t);
    }
  }
  return out;
}

Tol OutputTol(DType t, double scale) {
  switch (t) {
    case DType::kF32:
      return {1e-4 * scale, 1e-4};
    case DType::kF16:
      return {2e-3 * scale, 2e-3};  // 2^-11 rounding plus f32 accumulation
    default:
      return {1.6e-2 * scale, 1.6e-2};  // bf16: 2^-8 rounding
  }
}

bool Report(const std::string& op, const std::string& shape, bool ok, const std::string& note) {
  std::printf("%s  %-34s %-40s %s\n", ok ? "PASS" : "FAIL", op.c_str(), shape.c_str(),
              note.c_str());
  std::fflush(stdout);
  if (!ok) ++g_failures;
  return ok;
}

bool Compare(const std::string& op, const std::string& shape, const std::vector<double>& got,
             const std::vector<double>& want, Tol tol) {
  size_t bad = 0, first = 0;
  double worst = 0;
  if (got.size() != want.size()) return Report(op, shape, false, "size mismatch");
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const double lim = tol.atol + tol.rtol * std::fabs(want[i]);
    if (!(err <= lim)) {  // NaN fails
      if (bad++ == 0) first = i;
    }
    if (std::isfinite(err)) worst = std::max(worst, err / lim);
  }
  char note[160];
  if (bad == 0) {
    std::snprintf(note, sizeof(note), "worst err/tol %.3f (atol %.1e rtol %.1e)", worst, tol.atol,
                  tol.rtol);
  } else {
    std::snprintf(note, sizeof(note), "%zu/%zu bad; first [%zu] got %.6g want %.6g", bad,
                  got.size(), first, got[first], want[first]);
  }
  return Report(op, shape, bad == 0, note);
}

double TimeMs(const std::function<void()>& fn, int runs, int warmup) {
  for (int i = 0; i < warmup; ++i) fn();
  cudaEvent_t a, b;
  GPU_CHECK(cudaEventCreate(&a));
  GPU_CHECK(cudaEventCreate(&b));
  std::vector<float> t(runs);
  for (int i = 0; i < runs; ++i) {
    GPU_CHECK(cudaEventRecord(a));
    fn();
    GPU_CHECK(cudaEventRecord(b));
    GPU_CHECK(cudaEventSynchronize(b));
    GPU_CHECK(cudaEventElapsedTime(&t[i], a, b));
  }
  GPU_CHECK(cudaEventDestroy(a));
  GPU_CHECK(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[runs / 2];
}

Roofline& Roof() {
  static Roofline r;
  return r;
}

void AddBench(const std::string& kernel, const std::string& shape, double ms, double amount,
              bool flops, const std::string& note) {
  Rows().push_back({kernel, shape, note, ms, amount, flops});
}

void PrintBenchTable() {
  std::printf("\n== Benchmark (median of 20; roofline: copy %.0f GB/s, cuBLAS f16 %.1f TFLOP/s)\n",
              Roof().gbps, Roof().tflops);
  std::printf("%-26s %-34s %10s %12s %8s  %s\n", "kernel", "shape", "time(us)", "achieved", "roof%",
              "note");
  for (const BenchRow& r : Rows()) {
    const double rate = r.amount / (r.ms * 1e-3) / (r.flops ? 1e12 : 1e9);
    const double roof = r.flops ? Roof().tflops : Roof().gbps;
    char achieved[32];
    std::snprintf(achieved, sizeof(achieved), "%.1f %s", rate, r.flops ? "TF/s" : "GB/s");
    std::printf("%-26s %-34s %10.1f %12s %7.1f%%  %s\n", r.kernel.c_str(), r.shape.c_str(),
                r.ms * 1e3, achieved, roof > 0 ? 100.0 * rate / roof : 0.0, r.note.c_str());
  }
}

int Failures() { return g_failures; }

}  // namespace phx::gpu_test
