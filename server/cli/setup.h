// Builds the backend, model and engine from command-line options (shared by generate, bench
// and serve). Progress and the one-line summary go to stderr.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ops/backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"

namespace phx::cli {

struct RuntimeOptions {
  std::string model;
  std::string device = "auto";  // auto | cpu | cuda
  int threads = 0;              // 0: one per core
  std::string kv_dtype = "f16";
  int64_t kv_cache_mb = 256;             // CPU; the CUDA backend sizes its cache from free memory
  float gpu_memory_utilization = 0.90f;  // CUDA: fraction of device memory for the whole process
  int32_t max_batch = 64;
  int32_t max_tokens_per_step = 512;
  int32_t ctx = 0;  // 0: the model's context length
  bool prefix_cache = true;
  // Embedding requests on a model whose metadata names no pooling type (--embeddings), and the
  // pooling to use (--pooling: mean | cls | last; "" = the model's, or last).
  bool embeddings = false;
  std::string pooling;
  bool quiet = false;
};

struct Runtime {
  std::unique_ptr<ops::Backend> backend;
  std::string memory_plan;  // CUDA: the device memory plan (weights, KV, blocks, tokens)
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
};

// --device: cpu builds the CPU backend; cuda the CUDA backend (an error without a device or in a
// build without CUDA); auto the CUDA backend when a device is present, else the CPU backend with
// one line on stderr saying why.
absl::StatusOr<std::unique_ptr<ops::Backend>> MakeBackend(const RuntimeOptions& o);
// When a model cannot run on the CUDA backend - an op, an attention shape or a tensor type its
// kernels lack (an UnimplementedError naming it, e.g. "tensor blk.0.ffn_gate_exps.weight: cuda
// backend: matmul_experts does not support q4_K") - --device auto runs it on the CPU: returns
// the line to print ("device: cpu (<why>)"). Under --device cuda, and for every other error
// (out of memory, a corrupt file, a CUDA failure), the error itself. Pure.
absl::StatusOr<std::string> CudaFallbackLine(std::string_view device, const absl::Status& cuda);
absl::StatusOr<Runtime> BuildRuntime(const RuntimeOptions& o);

}  // namespace phx::cli
