// CudaBackend: decode steps as CUDA graphs. PlanGraphAttention writes a step's attention plan
// into buffers fixed for its (padded rows, page capacity) bucket; RunGraph records the step's
// launches once per (caller, bucket) and replays them (ops/cuda/graph_policy.h decides when).
#include <algorithm>
#include <limits>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "kernels/attention_plan.h"
#include "ops/cuda/cuda_backend.h"
#include "ops/cuda/cuda_plan.h"
#include "ops/cuda/cuda_status.h"

namespace phx::ops::cuda {

int32_t CudaBackend::GraphRows(int32_t rows) const {
  return opt_.cuda_graphs ? cuda::GraphRows(rows, opt_.max_graph_rows) : 0;
}

absl::StatusOr<std::unique_ptr<AttentionPlan>> CudaBackend::PlanGraphAttention(
    const AttentionBatch& batch, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim,
    int32_t padded_rows, int32_t max_pages_per_seq) {
  PHX_RETURN_IF_ERROR(Enter());
  const int32_t S = batch.num_seqs();
  if (static_cast<int32_t>(batch.q_indptr.size()) != S + 1 ||
      static_cast<int32_t>(batch.kv_indptr.size()) != S + 1) {
    return absl::InvalidArgumentError("plan_graph_attention: indptr sizes do not match");
  }
  PHX_RETURN_IF_ERROR(CheckCudaAttentionShape(n_heads, n_kv_heads, head_dim));
  PHX_RETURN_IF_ERROR(batch.Validate(std::numeric_limits<int32_t>::max()));
  if (S > padded_rows || max_pages_per_seq <= 0) {
    return absl::InvalidArgumentError(StrCat("plan_graph_attention: ", S, " sequences in ",
                                             padded_rows, " rows, ", max_pages_per_seq,
                                             " pages per sequence"));
  }
  for (int32_t s = 0; s < S; ++s) {
    if (batch.kv_indptr[s + 1] - batch.kv_indptr[s] > max_pages_per_seq) {
      return absl::InvalidArgumentError(StrCat("plan_graph_attention: sequence ", s,
                                               " holds more than ", max_pages_per_seq, " pages"));
    }
  }
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
  shape.num_blocks = std::numeric_limits<int32_t>::max();
  kernels::DecodePlanOptions opt;
  opt.num_sms = num_sms_;
  const int32_t splits = kernels::FixedDecodeSplits(shape, padded_rows, opt);
  kernels::DecodePlan dp;
  kernels::ClearErrorMessage();
  PHX_RETURN_IF_ERROR(Check(kernels::PlanDecodeFixed(view, shape, padded_rows, splits, &dp),
                            "plan_graph_attention"));

  // Fixed layout for the bucket: items, merge items, kv_indptr [padded_rows + 1] (padding rows
  // repeat the last entry), kv_indices [padded_rows * max_pages_per_seq] (a prefix used).
  auto plan = std::make_unique<CudaAttentionPlan>();
  plan->decode = true;
  plan->n_heads = n_heads;
  plan->n_kv_heads = n_kv_heads;
  plan->head_dim = head_dim;
  plan->num_rows = padded_rows;
  for (int32_t page : batch.kv_indices) plan->max_page = std::max(plan->max_page, page);
  std::vector<uint8_t> host;
  plan->items =
      AppendAligned(host, dp.work.data(), dp.work.size() * sizeof(kernels::DecodeWorkItem));
  plan->merge =
      AppendAligned(host, dp.merge.data(), dp.merge.size() * sizeof(kernels::DecodeMergeItem));
  std::vector<int32_t> indptr(batch.kv_indptr);
  indptr.resize(static_cast<size_t>(padded_rows) + 1, indptr.back());
  plan->kv_indptr = AppendAligned(host, indptr.data(), indptr.size() * 4);
  plan->kv_indices = AppendAligned(host, batch.kv_indices.data(), batch.kv_indices.size() * 4);
  const size_t capacity =
      plan->kv_indices + static_cast<size_t>(padded_rows) * max_pages_per_seq * 4;
  plan->num_items = static_cast<int32_t>(dp.work.size());
  plan->num_merge = static_cast<int32_t>(dp.merge.size());
  plan->num_partials = dp.num_partials;
  plan->lse_offset = dp.PartialLseOffset(n_heads, head_dim);

  GraphPlanBuffers& g = graph_plans_[{padded_rows, max_pages_per_seq}];
  PHX_RETURN_IF_ERROR(Reserve(g.plan, capacity, "graph attention plan"));
  PHX_RETURN_IF_ERROR(Reserve(g.workspace,
                              std::max<size_t>(16, dp.WorkspaceBytes(n_heads, head_dim)),
                              "graph attention workspace"));
  // Stream order keeps this copy behind the previous replay that read the same buffer.
  PHX_RETURN_IF_ERROR(Check(cudaMemcpyAsync(g.plan.data(), host.data(), host.size(),
                                            cudaMemcpyHostToDevice, stream_.get()),
                            "plan_graph_attention: upload"));
  plan->buffer = g.plan.data();
  plan->workspace = g.workspace.data();
  plan->generation = ++plan_generation_;
  return std::unique_ptr<AttentionPlan>(std::move(plan));
}

void CudaBackend::DestroyGraph(Graph& g) {
  if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
  g.exec = nullptr;
  g.state.captured = false;
}

void CudaBackend::SetFuseOpsForTesting(bool on) {
  if (opt_.fuse_ops == on) return;
  opt_.fuse_ops = on;
  for (auto& [key, g] : graphs_) DestroyGraph(g);
  graphs_.clear();
}

void CudaBackend::ReleaseGraphs(const void* owner) {
  for (auto it = graphs_.begin(); it != graphs_.end();) {
    if (it->first.owner == owner) {
      DestroyGraph(it->second);
      it = graphs_.erase(it);
    } else {
      ++it;
    }
  }
}

absl::Status CudaBackend::RunGraph(const GraphKey& key, absl::FunctionRef<absl::Status()> work) {
  if (!opt_.cuda_graphs) return work();
  PHX_RETURN_IF_ERROR(Enter());
  Graph& g = graphs_[key];
  const GraphAction action = ChooseGraphAction(g.state, scratch_generation_);
  if (action == GraphAction::kEager) {
    absl::Status s = work();
    RecordGraphAction(g.state, action, s.ok(), scratch_generation_);
    return s;
  }
  if (action == GraphAction::kReplay) {
    ++counters_.graph_replays;
    return Check(cudaGraphLaunch(g.exec, stream_.get()), "graph replay");
  }
  // Capture: nothing runs while recording; the recorded graph is launched once instantiated.
  DestroyGraph(g);
  const uint64_t launches = counters_.launches;
  cudaError_t e = cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal);
  absl::Status s;
  cudaGraph_t graph = nullptr;
  if (e == cudaSuccess) {
    capturing_ = true;
    s = work();
    capturing_ = false;
    e = cudaStreamEndCapture(stream_.get(), &graph);
  }
  size_t nodes = 0;
  if (s.ok() && e == cudaSuccess) e = cudaGraphGetNodes(graph, nullptr, &nodes);
  if (s.ok() && e == cudaSuccess) e = cudaGraphInstantiate(&g.exec, graph, 0);
  if (graph != nullptr) cudaGraphDestroy(graph);
  counters_.launches = launches;  // recorded launches are not eager ones
  const bool ok = s.ok() && e == cudaSuccess;
  if (!ok) {
    cudaGetLastError();  // capture errors leave the context usable
    if (!sticky_.ok()) return sticky_;
    if (g.exec != nullptr) cudaGraphExecDestroy(g.exec);
    g.exec = nullptr;
    ++counters_.graph_failures;
    counters_.last_graph_error =
        s.ok() ? std::string(CudaStatus(e, "graph capture").message()) : std::string(s.message());
    RecordGraphAction(g.state, action, false, scratch_generation_);
    return work();  // this step eagerly (the capture ran nothing)
  }
  RecordGraphAction(g.state, action, true, scratch_generation_);
  ++counters_.graph_captures;
  counters_.graph_nodes_last = nodes;
  return Check(cudaGraphLaunch(g.exec, stream_.get()), "graph launch");
}

}  // namespace phx::ops::cuda
