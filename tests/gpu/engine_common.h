// Shared parts of phx_gpu_engine (engine_main.cc): its options, the PASS/FAIL/SKIP lines, model
// loading on the CPU or CUDA backend and the synthesized models.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "ops/backend.h"
#include "ops/cuda/make_cuda_backend.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"

namespace phx::gpu_engine {

struct Args {
  std::string asset_dir = ".gpu-assets";  // models/stories260K.gguf, vocab/ggml-vocab-*.gguf
  std::string tmp_dir = "/tmp";           // synthesized models
  bool check = true;                      // correctness checks
  bool wgmma = true;                      // the backend may use the wgmma GEMM
  std::string models;                     // checks: comma-separated model names (all if empty)
  bool bench = false;                     // model-level benchmarks
  std::string shapes = "1b,8b";           // --bench shapes: 1b (TinyLlama), 8b (Llama 3 8B)
  int32_t layers = 0;                     // --bench: override the shapes' layer count
  double synth_budget = 90;               // --bench: seconds the 8B synthesis may take (it
                                          // runs with fewer layers when the 1B's rate says
                                          // the full model would not fit)
  bool serve = true;                      // --bench: the 64-stream throughput run (8b)
};

// Whether `name` is one of the comma-separated `list`.
inline bool InList(const std::string& list, const std::string& name) {
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    if (list.compare(pos, comma - pos, name) == 0) return true;
    pos = comma + 1;
  }
  return false;
}

// One result line: "PASS engine <model> <check> <detail>"; counts failures.
void Report(const char* verdict, const std::string& model, const char* check,
            const std::string& detail);
int Failures();

struct Loaded {
  std::unique_ptr<ops::Backend> backend;
  std::unique_ptr<model::Model> model;
};
// Loads `path` on the CPU backend (cuda false) or on a CUDA backend with `opt`.
absl::Status Load(const std::string& path, bool cuda, const ops::cuda::CudaBackendOptions& opt,
                  Loaded* out);

// The "weights" check (engine_weights.cc): the tensors the CUDA backend dequantized to f16 at
// load are exactly the file's 2-D tensors of those types, with their bytes.
void CheckWeightForms(const std::string& name, const Loaded& gpu);
int RunEngineChecks(const Args& args);
int RunEngineBench(const Args& args);

}  // namespace phx::gpu_engine
