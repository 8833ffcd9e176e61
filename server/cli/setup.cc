#include "server/cli/setup.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "base/elapsed.h"
#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#if PHX_HAVE_CUDA
#include "ops/cuda/make_cuda_backend.h"
#endif

namespace phx::cli {

absl::StatusOr<std::unique_ptr<ops::Backend>> MakeBackend(const RuntimeOptions& o) {
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda") {
    return absl::InvalidArgumentError(
        StrCat("--device: '", o.device, "' is not auto, cpu or cuda"));
  }
  if (!(o.gpu_memory_utilization > 0.f && o.gpu_memory_utilization <= 1.f)) {
    return absl::InvalidArgumentError(
        StrCat("--gpu-memory-utilization: ", o.gpu_memory_utilization, " is not in (0, 1]"));
  }
#if PHX_HAVE_CUDA
  if (o.device != "cpu") {
    const int devices = ops::cuda::CudaDeviceCount();
    if (devices > 0) {
      ops::cuda::CudaBackendOptions co;
      co.gpu_memory_utilization = o.gpu_memory_utilization;
      auto b = ops::cuda::MakeCudaBackend(co);
      if (!b.ok()) return Annotate(b.status(), StrCat("--device ", o.device));
      if (!o.quiet) std::fprintf(stderr, "device: cuda (%d device(s) present, using 0)\n", devices);
      return std::move(*b);
    }
    if (o.device == "cuda") {
      return absl::FailedPreconditionError(
          "--device cuda: no CUDA device is present (the driver reports none)");
    }
    if (!o.quiet) std::fprintf(stderr, "device: cpu (no CUDA device found)\n");
  }
#else
  if (o.device == "cuda") {
    return absl::UnimplementedError(
        "--device cuda: this build has no CUDA support (rebuild with nvcc and PHALANX_CUDA=ON)");
  }
  if (o.device == "auto" && !o.quiet) {
    std::fprintf(stderr, "device: cpu (this build has no CUDA support)\n");
  }
#endif
  const int threads =
      o.threads > 0 ? o.threads : static_cast<int>(std::thread::hardware_concurrency());
  return std::unique_ptr<ops::Backend>(new ops::cpu::CpuBackend(threads));
}

