// CudaBackend: RoPE, the paged KV write, attention planning and paged attention.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "kernels/attention.h"
#include "kernels/attention_plan.h"
#include "kernels/convert.h"
#include "kernels/rope_kv.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/cuda_plan.h"
#include "ops/cuda/device_checks.h"

namespace phx::ops::cuda {
namespace {

// The RoPE fields of the kernel's parameters (angles, YaRN mixing, magnitude) from RopeParams.
absl::Status SetRope(std::string_view op, const RopeParams& rp, kernels::RopeKvWriteParams& p) {
  if (rp.ext_factor != 0.f && (rp.n_ctx_orig <= 0 || !(rp.freq_scale > 0.f))) {
    return absl::InvalidArgumentError(StrCat(op, ": YaRN needs n_ctx_orig > 0 (", rp.n_ctx_orig,
                                             ") and freq_scale > 0 (", rp.freq_scale, ")"));
  }
  p.neox = rp.mode == RopeMode::kNeox;
  p.n_rot = rp.n_rot;
  p.theta_scale = kernels::RopeThetaScale(rp.freq_base, rp.n_rot);
  p.freq_scale = rp.freq_scale;
  p.ext_factor = rp.ext_factor;
  if (rp.ext_factor != 0.f) {
    kernels::RopeYarnCorrDims(rp.n_rot, rp.freq_base, rp.n_ctx_orig, rp.beta_fast, rp.beta_slow,
                              &p.corr_lo, &p.corr_hi);
  }
  p.mscale = kernels::RopeMscale(rp.attn_factor, rp.ext_factor, rp.freq_scale);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<const float*> CudaBackend::FreqFactors(const RopeParams& rp) {
  if (rp.freq_factors == nullptr) return nullptr;
  if (freq_factors_host_ != rp.freq_factors) {
    if (capturing_) {
      return absl::FailedPreconditionError(
          "cuda backend: rope frequency factors would be uploaded during a graph capture");
    }
    const size_t bytes = static_cast<size_t>(rp.n_rot / 2) * sizeof(float);
    PHX_RETURN_IF_ERROR(Reserve(freq_factors_, bytes, "rope frequency factors"));
    PHX_RETURN_IF_ERROR(Check(cudaMemcpyAsync(freq_factors_.data(), rp.freq_factors, bytes,
                                              cudaMemcpyHostToDevice, stream_.get()),
                              "rope: frequency factors"));
    freq_factors_host_ = rp.freq_factors;
  }
  return freq_factors_.as<float>();
}

absl::Status CudaBackend::Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
                               const RopeParams& rp) {
  PHX_RETURN_IF_ERROR(Healthy());
  PHX_RETURN_IF_ERROR(CheckDeviceF32("rope", "x", x, -1, -1));
  if (head_dim <= 0 || x.cols() % head_dim != 0) {
    return absl::InvalidArgumentError(
        StrCat("rope: head_dim ", head_dim, " does not divide the ", x.cols(), " columns of x"));
  }
  const int64_t T = x.rows();
  PHX_RETURN_IF_ERROR(CheckDeviceI32("rope", "positions", positions, T));
  if (T == 0 || rp.n_rot == 0) return absl::OkStatus();
  // The kernel rotates q in place and writes k/v to the cache; with every slot -1 it writes
  // nothing and never reads k/v, so x goes in as q and the k/v pointers only satisfy the checks.
  if (skip_slots_count_ < T) {
    PHX_RETURN_IF_ERROR(Reserve(skip_slots_, static_cast<size_t>(T) * 4, "rope slots"));
    skip_slots_count_ = static_cast<int64_t>(skip_slots_.size() / 4);
    PHX_RETURN_IF_ERROR(Fill(
        Tensor::View(skip_slots_.data(), DType::kI32, {skip_slots_count_}, Device::kCuda), -1.f));
  }
  PHX_ASSIGN_OR_RETURN(const float* factors, FreqFactors(rp));
  kernels::RopeKvWriteParams p;
  p.q = x.data;
  p.q_stride = ElemStride(x);
  p.k = x.data;
  p.k_stride = ElemStride(x);
  p.v = x.data;
  p.v_stride = ElemStride(x);
  p.act_dtype = DType::kF32;
  p.positions = static_cast<const int32_t*>(positions.data);
  p.slot_mapping = skip_slots_.as<int32_t>();
  p.k_cache = skip_slots_.data();
  p.v_cache = skip_slots_.data();
  p.num_slots = 0;
  p.cache_dtype = DType::kF16;
  p.num_tokens = static_cast<int32_t>(T);
  p.n_heads = static_cast<int32_t>(x.cols() / head_dim);
  p.n_kv_heads = 1;
  p.head_dim = head_dim;
  PHX_RETURN_IF_ERROR(SetRope("rope", rp, p));
  p.freq_factors = factors;
  return Run(kernels::LaunchRopeKvWrite, p, "rope");
}

absl::Status CudaBackend::WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                                  const KvLayer& cache) {
  PHX_RETURN_IF_ERROR(Healthy());
  PHX_RETURN_IF_ERROR(CheckDevice("write_kv", "k_cache", cache.k));
  PHX_RETURN_IF_ERROR(CheckDevice("write_kv", "v_cache", cache.v));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kWriteKv, cache.k.dtype));
  if (cache.k.ndim != 4 || cache.v.dtype != cache.k.dtype || cache.v.shape != cache.k.shape) {
    return absl::InvalidArgumentError(StrCat("write_kv: cache K ", cache.k.ShapeString(), " and V ",
                                             cache.v.ShapeString(),
                                             " must both be [blocks, block_size, heads, dim]"));
  }
  const int64_t heads = cache.k.shape[2], hd = cache.k.shape[3];
  const int64_t T = k.rows();
  PHX_RETURN_IF_ERROR(CheckDeviceF32("write_kv", "k", k, -1, heads * hd));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("write_kv", "v", v, T, heads * hd));
  PHX_RETURN_IF_ERROR(CheckDeviceI32("write_kv", "slot_mapping", slot_mapping, T));
  if (T == 0) return absl::OkStatus();
  kernels::RopeKvWriteParams p;
  p.k = k.data;
  p.k_stride = ElemStride(k);
  p.v = v.data;
  p.v_stride = ElemStride(v);
  p.act_dtype = DType::kF32;
  p.positions = static_cast<const int32_t*>(slot_mapping.data);  // read, unused with n_rot 0
  p.slot_mapping = static_cast<const int32_t*>(slot_mapping.data);
  p.k_cache = cache.k.data;
  p.v_cache = cache.v.data;
  p.num_slots = cache.k.shape[0] * cache.k.shape[1];
  p.cache_dtype = cache.k.dtype;
  p.num_tokens = static_cast<int32_t>(T);
  p.n_heads = 0;
  p.n_kv_heads = static_cast<int32_t>(heads);
  p.head_dim = static_cast<int32_t>(hd);
  p.n_rot = 0;
  return Run(kernels::LaunchRopeKvWrite, p, "write_kv");
}

