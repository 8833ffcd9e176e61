// phx_gpu_engine: the CUDA backend under the real runtime.
//   phx_gpu_engine [--assets DIR] [--tmp DIR] [--no-wgmma] [--models A,B]  checks (engine_check.cc)
//   phx_gpu_engine --bench [--shapes 1b,8b] [--layers N] [--no-serve]  benchmarks (engine_bench.cc)
// DIR holds models/stories260K.gguf and vocab/ggml-vocab-llama-spm.gguf (scripts/build-gpu puts
// them in .gpu-assets). Exit status 1 when a check failed.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ops/cpu/cpu_backend.h"
#include "tests/gpu/engine_common.h"

namespace phx::gpu_engine {
namespace {
int g_failed = 0;
}  // namespace

void Report(const char* verdict, const std::string& model, const char* check,
            const std::string& detail) {
  std::printf("%-4s engine %-24s %-12s %s\n", verdict, model.c_str(), check, detail.c_str());
  std::fflush(stdout);
  if (std::strcmp(verdict, "FAIL") == 0) ++g_failed;
}

int Failures() { return g_failed; }

absl::Status Load(const std::string& path, bool cuda, const ops::cuda::CudaBackendOptions& opt,
                  Loaded* out) {
  if (cuda) {
    auto b = ops::cuda::MakeCudaBackend(opt);
    if (!b.ok()) return b.status();
    out->backend = std::move(*b);
  } else {
    out->backend = std::make_unique<ops::cpu::CpuBackend>(0);
  }
  auto m = model::Model::Load(path, *out->backend);
  if (!m.ok()) return m.status();
  out->model = std::move(*m);
  return absl::OkStatus();
}

}  // namespace phx::gpu_engine

int main(int argc, char** argv) {
  using namespace phx::gpu_engine;
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    const bool has_value = i + 1 < argc;
    if (s == "--assets" && has_value) {
      a.asset_dir = argv[++i];
    } else if (s == "--tmp" && has_value) {
      a.tmp_dir = argv[++i];
    } else if (s == "--models" && has_value) {
      a.models = argv[++i];
    } else if (s == "--no-wgmma") {
      a.wgmma = false;
    } else if (s == "--bench") {
      a.bench = true;
      a.check = false;
    } else if (s == "--shapes" && has_value) {
      a.shapes = argv[++i];
    } else if (s == "--layers" && has_value) {
      a.layers = std::atoi(argv[++i]);
    } else if (s == "--synth-budget" && has_value) {
      a.synth_budget = std::atof(argv[++i]);
    } else if (s == "--no-serve") {
      a.serve = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--assets DIR] [--tmp DIR] [--no-wgmma] [--models A,B] [--bench "
                   "[--shapes 1b,8b] [--synth-budget S] "
                   "[--layers N] [--no-serve]]\n",
                   argv[0]);
      return 2;
    }
  }
  if (phx::ops::cuda::CudaDeviceCount() == 0) {
    std::printf("FAIL engine: no CUDA device\n");
    return 1;
  }
  int rc = 0;
  if (a.check) rc = RunEngineChecks(a);
  if (a.bench) rc = std::max(rc, RunEngineBench(a));
  return rc;
}
