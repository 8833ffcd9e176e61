// CpuBackend's mixture-of-experts ops: the router (softmax, top-k, renormalization), the grouped
// expert matmul and the weighted combination of the experts' outputs.
//
// MatmulExperts sorts the (token, slot) rows by expert, copies each expert's input rows into one
// segment of a gathered activation buffer (segments start at multiples of 16 rows, the Q8x16
// kernels' panel pairs, and padding rows are zero), and hands every (expert, product) pair to
// MatmulRows as one product over its segment: the activations are quantized once for all of
// them, all tiles run in one parallel pass, and each selected expert's weights are read once
// per call; experts no row selected are not touched. The gathered outputs are then copied back
// to (token, slot) order.
#include <algorithm>
#include <cstring>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/repack_formats.h"
#include "ops/cpu/validate.h"
#include "ops/logits.h"

namespace phx::ops::cpu {
namespace {

constexpr int64_t kSegmentRows = 2 * kQ8x16PanelRows;  // a Q8x16 panel pair

// ids [T, k] of experts below E, as a host i32 tensor of T rows.
absl::Status CheckIds(std::string_view op, const Tensor& ids, int64_t T, int64_t k, int64_t E) {
  PHX_RETURN_IF_ERROR(CheckI32(op, "ids", ids, T * k));
  const auto* id = static_cast<const int32_t*>(ids.data);
  for (int64_t i = 0; i < T * k; ++i) {
    if (id[i] < 0 || id[i] >= E) {
      return absl::InvalidArgumentError(
          StrCat(op, ": expert id ", id[i], " at ", i, " outside [0, ", E, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CpuBackend::MoeRoute(const Tensor& logits, int32_t k, bool normalize,
                                  const Tensor& weights, const Tensor& ids) {
  PHX_RETURN_IF_ERROR(CheckF32("moe_route", "logits", logits, -1, -1));
  const int64_t T = logits.rows(), E = logits.cols();
  if (k <= 0 || k > E) {
    return absl::InvalidArgumentError(StrCat("moe_route: k = ", k, " outside 1..", E));
  }
  PHX_RETURN_IF_ERROR(CheckF32("moe_route", "weights", weights, T, k));
  PHX_RETURN_IF_ERROR(CheckI32("moe_route", "ids", ids, T * k));
  ParallelRows(T, 8 * E, [&](int64_t b, int64_t e) {
    std::vector<float> p(static_cast<size_t>(E));
    std::vector<int32_t> order(static_cast<size_t>(E));
    for (int64_t t = b; t < e; ++t) {
      SoftmaxRow({logits.row_as<float>(t), static_cast<size_t>(E)}, 1.f, p);
      for (int64_t i = 0; i < E; ++i) order[i] = static_cast<int32_t>(i);
      // The k largest, in descending order, the lower index first on ties.
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t c) {
        return p[a] > p[c] || (p[a] == p[c] && a < c);
      });
      float* w = weights.row_as<float>(t);
      auto* id = static_cast<int32_t*>(ids.data) + t * k;
      float sum = 0.f;
      for (int32_t s = 0; s < k; ++s) {
        id[s] = order[s];
        w[s] = p[order[s]];
        sum += w[s];
      }
      if (normalize) {
        sum = std::max(sum, 6.103515625e-5f);  // llama.cpp's clamp (the smallest normal f16)
        for (int32_t s = 0; s < k; ++s) w[s] /= sum;
      }
    }
  });
  return absl::OkStatus();
}

absl::Status CpuBackend::MatmulExperts(const Tensor& x, const Tensor& ids,
                                       std::span<const ExpertOut> outs) {
  PHX_RETURN_IF_ERROR(CheckHost("matmul_experts", "ids", ids));
  if (ids.ndim != 2) return ShapeError("matmul_experts", "ids must be [T, k]", ids);
  const int64_t T = ids.rows(), k = ids.cols();
  PHX_RETURN_IF_ERROR(CheckF32("matmul_experts", "x", x, -1, -1));
  const int64_t K = x.cols();
  if (x.rows() != T && x.rows() != T * k) {
    return ShapeError("matmul_experts", StrCat("x must have ", T, " or ", T * k, " rows"), x);
  }
  if (outs.empty() || T == 0) return absl::OkStatus();
  const int64_t E = outs[0].w->ndim == 3 ? outs[0].w->shape[0] : 0;
  for (const ExpertOut& o : outs) {
    const Tensor& w = *o.w;
    PHX_RETURN_IF_ERROR(CheckHost("matmul_experts", "w", w));
    PHX_RETURN_IF_ERROR(CheckSupported(Op::kMatmulExperts, w.dtype));
    if (w.ndim != 3 || w.shape[0] != E || w.shape[2] != K || !w.packed()) {
      return ShapeError("matmul_experts", StrCat("w must be packed [", E, ", N, ", K, "]"), w);
    }
    PHX_RETURN_IF_ERROR(CheckF32("matmul_experts", "y", *o.y, T * k, w.shape[1]));
  }
  PHX_RETURN_IF_ERROR(CheckIds("matmul_experts", ids, T, k, E));
  const auto* id = static_cast<const int32_t*>(ids.data);

  // Segments: expert e's rows start at seg[e] (a multiple of kSegmentRows) of the gathered rows.
  const int64_t R = T * k;
  std::vector<int64_t> count(static_cast<size_t>(E), 0), seg(static_cast<size_t>(E + 1), 0);
  for (int64_t r = 0; r < R; ++r) ++count[id[r]];
  for (int64_t e = 0; e < E; ++e) {
    seg[e + 1] = seg[e] + (count[e] + kSegmentRows - 1) / kSegmentRows * kSegmentRows;
  }
  const int64_t rows = seg[E];
  std::vector<int64_t> where(static_cast<size_t>(R));  // gathered row of (token, slot) row r
  {
    std::vector<int64_t> next(seg.begin(), seg.end() - 1);
    for (int64_t r = 0; r < R; ++r) where[r] = next[id[r]]++;
  }
  auto* xg = reinterpret_cast<float*>(moe_x_.Reserve(static_cast<size_t>(rows * K * 4)));
  std::memset(xg, 0, static_cast<size_t>(rows * K * 4));
  const bool per_slot = x.rows() == R;
  for (int64_t r = 0; r < R; ++r) {
    std::memcpy(xg + where[r] * K, x.row_as<float>(per_slot ? r : r / k), K * 4);
  }
  const Tensor xt = Tensor::View(xg, DType::kF32, {rows, K});

  if (moe_y_.size() < outs.size()) moe_y_.resize(outs.size());
  std::vector<Tensor> w_views, y_views;  // stable storage for the products' pointers
  w_views.reserve(outs.size() * E);
  y_views.reserve(outs.size() * E);
  std::vector<RowProduct> products;
  std::vector<Tensor> gathered(outs.size());
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor& w = *outs[i].w;
    const int64_t N = w.shape[1];
    auto* yg = reinterpret_cast<float*>(moe_y_[i].Reserve(static_cast<size_t>(rows * N * 4)));
    gathered[i] = Tensor::View(yg, DType::kF32, {rows, N});
    // A repacked copy of the whole [E * N, K] matrix serves expert slices of whole groups: 16
    // rows (Q8x16, Q32x16, Kx16, a plain float copy) or 64 (the float group layout).
    const Tensor flat = w.Reshape({E * N, K});
    const bool float_groups =
        MatmulFamily(w.dtype) == Family::kFloat && kernels_.gemm_float_groups != nullptr;
    const int64_t group_rows = float_groups ? kFloatGroupRows : kQ8x16Rows;
    const uint8_t* repacked = N % group_rows == 0 ? FindRepacked(flat) : nullptr;
    const int64_t group_bytes = float_groups ? FloatGroupBytes(w.dtype, K)
                                : MatmulFamily(w.dtype) == Family::kFloat
                                    ? kQ8x16Rows * w.row_bytes()
                                : w.dtype == DType::kQ8_0 ? Q8x16GroupBytes(K)
                                                          : RepackedBytes(w.dtype, kQ8x16Rows, K);
    const int64_t expert_bytes = N * w.row_bytes();
    for (int64_t e = 0; e < E; ++e) {
      if (count[e] == 0) continue;  // not selected: its weights are not read
      w_views.push_back(
          Tensor::View(static_cast<const uint8_t*>(w.data) + e * expert_bytes, w.dtype, {N, K}));
      y_views.push_back(gathered[i].Rows(seg[e], count[e]));
      RowProduct p;
      p.w = &w_views.back();
      p.y = &y_views.back();
      p.row0 = seg[e];
      p.rows = count[e];
      p.repacked = repacked ? repacked + e * (N / group_rows) * group_bytes : nullptr;
      products.push_back(p);
    }
  }
  PHX_RETURN_IF_ERROR(MatmulRows(xt, products));
  for (size_t i = 0; i < outs.size(); ++i) {
    const Tensor& y = *outs[i].y;
    const int64_t N = y.cols();
    ParallelRows(R, N, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        std::memcpy(y.row_as<float>(r), gathered[i].row_as<float>(where[r]), N * 4);
      }
    });
  }
  return absl::OkStatus();
}

absl::Status CpuBackend::MoeCombine(const Tensor& y, const Tensor& weights, const Tensor& residual,
                                    const Tensor& out) {
  PHX_RETURN_IF_ERROR(CheckF32("moe_combine", "weights", weights, -1, -1));
  const int64_t T = weights.rows(), k = weights.cols();
  PHX_RETURN_IF_ERROR(CheckF32("moe_combine", "residual", residual, T, -1));
  const int64_t D = residual.cols();
  PHX_RETURN_IF_ERROR(CheckF32("moe_combine", "y", y, T * k, D));
  PHX_RETURN_IF_ERROR(CheckF32("moe_combine", "out", out, T, D));
  const VecKernels& v = kernels_.vec;
  ParallelRows(T, k * D, [&](int64_t b, int64_t e) {
    std::vector<float> acc(static_cast<size_t>(D));
    for (int64_t t = b; t < e; ++t) {
      // llama.cpp's order: each expert's output weighted, summed in slot order, then the
      // residual added.
      const float* w = weights.row_as<float>(t);
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int64_t s = 0; s < k; ++s) v.axpy(w[s], y.row_as<float>(t * k + s), acc.data(), D);
      v.add(acc.data(), residual.row_as<float>(t), out.row_as<float>(t), D);
    }
  });
  return absl::OkStatus();
}

}  // namespace phx::ops::cpu
