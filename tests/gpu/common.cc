#include "tests/gpu/common.h"

#include <algorithm>

#include "kernels/dispatch.h"
#include "kernels/error.h"

namespace phx::gpu_test {
namespace {

int g_failures = 0;
int g_checks = 0;
struct BenchRow {
  std::string kernel, shape, note, key;
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
  // A failed launch ends this suite's process (run.sh runs each suite in its own).
  std::printf("FAIL  launch %s: %s (%s)\n", what, cudaGetErrorString(e),
              kernels::LastErrorMessage());
  std::fflush(stdout);
  std::exit(2);
}

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

bool Report(const std::string& op, const std::string& shape, bool ok, const std::string& note) {
  std::printf("%s  %-34s %-40s %s\n", ok ? "PASS" : "FAIL", op.c_str(), shape.c_str(),
              note.c_str());
  std::fflush(stdout);
  ++g_checks;
  if (!ok) ++g_failures;
  return ok;
}

bool Compare(const std::string& op, const std::string& shape, const std::vector<double>& got,
             const std::vector<double>& want, const std::vector<double>& tol) {
  const Verdict v = Judge(got, want, tol);
  return Report(op, shape, v.ok(), Describe(v, got, want, tol));
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
              bool flops, const std::string& note, const std::string& key) {
  Rows().push_back({kernel, shape, note, key, ms, amount, flops});
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
  // Machine-readable copies for torch_ref.py: bench|key|microseconds|rate|unit|roof%.
  for (const BenchRow& r : Rows()) {
    if (r.key.empty()) continue;
    const double rate = r.amount / (r.ms * 1e-3) / (r.flops ? 1e12 : 1e9);
    const double roof = r.flops ? Roof().tflops : Roof().gbps;
    std::printf("bench|%s|%.3f|%.2f|%s|%.1f\n", r.key.c_str(), r.ms * 1e3, rate,
                r.flops ? "TF/s" : "GB/s", roof > 0 ? 100.0 * rate / roof : 0.0);
  }
}

int Failures() { return g_failures; }
int Checks() { return g_checks; }

}  // namespace phx::gpu_test
