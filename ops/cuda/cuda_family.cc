// CudaBackend: the model-family ops of issue 24 beyond the Llama set: post-norms (PostNormAdd),
// GeGLU, scaled embeddings, the final logit soft-cap (a pass after MatmulMany's products) and the
// mixture-of-experts router, grouped expert products and combination. Per-head q/k RMSNorm is
// RmsNorm with a short w (cuda_backend.cc); RoPE scaling and attention soft-cap/window are in
// cuda_attention.cc. None of these synchronizes with the host or moves a buffer once its scratch
// has grown, so all of them can be recorded in a step graph.
#include <cmath>

#include "base/status.h"
#include "base/strings.h"
#include "kernels/elementwise.h"
#include "kernels/moe.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/device_checks.h"
#include "ops/cuda/norm_params.h"

namespace phx::ops::cuda {

absl::Status CudaBackend::PostNormAdd(const Tensor& residual, const Tensor& x, const Tensor& w,
                                      float eps, const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckDeviceF32("post_norm_add", "x", x, -1, -1));
  const int64_t D = x.cols();
  PHX_RETURN_IF_ERROR(CheckDeviceF32("post_norm_add", "residual", residual, x.rows(), D));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("post_norm_add", "w", w, 1, D));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("post_norm_add", "out", out, x.rows(), D));
  kernels::RmsNormParams p = F32RmsNormParams(x, w, eps, out);
  p.post_add = residual.data;
  p.post_add_stride = ElemStride(residual);
  return Run(kernels::LaunchRmsNorm, p, "post_norm_add");
}

absl::Status CudaBackend::GeGlu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  return GatedUnit("geglu", gate, up, out, /*gelu_tanh=*/true);
}

absl::Status CudaBackend::Softcap(const Tensor& y, float cap) {
  kernels::SoftcapParams p;
  p.y = static_cast<float*>(y.data);
  p.stride = ElemStride(y);
  p.rows = static_cast<int32_t>(y.rows());
  p.cols = static_cast<int32_t>(y.cols());
  p.cap = cap;
  return Run(kernels::LaunchSoftcap, p, "matmul: logit soft-cap");
}

absl::Status CudaBackend::MoeRoute(const Tensor& logits, int32_t k, bool normalize,
                                   const Tensor& weights, const Tensor& ids) {
  PHX_RETURN_IF_ERROR(CheckDeviceF32("moe_route", "logits", logits, -1, -1));
  const int64_t T = logits.rows(), E = logits.cols();
  if (k <= 0 || k > E) {
    return absl::InvalidArgumentError(StrCat("moe_route: k = ", k, " outside 1..", E));
  }
  PHX_RETURN_IF_ERROR(CheckDeviceF32("moe_route", "weights", weights, T, k));
  PHX_RETURN_IF_ERROR(CheckDeviceI32("moe_route", "ids", ids, T * k));
  PHX_RETURN_IF_ERROR(CheckInt32("moe_route", "experts", E));
  kernels::MoeRouteParams p;
  p.logits = static_cast<const float*>(logits.data);
  p.logits_stride = ElemStride(logits);
  p.weights = static_cast<float*>(weights.data);
  p.weights_stride = ElemStride(weights);
  p.ids = static_cast<int32_t*>(ids.data);
  p.rows = static_cast<int32_t>(T);
  p.n_experts = static_cast<int32_t>(E);
  p.k = k;
  p.normalize = normalize;
  return Run(kernels::LaunchMoeRoute, p, "moe_route");
}

