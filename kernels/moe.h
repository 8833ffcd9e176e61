// Mixture-of-experts kernels (host launchers), with the semantics of ops::Backend's MoE ops:
//   LaunchMoeRoute    per row of router logits: softmax, the k largest probabilities (ties to the
//                     lower expert index) in descending order, optionally renormalized.
//   LaunchExpertGemv  y[r] = x_r . w[ids[r]]^T for every routed (token, slot) row r, the rows
//                     grouped by expert on the device (no host synchronization), so each selected
//                     expert's weights are streamed once per group of up to kExpertRowsPerPass
//                     rows and unselected experts are never read. Graph-safe: fixed launch shapes.
//   LaunchMoeCombine  out[t] = residual[t] + sum over slots (in order) of weights[t, s] * y[t k +
//   s].
// All activations are f32 (the CUDA backend's), row-major with element strides.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

inline constexpr int kMaxRouteExperts = 1024;  // router width (shared-memory probabilities)
inline constexpr int kMaxRouteTopK = 64;
inline constexpr int kExpertRowsPerPass = 8;  // routed rows sharing one pass over a weight row
inline constexpr int kMaxExpertOutputs = 3;   // products of one x and ids per launch

struct MoeRouteParams {
  const float* logits = nullptr;  // [rows, n_experts], rows logits_stride elements apart
  int64_t logits_stride = 0;
  float* weights = nullptr;  // [rows, k], rows weights_stride apart
  int64_t weights_stride = 0;
  int32_t* ids = nullptr;  // [rows, k] packed
  int32_t rows = 0;
  int32_t n_experts = 0;  // 1..kMaxRouteExperts
  int32_t k = 0;          // 1..min(n_experts, kMaxRouteTopK)
  // Divide the k weights by their sum (at least 2^-14, llama.cpp's clamp).
  bool normalize = false;
};
cudaError_t ValidateMoeRoute(const MoeRouteParams& p);
cudaError_t LaunchMoeRoute(const MoeRouteParams& p, cudaStream_t stream);

struct ExpertGemvOutput {
  const void* w = nullptr;  // [n_experts * n, k] in the device layout of w_dtype (one matrix)
  float* y = nullptr;       // [tokens * top_k, n], rows ldy elements apart
  int64_t ldy = 0;
  int32_t n = 0;
};
struct ExpertGemvParams {
  const float* x = nullptr;      // [tokens or tokens * top_k, k], rows ldx apart
  int64_t ldx = 0;               // multiple of 4 (16-byte rows); x 16-byte aligned
  bool x_per_slot = false;       // x has tokens * top_k rows (each slot its own input)
  const int32_t* ids = nullptr;  // device [tokens, top_k] packed, experts in [0, n_experts)
  int32_t tokens = 0;
  int32_t top_k = 0;
  int32_t n_experts = 0;        // 1..kMaxRouteExperts
  int32_t k = 0;                // inputs per row: a multiple of 8 (q8_0: 32, q4_K and q6_K: 256)
  DType w_dtype = DType::kF16;  // f16, bf16, q8_0 (planar), q4_K, q6_K (planar)
  ExpertGemvOutput out[kMaxExpertOutputs];
  int32_t num_outputs = 0;
  // Device scratch of ExpertWorkspaceBytes(n_experts, tokens * top_k) bytes, 4-byte aligned.
  void* workspace = nullptr;
};
// Scratch for the device grouping: per-expert offsets and the rows in expert order.
size_t ExpertWorkspaceBytes(int32_t n_experts, int64_t routed_rows);
cudaError_t ValidateExpertGemv(const ExpertGemvParams& p);
// Two kernels: the grouping (one CTA), then the products. A row whose id is outside
// [0, n_experts) (never from LaunchMoeRoute) gets zeros instead of reading out of bounds.
cudaError_t LaunchExpertGemv(const ExpertGemvParams& p, cudaStream_t stream);

struct MoeCombineParams {
  const float* y = nullptr;  // [rows * k, dim], rows y_stride apart
  int64_t y_stride = 0;
  const float* weights = nullptr;  // [rows, k], rows weights_stride apart
  int64_t weights_stride = 0;
  const float* residual = nullptr;  // [rows, dim], residual_stride apart
  int64_t residual_stride = 0;
  float* out = nullptr;  // [rows, dim], out_stride apart; may alias residual
  int64_t out_stride = 0;
  int32_t rows = 0;
  int32_t k = 0;
  int32_t dim = 0;
};
cudaError_t ValidateMoeCombine(const MoeCombineParams& p);
cudaError_t LaunchMoeCombine(const MoeCombineParams& p, cudaStream_t stream);

// Expert products by weight type (one explicit instantiation per type, moe_experts.cu).
template <DType kW>
cudaError_t RunExpertGemv(const ExpertGemvParams& p, cudaStream_t stream);

}  // namespace phx::kernels
