#include "ops/cuda/make_cuda_backend.h"

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cuda/cuda_backend.h"

namespace phx::ops::cuda {
namespace {

double MiB(int64_t bytes) { return static_cast<double>(bytes) / 1048576.0; }

// Fixed scratch margin: cuBLAS workspace, attention plans and decode partials, the CUDA
// runtime's own allocations after start-up.
constexpr int64_t kScratchMargin = int64_t{256} << 20;

}  // namespace

int CudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: not an error of ours
    return 0;
  }
  return n;
}

absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options) {
  PHX_ASSIGN_OR_RETURN(std::unique_ptr<CudaBackend> b, CudaBackend::Create(options));
  return std::unique_ptr<Backend>(std::move(b));
}

absl::Status CheckCudaAttentionShape(int32_t n_heads, int32_t n_kv_heads, int32_t head_dim) {
  if (head_dim != 64 && head_dim != 128) {
    return absl::UnimplementedError(StrCat("cuda backend: attention does not support head_dim ",
                                           head_dim, " (supported: 64, 128)"));
  }
  if (n_heads <= 0 || n_kv_heads <= 0 || n_heads % n_kv_heads != 0) {
    return absl::UnimplementedError(StrCat("cuda backend: attention needs n_heads (", n_heads,
                                           ") a multiple of n_kv_heads (", n_kv_heads, ")"));
  }
  return absl::OkStatus();
}

CudaWeightForm CudaWeightFormOf(DType dtype) {
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
    case DType::kQ8_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
      return CudaWeightForm::kNative;
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kIQ4_NL:
    case DType::kIQ4_XS:
    case DType::kMXFP4:
      return CudaWeightForm::kF16AtLoad;
    case DType::kI32:
      return CudaWeightForm::kNone;
  }
  return CudaWeightForm::kNone;
}

std::string CudaF16AtLoad::ToString() const {
  return fmt::format(
      "dequantized to f16 at load: {} tensors ({}), {} quantized bytes -> {} device bytes "
      "(+{} bytes, +{:.1f} MiB of device memory)",
      tensors, types, file_bytes, device_bytes, extra_bytes(), MiB(extra_bytes()));
}

absl::StatusOr<CudaF16AtLoad> CudaDequantizedAtLoad(const Backend& backend) {
  const auto* cuda = dynamic_cast<const CudaBackend*>(&backend);
  if (cuda == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("dequantized weights: backend '", backend.name(), "' is not the CUDA backend"));
  }
  return cuda->f16_at_load();
}

std::string CudaMemoryPlan::ToString(float utilization) const {
  return fmt::format(
      "weights {:.1f} MiB, KV {:.1f} MiB ({} blocks x {} = {} tokens), scratch {:.1f} MiB, "
      "device {} (free {:.1f} of {:.1f} MiB, utilization {:.2f})",
      MiB(weight_bytes), MiB(kv_bytes), num_blocks, block_size, max_tokens(), MiB(scratch_bytes),
      device_name, MiB(free_bytes), MiB(total_bytes), utilization);
}

absl::StatusOr<CudaMemoryPlan> PlanCudaKvCache(Backend& backend, int64_t bytes_per_block,
                                               int32_t block_size, int64_t scratch_bytes) {
  auto* cuda = dynamic_cast<CudaBackend*>(&backend);
  if (cuda == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("KV cache planning: backend '", backend.name(), "' is not the CUDA backend"));
  }
  if (bytes_per_block <= 0 || block_size <= 0 || scratch_bytes < 0) {
    return absl::InvalidArgumentError("KV cache planning: sizes must be positive");
  }
  CudaMemoryPlan plan;
  plan.device_name = cuda->device_name();
  plan.weight_bytes = cuda->weight_bytes();
  plan.scratch_bytes = scratch_bytes;
  plan.block_size = block_size;
  PHX_RETURN_IF_ERROR(cuda->MemoryInfo(&plan.free_bytes, &plan.total_bytes));
  const float util = cuda->options().gpu_memory_utilization;
  const int64_t used = plan.total_bytes - plan.free_bytes;  // weights, context, other processes
  const int64_t budget =
      static_cast<int64_t>(static_cast<double>(plan.total_bytes) * util) - used - scratch_bytes;
  const int64_t blocks =
      std::min<int64_t>(std::max<int64_t>(budget, 0) / bytes_per_block, int64_t{1} << 24);
  if (blocks < 1) {
    return absl::ResourceExhaustedError(fmt::format(
        "not enough device memory for the KV cache on {}: {:.1f} MiB total x utilization {:.2f} "
        "= {:.1f} MiB, {:.1f} MiB in use (weights {:.1f} MiB), scratch {:.1f} MiB, one KV block "
        "{:.3f} MiB; raise --gpu-memory-utilization, lower --max-tokens-per-step or use a "
        "smaller model",
        plan.device_name, MiB(plan.total_bytes), util, MiB(plan.total_bytes) * util, MiB(used),
        MiB(plan.weight_bytes), MiB(scratch_bytes), MiB(bytes_per_block)));
  }
  plan.num_blocks = static_cast<int32_t>(blocks);
  plan.kv_bytes = blocks * bytes_per_block;
  return plan;
}

int64_t CudaScratchEstimate(int64_t n_embd, int64_t q_dim, int64_t kv_dim, int64_t n_ff,
                            int64_t vocab, int64_t max_tokens, int64_t max_logit_rows) {
  const int64_t T = max_tokens, R = max_logit_rows;
  // Forward's f32 buffers: x, h, o [T, D]; q, attn [T, q_dim]; k, v [T, kv_dim]; gate, up
  // [T, F]; xr [R, D]; logits [R, V]; and the index arrays.
  const int64_t forward =
      4 * (T * (3 * n_embd + 2 * q_dim + 2 * kv_dim + 2 * n_ff) + R * (n_embd + vocab) + 4 * T);
  // The backend's 16-bit copies: the matmul input, attention q and output.
  const int64_t backend = 2 * T * (std::max({n_embd, q_dim, n_ff}) + 2 * q_dim);
  return forward + backend + kScratchMargin;
}

}  // namespace phx::ops::cuda