absl::Status CudaBackend::RopeWriteKv(const Tensor& q, const Tensor& k, const Tensor& v,
                                      int32_t head_dim, const Tensor& positions,
                                      const Tensor& slot_mapping, const RopeParams& rp,
                                      const KvLayer& cache) {
  if (!opt_.fuse_ops) {
    return Backend::RopeWriteKv(q, k, v, head_dim, positions, slot_mapping, rp, cache);
  }
  PHX_RETURN_IF_ERROR(Healthy());
  PHX_RETURN_IF_ERROR(CheckDevice("rope_write_kv", "k_cache", cache.k));
  PHX_RETURN_IF_ERROR(CheckDevice("rope_write_kv", "v_cache", cache.v));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kWriteKv, cache.k.dtype));
  if (cache.k.ndim != 4 || cache.v.dtype != cache.k.dtype || cache.v.shape != cache.k.shape ||
      cache.k.shape[3] != head_dim) {
    return absl::InvalidArgumentError(
        StrCat("rope_write_kv: cache K ", cache.k.ShapeString(), " and V ", cache.v.ShapeString(),
               " must both be [blocks, block_size, heads, ", head_dim, "]"));
  }
  const int64_t kv_heads = cache.k.shape[2];
  const int64_t T = q.rows();
  PHX_RETURN_IF_ERROR(CheckDeviceF32("rope_write_kv", "q", q, -1, -1));
  if (head_dim <= 0 || q.cols() % head_dim != 0) {
    return absl::InvalidArgumentError(StrCat("rope_write_kv: head_dim ", head_dim,
                                             " does not divide the ", q.cols(), " columns of q"));
  }
  PHX_RETURN_IF_ERROR(CheckDeviceF32("rope_write_kv", "k", k, T, kv_heads * head_dim));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("rope_write_kv", "v", v, T, kv_heads * head_dim));
  PHX_RETURN_IF_ERROR(CheckDeviceI32("rope_write_kv", "positions", positions, T));
  PHX_RETURN_IF_ERROR(CheckDeviceI32("rope_write_kv", "slot_mapping", slot_mapping, T));
  if (T == 0) return absl::OkStatus();
  PHX_ASSIGN_OR_RETURN(const float* factors, FreqFactors(rp));
  kernels::RopeKvWriteParams p;
  p.q = q.data;
  p.q_stride = ElemStride(q);
  p.k = k.data;
  p.k_stride = ElemStride(k);
  p.v = v.data;
  p.v_stride = ElemStride(v);
  p.act_dtype = DType::kF32;
  p.positions = static_cast<const int32_t*>(positions.data);
  p.slot_mapping = static_cast<const int32_t*>(slot_mapping.data);
  p.k_cache = cache.k.data;
  p.v_cache = cache.v.data;
  p.num_slots = cache.k.shape[0] * cache.k.shape[1];
  p.cache_dtype = cache.k.dtype;
  p.num_tokens = static_cast<int32_t>(T);
  p.n_heads = static_cast<int32_t>(q.cols() / head_dim);
  p.n_kv_heads = static_cast<int32_t>(kv_heads);
  p.head_dim = head_dim;
  PHX_RETURN_IF_ERROR(SetRope("rope_write_kv", rp, p));
  p.freq_factors = factors;
  return Run(kernels::LaunchRopeKvWrite, p, "rope_write_kv");
}