absl::StatusOr<std::string> CudaFallbackLine(std::string_view device, const absl::Status& cuda) {
  if (cuda.ok()) return absl::InvalidArgumentError("CudaFallbackLine: no error to fall back on");
  if (device != "auto" || !absl::IsUnimplemented(cuda)) return cuda;
  return StrCat("device: cpu (", cuda.message(), ")");
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
  auto loaded = model::Model::Load(o.model, *rt.backend, progress);
  if (tty) std::fprintf(stderr, "\n");
#if PHX_HAVE_CUDA
  if (rt.backend->device() == ops::Device::kCuda) {
    absl::Status cuda = loaded.status();
    if (cuda.ok()) {
      rt.model = std::move(*loaded);
      const model::ModelConfig& mc = rt.model->config();
      cuda = Annotate(ops::cuda::CheckCudaAttentionShape(static_cast<int32_t>(mc.n_head),
                                                         static_cast<int32_t>(mc.n_head_kv),
                                                         static_cast<int32_t>(mc.head_dim)),
                      o.model);
    }
    if (!cuda.ok()) {  // auto: the model runs on the CPU instead (a tensor type, an op, a shape)
      PHX_ASSIGN_OR_RETURN(const std::string line, CudaFallbackLine(o.device, cuda));
      if (!o.quiet) std::fprintf(stderr, "%s\n", line.c_str());
      rt.model.reset();
      RuntimeOptions cpu = o;
      cpu.device = "cpu";
      cpu.quiet = true;
      PHX_ASSIGN_OR_RETURN(rt.backend, MakeBackend(cpu));
      PHX_ASSIGN_OR_RETURN(rt.model, model::Model::Load(o.model, *rt.backend, progress));
    } else if (!o.quiet) {
      auto f16 = ops::cuda::CudaDequantizedAtLoad(*rt.backend);
      if (f16.ok() && f16->tensors > 0) std::fprintf(stderr, "cuda: %s\n", f16->ToString().c_str());
    }
  }
#endif
  if (rt.model == nullptr) {
    PHX_RETURN_IF_ERROR(loaded.status());
    rt.model = std::move(*loaded);
  }
  engine::EngineConfig ec;
  ec.max_num_seqs = o.max_batch;
  ec.max_tokens_per_step = std::max(o.max_tokens_per_step, o.max_batch);
  ec.kv_cache_bytes = o.kv_cache_mb << 20;
  ec.max_model_len = o.ctx;
  ec.prefix_cache = o.prefix_cache;
  ec.embeddings = o.embeddings;
  if (o.pooling == "mean") {
    ec.pooling = model::Pooling::kMean;
  } else if (o.pooling == "cls") {
    ec.pooling = model::Pooling::kCls;
  } else if (o.pooling == "last") {
    ec.pooling = model::Pooling::kLast;
  } else if (!o.pooling.empty()) {
    return absl::InvalidArgumentError(
        StrCat("--pooling: '", o.pooling, "' is not mean, cls or last"));
  }
  if (o.kv_dtype == "f16") {
    ec.kv_dtype = DType::kF16;
  } else if (o.kv_dtype == "f32") {
    ec.kv_dtype = DType::kF32;
  } else if (o.kv_dtype == "bf16") {
    ec.kv_dtype = DType::kBF16;
  } else {
    return absl::InvalidArgumentError(
        StrCat("--kv-dtype: '", o.kv_dtype, "' is not f16, bf16 or f32"));
  }
#if PHX_HAVE_CUDA
  if (rt.backend->device() == ops::Device::kCuda) {
    // The KV cache gets the device memory left under --gpu-memory-utilization after the weights
    // (already uploaded) and the step's scratch.
    const model::ModelConfig& mc = rt.model->config();
    kv::KvCacheConfig kc;
    kc.n_layers = static_cast<int32_t>(mc.n_layer);
    kc.n_kv_heads = static_cast<int32_t>(mc.n_head_kv);
    kc.head_dim = static_cast<int32_t>(mc.head_dim);
    kc.block_size = ec.block_size;
    kc.dtype = ec.kv_dtype;
    const int64_t scratch =
        ops::cuda::CudaScratchEstimate(mc.n_embd, mc.q_dim(), mc.kv_dim(), mc.n_ff, mc.vocab_size,
                                       ec.max_tokens_per_step, ec.max_num_seqs);
    auto plan = ops::cuda::PlanCudaKvCache(*rt.backend, kc.BytesPerBlock(), kc.block_size, scratch);
    if (!plan.ok()) return Annotate(plan.status(), o.model);
    ec.num_blocks = plan->num_blocks;
    rt.memory_plan = plan->ToString(o.gpu_memory_utilization);
    if (!o.quiet) std::fprintf(stderr, "memory plan: %s\n", rt.memory_plan.c_str());
  }
#endif
  PHX_ASSIGN_OR_RETURN(rt.engine, engine::Engine::Create(*rt.model, *rt.backend, ec));
  if (!o.quiet) {
    const auto& kc = rt.engine->cache().config();
    const double secs = SecondsSince(t0);
    std::fprintf(stderr,
                 "loaded in %.2fs: %s | backend %s | KV %s %d blocks x %d tokens (%.1f MiB, %d "
                 "tokens) | max batch %d\n",
                 secs, rt.model->config().Summary().c_str(),
                 std::string(rt.backend->name()).c_str(), std::string(DTypeName(kc.dtype)).c_str(),
                 kc.num_blocks, kc.block_size, kc.BytesPerBlock() * kc.num_blocks / 1048576.0,
                 kc.num_blocks * kc.block_size, o.max_batch);
  }
  return rt;
}

}  // namespace phx::cli
