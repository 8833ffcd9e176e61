#include "server/cli/setup.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"

namespace phx::cli {

absl::StatusOr<std::unique_ptr<ops::Backend>> MakeBackend(const RuntimeOptions& o) {
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda") {
    return absl::InvalidArgumentError(StrCat("--device: '", o.device, "' is not auto, cpu or cuda"));
  }
  if (o.device == "cuda") {
    return absl::UnimplementedError("--device cuda: this build has no CUDA engine backend yet");
  }
  if (o.device == "auto" && !o.quiet) {
    std::fprintf(stderr, "device: cpu (no CUDA engine backend in this build)\n");
  }
  const int threads = o.threads > 0 ? o.threads
                                    : static_cast<int>(std::thread::hardware_concurrency());
  return std::unique_ptr<ops::Backend>(new ops::cpu::CpuBackend(threads));
}

absl::StatusOr<Runtime> BuildRuntime(const RuntimeOptions& o) {
  Runtime rt;
  PHX_ASSIGN_OR_RETURN(rt.backend, MakeBackend(o));
  const auto t0 = std::chrono::steady_clock::now();
  // A progress line on a terminal; logs (not a terminal) get only the summary below.
  const bool tty = !o.quiet && isatty(STDERR_FILENO);
  int last_pct = -1;
  auto progress = [&](uint64_t done, uint64_t total) {
    const int pct = total == 0 ? 100 : static_cast<int>(100 * done / total);
    if (tty && pct / 10 != last_pct / 10) {
      std::fprintf(stderr, "\rloading %s: %3d%%", o.model.c_str(), pct);
      last_pct = pct;
    }
  };
  PHX_ASSIGN_OR_RETURN(rt.model, model::Model::Load(o.model, *rt.backend, progress));
  if (tty) std::fprintf(stderr, "\n");
  engine::EngineConfig ec;
  ec.max_num_seqs = o.max_batch;
  ec.max_tokens_per_step = std::max(o.max_tokens_per_step, o.max_batch);
  ec.kv_cache_bytes = o.kv_cache_mb << 20;
  ec.max_model_len = o.ctx;
  ec.prefix_cache = o.prefix_cache;
  if (o.kv_dtype == "f16") {
    ec.kv_dtype = DType::kF16;
  } else if (o.kv_dtype == "f32") {
    ec.kv_dtype = DType::kF32;
  } else {
    return absl::InvalidArgumentError(StrCat("--kv-dtype: '", o.kv_dtype, "' is not f16 or f32"));
  }
  PHX_ASSIGN_OR_RETURN(rt.engine, engine::Engine::Create(*rt.model, *rt.backend, ec));
  if (!o.quiet) {
    const auto& kc = rt.engine->cache().config();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr,
                 "loaded in %.2fs: %s | backend %s | KV %s %d blocks x %d tokens (%.1f MiB, %d "
                 "tokens) | max batch %d\n",
                 secs, rt.model->config().Summary().c_str(), std::string(rt.backend->name()).c_str(),
                 std::string(DTypeName(kc.dtype)).c_str(), kc.num_blocks, kc.block_size,
                 kc.BytesPerBlock() * kc.num_blocks / 1048576.0, kc.num_blocks * kc.block_size,
                 o.max_batch);
  }
  return rt;
}

}  // namespace phx::cli