absl::StatusOr<std::unique_ptr<AttentionPlan>> CudaBackend::PlanAttention(
    const AttentionBatch& batch, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim) {
  PHX_RETURN_IF_ERROR(Enter());
  if (!batch.causal) return NotImplemented(Op::kBidirectionalAttention);
  const int32_t S = batch.num_seqs();
  if (static_cast<int32_t>(batch.q_indptr.size()) != S + 1 ||
      static_cast<int32_t>(batch.kv_indptr.size()) != S + 1) {
    return absl::InvalidArgumentError("plan_attention: indptr sizes do not match the sequences");
  }
  PHX_RETURN_IF_ERROR(CheckCudaAttentionShape(n_heads, n_kv_heads, head_dim));
  PHX_RETURN_IF_ERROR(batch.Validate(std::numeric_limits<int32_t>::max()));
  kernels::BatchView view;
  view.q_indptr = batch.q_indptr.data();
  view.kv_indptr = batch.kv_indptr.data();
  view.kv_indices = batch.kv_indices.data();
  view.kv_last_page_len = batch.kv_last_page_len.data();
  view.num_seqs = S;
  view.block_size = batch.block_size;
  kernels::AttentionShape shape;
  shape.n_heads = n_heads;
  shape.n_kv_heads = n_kv_heads;
  shape.head_dim = head_dim;
  shape.num_blocks = std::numeric_limits<int32_t>::max();  // checked against the cache later
  kernels::ClearErrorMessage();
  PHX_RETURN_IF_ERROR(Check(kernels::ValidateBatch(view, shape), "plan_attention"));

  auto plan = std::make_unique<CudaAttentionPlan>();
  plan->n_heads = n_heads;
  plan->n_kv_heads = n_kv_heads;
  plan->head_dim = head_dim;
  plan->num_rows = batch.q_indptr.back();
  for (int32_t page : batch.kv_indices) plan->max_page = std::max(plan->max_page, page);
  plan->decode = kernels::IsDecodeBatch(view);

  std::vector<uint8_t> host;
  plan->kv_indptr = AppendAligned(host, batch.kv_indptr.data(), batch.kv_indptr.size() * 4);
  plan->kv_indices = AppendAligned(host, batch.kv_indices.data(), batch.kv_indices.size() * 4);
  size_t workspace = 0;
  if (plan->decode) {
    kernels::DecodePlanOptions opt;
    opt.num_sms = num_sms_;
    kernels::DecodePlan dp;
    PHX_RETURN_IF_ERROR(Check(kernels::PlanDecode(view, shape, opt, &dp), "plan_attention"));
    plan->items =
        AppendAligned(host, dp.work.data(), dp.work.size() * sizeof(kernels::DecodeWorkItem));
    plan->merge =
        AppendAligned(host, dp.merge.data(), dp.merge.size() * sizeof(kernels::DecodeMergeItem));
    plan->num_items = static_cast<int32_t>(dp.work.size());
    plan->num_merge = static_cast<int32_t>(dp.merge.size());
    plan->num_partials = dp.num_partials;
    workspace = dp.WorkspaceBytes(n_heads, head_dim);
    plan->lse_offset = dp.PartialLseOffset(n_heads, head_dim);
  } else {
    kernels::PrefillPlan pp;
    PHX_RETURN_IF_ERROR(Check(kernels::PlanPrefill(view, shape, &pp), "plan_attention"));
    plan->items =
        AppendAligned(host, pp.tiles.data(), pp.tiles.size() * sizeof(kernels::PrefillTile));
    plan->num_items = static_cast<int32_t>(pp.tiles.size());
  }
  PHX_RETURN_IF_ERROR(Reserve(plan_, host.size(), "attention plan"));
  PHX_RETURN_IF_ERROR(Reserve(workspace_, workspace, "attention workspace"));
  // Stream order keeps this copy behind the kernels of the previous step that read the buffer.
  PHX_RETURN_IF_ERROR(Check(cudaMemcpyAsync(plan_.data(), host.data(), host.size(),
                                            cudaMemcpyHostToDevice, stream_.get()),
                            "plan_attention: upload"));
  plan->buffer = plan_.data();
  plan->workspace = workspace_.data();
  plan->generation = ++plan_generation_;
  return std::unique_ptr<AttentionPlan>(std::move(plan));
}

