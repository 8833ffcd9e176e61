// Builds the backend, model and engine from command-line options (shared by generate, bench
// and serve). Progress and the one-line summary go to stderr.
#pragma once

#include <memory>
#include <string>

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
  int64_t kv_cache_mb = 256;
  int32_t max_batch = 64;
  int32_t max_tokens_per_step = 512;
  int32_t ctx = 0;              // 0: the model's context length
  bool prefix_cache = true;
  bool quiet = false;
};

struct Runtime {
  std::unique_ptr<ops::Backend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
};

absl::StatusOr<std::unique_ptr<ops::Backend>> MakeBackend(const RuntimeOptions& o);
absl::StatusOr<Runtime> BuildRuntime(const RuntimeOptions& o);

}  // namespace phx::cli
