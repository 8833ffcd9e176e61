// The CUDA backend as runtime and server code see it: options, a factory returning the generic
// ops::Backend, and the device-memory plan that sizes the paged KV cache. This header includes
// no CUDA header (it is safe for runtime/ and server/); the library behind it exists only in
// CUDA builds (PHALANX_HAVE_CUDA, compile definition PHX_HAVE_CUDA=1 on its users).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/dtype.h"
#include "ops/backend.h"

namespace phx::ops::cuda {

struct CudaBackendOptions {
  int device = 0;  // CUDA device ordinal
  // The fraction of the device's memory this process may use in all (weights, activations,
  // KV cache); the KV cache gets what is left of it after the weights and the scratch.
  float gpu_memory_utilization = 0.90f;
  // F32 weight matrices are converted at upload to this type (f16 or bf16); f16/bf16 weights are
  // uploaded as they are, Q8_0, Q4_K, Q5_K and Q6_K stay quantized, the other quantized types
  // are dequantized to f16 (CudaWeightFormOf).
  DType f32_weight_type = DType::kF16;
  // Dense GEMMs through cuBLAS instead of our mma.sync/wgmma kernels.
  bool prefer_cublas = false;
  // Our wgmma GEMM on compute capability 9.x devices (else mma.sync).
  bool use_wgmma = true;
  // Quantized weights with more than 8 activation rows are dequantized into a workspace of at
  // most this many bytes and multiplied by the tensor-core GEMM; larger matrices stream through
  // the weight GEMV in passes of 8 rows.
  int64_t dequant_workspace_bytes = int64_t{256} << 20;
  // Decode steps recorded as CUDA graphs (one per padded batch size, ops/cuda/graph_policy.h)
  // and replayed, instead of launching every kernel of every step.
  bool cuda_graphs = true;
  // The largest padded batch recorded as a graph (larger decode steps run eagerly).
  int32_t max_graph_rows = 256;
  // Fused launches: a block's residual add with the next norm, RoPE with the KV write, the
  // q/k/v and gate/up products of one input in one GEMV launch reading f32 activations, decode
  // attention reading f32 q and writing f32 output. Off: one launch per op as before (for the
  // launch-count comparison in tests/gpu).
  bool fuse_ops = true;
};

// Number of CUDA devices the driver reports (0 without a driver or a device; never an error).
int CudaDeviceCount();

// A CUDA backend on options.device with its own stream (one per engine). Errors: no device,
// an invalid option (InvalidArgument naming it), or a CUDA failure.
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaBackendOptions& options);

// Whether the attention kernels take this shape: UnimplementedError naming the value otherwise
// (head_dim 64 or 128; n_heads a positive multiple of n_kv_heads). Plain host code.
absl::Status CheckCudaAttentionShape(int32_t n_heads, int32_t n_kv_heads, int32_t head_dim);

// How the CUDA backend holds a weight matrix (or embedding table) of `dtype` (plain host code;
// CudaBackend::Supports answers kMatmul and kEmbedding with it):
//   kNative: its kernels read the type: f16, bf16, q8_0, q4_K, q5_K, q6_K (GEMV for decode,
//     dequantize + tensor-core GEMM for prefill), and f32 (converted to f16/bf16 at upload).
//   kF16AtLoad: q4_0, q4_1, q5_0, q5_1, q2_K, q3_K, iq4_nl, iq4_xs, mxfp4: dequantized to f16
//     once at upload (bit-exact with base/dtype.h DequantizeRow, then rounded to f16), then the
//     f16 kernels; costs 16 bits per weight instead of the type's bits.
//   kNone: anything else (the model then runs on the CPU under --device auto).
enum class CudaWeightForm { kNone, kNative, kF16AtLoad };
CudaWeightForm CudaWeightFormOf(DType dtype);

// The weights a CUDA backend dequantized to f16 at upload (kF16AtLoad), for the load log line.
struct CudaF16AtLoad {
  int64_t tensors = 0;
  int64_t file_bytes = 0;    // their quantized bytes (as in the GGUF file)
  int64_t device_bytes = 0;  // their f16 bytes on the device
  std::string types;         // their types, "q5_0, q4_1" (first-seen order)
  int64_t extra_bytes() const { return device_bytes - file_bytes; }
  // "dequantized to f16 at load: 7 tensors (q5_0, q4_1), 1234 quantized bytes -> 5678 device
  //  bytes (+4444 bytes, +0.0 MiB of device memory)"
  std::string ToString() const;
};
// Of a CUDA backend; InvalidArgument for another backend.
absl::StatusOr<CudaF16AtLoad> CudaDequantizedAtLoad(const Backend& backend);

// The device memory plan, computed after the weights are uploaded.
struct CudaMemoryPlan {
  std::string device_name;
  int64_t total_bytes = 0;    // device memory
  int64_t free_bytes = 0;     // free when planned (weights already uploaded)
  int64_t weight_bytes = 0;   // uploaded by this backend
  int64_t scratch_bytes = 0;  // activations and workspaces, reserved
  int64_t kv_bytes = 0;       // for the KV cache
  int32_t num_blocks = 0;     // KV blocks of kv_bytes
  int32_t block_size = 0;
  int64_t max_tokens() const { return int64_t{num_blocks} * block_size; }
  // "weights 1234.5 MiB, KV 5678.9 MiB (355 blocks x 16 = 5680 tokens), scratch 300.0 MiB,
  //  device H100 80 GB (free 70000.0 of 81000.0 MiB, utilization 0.90)"
  std::string ToString(float utilization) const;
};

// Sizes the KV cache of a CUDA backend: utilization * total - (memory in use on the device,
// by any process) - scratch_bytes, in whole blocks of bytes_per_block. ResourceExhausted with
// the numbers when not even one block fits; InvalidArgument when `backend` is not a CUDA backend.
absl::StatusOr<CudaMemoryPlan> PlanCudaKvCache(Backend& backend, int64_t bytes_per_block,
                                               int32_t block_size, int64_t scratch_bytes);

// The device bytes of the activation scratch the forward pass and the backend's workspaces need
// for a step of `max_tokens` tokens and `max_logit_rows` logits rows (an upper estimate,
// including a fixed margin for cuBLAS and attention plans).
int64_t CudaScratchEstimate(int64_t n_embd, int64_t q_dim, int64_t kv_dim, int64_t n_ff,
                            int64_t vocab, int64_t max_tokens, int64_t max_logit_rows);

}  // namespace phx::ops::cuda