absl::Status CudaBackend::MatmulExperts(const Tensor& x, const Tensor& ids,
                                        std::span<const ExpertOut> outs) {
  PHX_RETURN_IF_ERROR(Healthy());
  PHX_RETURN_IF_ERROR(CheckDevice("matmul_experts", "ids", ids));
  if (ids.ndim != 2) {
    return absl::InvalidArgumentError(
        StrCat("matmul_experts: ids must be [T, k] (", ids.ShapeString(), ")"));
  }
  const int64_t T = ids.rows(), k = ids.cols();
  PHX_RETURN_IF_ERROR(CheckDeviceI32("matmul_experts", "ids", ids, T * k));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("matmul_experts", "x", x, -1, -1));
  const int64_t K = x.cols();
  if (x.rows() != T && x.rows() != T * k) {
    return absl::InvalidArgumentError(
        StrCat("matmul_experts: x must have ", T, " or ", T * k, " rows (", x.ShapeString(), ")"));
  }
  if (outs.empty() || T == 0) return absl::OkStatus();
  if (outs.size() > static_cast<size_t>(kernels::kMaxExpertOutputs)) {
    for (size_t i = 0; i < outs.size(); i += kernels::kMaxExpertOutputs) {
      const size_t n = std::min<size_t>(outs.size() - i, kernels::kMaxExpertOutputs);
      PHX_RETURN_IF_ERROR(MatmulExperts(x, ids, outs.subspan(i, n)));
    }
    return absl::OkStatus();
  }
  const int64_t E = outs[0].w->ndim == 3 ? outs[0].w->shape[0] : 0;
  kernels::ExpertGemvParams p;
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor& w = *outs[i].w;
    PHX_RETURN_IF_ERROR(CheckDevice("matmul_experts", "w", w));
    PHX_RETURN_IF_ERROR(CheckSupported(Op::kMatmulExperts, w.dtype));
    if (w.ndim != 3 || w.shape[0] != E || w.shape[2] != K || !w.packed() ||
        w.dtype != outs[0].w->dtype) {
      return absl::InvalidArgumentError(StrCat("matmul_experts: w must be packed [", E, ", N, ", K,
                                               "] of one type (", w.ShapeString(), ")"));
    }
    PHX_RETURN_IF_ERROR(CheckDeviceF32("matmul_experts", "y", *outs[i].y, T * k, w.shape[1]));
    PHX_RETURN_IF_ERROR(CheckInt32("matmul_experts", "N", w.shape[1]));
    p.out[i].w = w.data;
    p.out[i].y = static_cast<float*>(outs[i].y->data);
    p.out[i].ldy = ElemStride(*outs[i].y);
    p.out[i].n = static_cast<int32_t>(w.shape[1]);
  }
  PHX_RETURN_IF_ERROR(CheckInt32("matmul_experts", "experts", E));
  PHX_RETURN_IF_ERROR(CheckInt32("matmul_experts", "K", K));
  PHX_RETURN_IF_ERROR(CheckInt32("matmul_experts", "routed rows", T * k));
  PHX_RETURN_IF_ERROR(Reserve(moe_workspace_,
                              kernels::ExpertWorkspaceBytes(static_cast<int32_t>(E), T * k),
                              "expert grouping"));
  p.x = static_cast<const float*>(x.data);
  p.ldx = ElemStride(x);
  p.x_per_slot = x.rows() == T * k && k > 1;
  p.ids = static_cast<const int32_t*>(ids.data);
  p.tokens = static_cast<int32_t>(T);
  p.top_k = static_cast<int32_t>(k);
  p.n_experts = static_cast<int32_t>(E);
  p.k = static_cast<int32_t>(K);
  p.w_dtype = outs[0].w->dtype;
  p.num_outputs = static_cast<int32_t>(outs.size());
  p.workspace = moe_workspace_.data();
  return Run(kernels::LaunchExpertGemv, p,
             StrCat("matmul_experts (", DTypeName(p.w_dtype), ", ", outs.size(), " outputs)"), 2);
}

absl::Status CudaBackend::MoeCombine(const Tensor& y, const Tensor& weights, const Tensor& residual,
                                     const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckDeviceF32("moe_combine", "weights", weights, -1, -1));
  const int64_t T = weights.rows(), k = weights.cols();
  PHX_RETURN_IF_ERROR(CheckDeviceF32("moe_combine", "residual", residual, T, -1));
  const int64_t D = residual.cols();
  PHX_RETURN_IF_ERROR(CheckDeviceF32("moe_combine", "y", y, T * k, D));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("moe_combine", "out", out, T, D));
  PHX_RETURN_IF_ERROR(CheckInt32("moe_combine", "k", k));
  PHX_RETURN_IF_ERROR(CheckInt32("moe_combine", "dim", D));
  kernels::MoeCombineParams p;
  p.y = static_cast<const float*>(y.data);
  p.y_stride = ElemStride(y);
  p.weights = static_cast<const float*>(weights.data);
  p.weights_stride = ElemStride(weights);
  p.residual = static_cast<const float*>(residual.data);
  p.residual_stride = ElemStride(residual);
  p.out = static_cast<float*>(out.data);
  p.out_stride = ElemStride(out);
  p.rows = static_cast<int32_t>(T);
  p.k = static_cast<int32_t>(k);
  p.dim = static_cast<int32_t>(D);
  return Run(kernels::LaunchMoeCombine, p, "moe_combine");
}

}  // namespace phx::ops::cuda