absl::Status CudaBackend::Attention(const Tensor& q, const KvLayer& cache,
                                    const AttentionPlan& base_plan, const AttentionOptions& opt,
                                    const Tensor& out) {
  PHX_RETURN_IF_ERROR(Healthy());
  if (!(opt.softcap >= 0.f) || !std::isfinite(opt.softcap) || opt.window < 0) {
    return absl::InvalidArgumentError(StrCat("attention: softcap ", opt.softcap, " and window ",
                                             opt.window, " must be >= 0 (0: off)"));
  }
  const float scale = opt.scale;
  const auto* plan = dynamic_cast<const CudaAttentionPlan*>(&base_plan);
  if (plan == nullptr || plan->generation != plan_generation_) {
    return absl::FailedPreconditionError(
        "attention: the plan is not the CUDA backend's current plan (one plan per step)");
  }
  PHX_RETURN_IF_ERROR(CheckDevice("attention", "k_cache", cache.k));
  PHX_RETURN_IF_ERROR(CheckDevice("attention", "v_cache", cache.v));
  PHX_RETURN_IF_ERROR(CheckSupported(Op::kAttention, cache.k.dtype));
  const int64_t width = int64_t{plan->n_heads} * plan->head_dim;
  if (cache.k.ndim != 4 || cache.v.shape != cache.k.shape || cache.v.dtype != cache.k.dtype ||
      cache.k.shape[2] != plan->n_kv_heads || cache.k.shape[3] != plan->head_dim ||
      cache.k.shape[1] != cache.block_size) {
    return absl::InvalidArgumentError(StrCat("attention: cache ", cache.k.ShapeString(),
                                             " does not match the plan (", plan->n_kv_heads,
                                             " KV heads of ", plan->head_dim, ")"));
  }
  if (plan->max_page >= cache.k.shape[0]) {
    return absl::InvalidArgumentError(StrCat(
        "attention: page ", plan->max_page, " outside the cache of ", cache.k.shape[0], " blocks"));
  }
  PHX_RETURN_IF_ERROR(CheckDeviceF32("attention", "q", q, plan->num_rows, width));
  PHX_RETURN_IF_ERROR(CheckDeviceF32("attention", "out", out, plan->num_rows, width));
  if (plan->num_rows == 0) return absl::OkStatus();
  const DType kv = cache.k.dtype;
  // Fused decode reads f32 q and writes f32 out itself; otherwise both go through 16-bit copies.
  const bool f32_io = opt_.fuse_ops && plan->decode && ElemStride(q) % 8 == 0 &&
                      ElemStride(out) % 8 == 0 && reinterpret_cast<uintptr_t>(q.data) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(out.data) % 16 == 0;
  if (!f32_io) {
    PHX_RETURN_IF_ERROR(ToHalf(q, kv, q16_, "attention q"));
    const size_t out_bytes = static_cast<size_t>(plan->num_rows * width * 2);
    PHX_RETURN_IF_ERROR(Reserve(o16_, out_bytes, "attention output"));
  }

  kernels::PagedKvCache pc;
  pc.k = cache.k.data;
  pc.v = cache.v.data;
  pc.dtype = kv;
  pc.num_blocks = static_cast<int32_t>(cache.k.shape[0]);
  pc.block_size = cache.block_size;
  pc.n_kv_heads = plan->n_kv_heads;
  pc.head_dim = plan->head_dim;
  const auto* base = static_cast<const uint8_t*>(plan->buffer);
  const auto* indptr = reinterpret_cast<const int32_t*>(base + plan->kv_indptr);
  const auto* indices = reinterpret_cast<const int32_t*>(base + plan->kv_indices);
  // The fields decode and prefill share.
  auto common = [&](auto& p) {
    p.q = f32_io ? q.data : q16_.data();
    p.q_stride = f32_io ? ElemStride(q) : width;
    p.out = f32_io ? out.data : o16_.data();
    p.out_stride = f32_io ? ElemStride(out) : width;
    p.kv = pc;
    p.n_heads = plan->n_heads;
    p.scale = scale;
    p.softcap = opt.softcap;
    p.window = opt.window;
    p.kv_indptr = indptr;
    p.kv_indices = indices;
  };
  if (plan->decode) {
    kernels::PagedDecodeParams p;
    common(p);
    p.f32_io = f32_io;
    p.work = reinterpret_cast<const kernels::DecodeWorkItem*>(base + plan->items);
    p.num_work = plan->num_items;
    p.merge = reinterpret_cast<const kernels::DecodeMergeItem*>(base + plan->merge);
    p.num_merge = plan->num_merge;
    p.num_partials = plan->num_partials;
    if (plan->num_partials > 0) {
      auto* ws = static_cast<uint8_t*>(plan->workspace);
      p.partial_out = reinterpret_cast<float*>(ws);
      p.partial_lse = reinterpret_cast<float*>(ws + plan->lse_offset);
    }
    PHX_RETURN_IF_ERROR(
        Run(kernels::LaunchPagedDecode, p, "attention (decode)", plan->num_merge > 0 ? 2 : 1));
  } else {
    kernels::PagedPrefillParams p;
    common(p);
    p.tiles = reinterpret_cast<const kernels::PrefillTile*>(base + plan->items);
    p.num_tiles = plan->num_items;
    PHX_RETURN_IF_ERROR(Run(kernels::LaunchPagedPrefill, p, "attention (prefill)"));
  }
  if (f32_io) return absl::OkStatus();
  kernels::ConvertParams c;
  c.in = o16_.data();
  c.in_stride = width;
  c.in_dtype = kv;
  c.out = out.data;
  c.out_stride = ElemStride(out);
  c.out_dtype = DType::kF32;
  c.rows = plan->num_rows;
  c.cols = static_cast<int32_t>(width);
  return Run(kernels::LaunchConvert, c, "attention: output to f32");
}

}  // namespace phx::ops::cuda
