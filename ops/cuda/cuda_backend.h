// The CUDA backend: ops::Backend on one device with one stream (one backend per engine).
//
// Activations stay f32 as the Backend interface defines them; the GEMM and attention kernels
// read f16/bf16, so Matmul converts its input to the weight's 16-bit type (f16 for quantized
// weights) and Attention converts q to the cache type and its output back. Weights are uploaded
// once by AdoptWeight: f16/bf16 as they are, f32 matrices converted (CudaBackendOptions::
// f32_weight_type), f32 vectors (norms, biases) kept f32, Q8_0 and Q6_K repacked to the planar
// layouts of kernels/quant_layout.h (a device Q8_0 tensor's bytes are that layout, not GGUF
// blocks), Q4_K and Q5_K as they are, the other quantized types dequantized to f16 on the device
// (CudaWeightFormOf: the device tensor is then f16). Not thread-safe: one caller at a time (the
// engine thread).
//
// Errors: argument errors name the op and value; a CUDA runtime error inside a kernel is sticky
// (the context is unusable), so the backend remembers the first one and returns it from every
// later call, and the engine's step fails for good (/livez). A launch refused for its resources
// (cudaErrorLaunchOutOfResources: registers or shared memory per block) ran nothing and leaves
// the context usable: it is an error of that call, not sticky; the tensor-core GEMMs then fall
// back to cuBLAS for good (the one kernel family with an alternative), every other kernel
// reports it naming the kernel.
//
// Decode steps can be recorded as CUDA graphs (RunGraph, ops/cuda/graph_policy.h): the backend
// keeps one graph per (caller, padded batch), replays it while no scratch buffer moved, and
// records again after one did.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/error.h"
#include "ops/backend.h"
#include "ops/cuda/cublas_handle.h"
#include "ops/cuda/cuda_stream.h"
#include "ops/cuda/device_buffer.h"
#include "ops/cuda/graph_policy.h"
#include "ops/cuda/make_cuda_backend.h"

namespace phx::ops::cuda {

class CudaBackend final : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<CudaBackend>> Create(const CudaBackendOptions& options);
  ~CudaBackend() override;

  std::string_view name() const override { return "cuda"; }
  Device device() const override { return Device::kCuda; }
  bool Supports(Op op, DType dtype) const override;

  absl::StatusOr<Buffer> Allocate(DType dtype, std::initializer_list<int64_t> shape) override;
  absl::StatusOr<Buffer> AdoptWeight(const Tensor& host) override;
  absl::Status CopyToDevice(const void* host, size_t bytes, const Tensor& dst) override;
  absl::Status CopyToHost(const Tensor& src, void* host, size_t bytes) override;
  absl::Status Fill(const Tensor& dst, float value) override;
  absl::Status Synchronize() override;

  absl::Status Matmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                      const Tensor& y) override;
  absl::Status RmsNorm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override;
  absl::Status Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
                    const RopeParams& p) override;
  absl::Status WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                       const KvLayer& cache) override;
  absl::StatusOr<std::unique_ptr<AttentionPlan>> PlanAttention(const AttentionBatch& batch,
                                                               int32_t n_heads, int32_t n_kv_heads,
                                                               int32_t head_dim) override;
  absl::Status Attention(const Tensor& q, const KvLayer& cache, const AttentionPlan& plan,
                         const AttentionOptions& o, const Tensor& out) override;
  absl::Status SwiGlu(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  absl::Status Add(const Tensor& a, const Tensor& b, const Tensor& out) override;
  absl::Status Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) override;
  absl::Status Softmax(const Tensor& x, float temperature, const Tensor& out) override;
  absl::Status ApplyPenalties(const Tensor& logits, std::span<const PenaltyRow> rows) override;
  absl::Status MatmulMany(const Tensor& x, std::span<const MatmulOut> outs) override;
  absl::Status AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& w, float eps,
                          const Tensor& y) override;
  absl::Status RopeWriteKv(const Tensor& q, const Tensor& k, const Tensor& v, int32_t head_dim,
                           const Tensor& positions, const Tensor& slot_mapping,
                           const RopeParams& rope, const KvLayer& cache) override;
  // The model-family ops (cuda_family.cc).
  absl::Status PostNormAdd(const Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                           const Tensor& out) override;
  absl::Status GeGlu(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  absl::Status ScaledEmbedding(const Tensor& table, const Tensor& ids, float scale,
                               const Tensor& out) override;
  absl::Status MoeRoute(const Tensor& logits, int32_t k, bool normalize, const Tensor& weights,
                        const Tensor& ids) override;
  absl::Status MatmulExperts(const Tensor& x, const Tensor& ids,
                             std::span<const ExpertOut> outs) override;
  absl::Status MoeCombine(const Tensor& y, const Tensor& weights, const Tensor& residual,
                          const Tensor& out) override;

  int32_t GraphRows(int32_t rows) const override;
  absl::StatusOr<std::unique_ptr<AttentionPlan>> PlanGraphAttention(
      const AttentionBatch& batch, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim,
      int32_t padded_rows, int32_t max_pages_per_seq) override;
  absl::Status RunGraph(const GraphKey& key, absl::FunctionRef<absl::Status()> work) override;
  void ReleaseGraphs(const void* owner) override;

  const CudaBackendOptions& options() const { return opt_; }
  cudaStream_t stream() const { return stream_.get(); }
  const std::string& device_name() const { return device_name_; }
  int num_sms() const { return num_sms_; }
  // Bytes of uploaded weights.
  int64_t weight_bytes() const { return weight_bytes_; }
  // The weights dequantized to f16 at upload (CudaWeightForm::kF16AtLoad) so far.
  const CudaF16AtLoad& f16_at_load() const { return f16_at_load_; }
  // (free, total) device memory now.
  absl::Status MemoryInfo(int64_t* free_bytes, int64_t* total_bytes);
  // The first sticky CUDA error (OK while none happened).
  const absl::Status& sticky_error() const { return sticky_; }

  // Counters for tests and benchmarks: kernels launched eagerly (a cuBLAS call counts one), and
  // graph replays, captures and failed captures.
  struct Counters {
    uint64_t launches = 0;
    uint64_t graph_replays = 0;
    uint64_t graph_captures = 0;
    uint64_t graph_failures = 0;
    uint64_t graph_nodes_last = 0;  // kernel nodes of the last graph captured
    std::string last_graph_error;   // why the last capture failed
  };
  const Counters& counters() const { return counters_; }
  // Whether the GEMMs fell back to cuBLAS after a launch refused for its resources.
  bool gemm_fallback() const { return gemm_fallback_; }
  // Benchmarks compare fused and unfused launches on one loaded model: switches
  // CudaBackendOptions::fuse_ops (and drops every recorded graph, which hold the other form).
  void SetFuseOpsForTesting(bool on);

 private:
  CudaBackend(const CudaBackendOptions& o) : opt_(o) {}

  // OK, or the recorded sticky error; every entry point starts with it.
  absl::Status Healthy() const { return sticky_; }
  // Healthy(), and makes the backend's device current on the calling thread (the engine thread
  // is not the one that created the backend). Called where a step or an upload starts.
  absl::Status Enter();
  // cudaError_t -> Status; records errors that leave the context unusable as sticky.
  absl::Status Check(cudaError_t e, std::string_view what);
  // Runs a kernel launcher on the stream; its error (with the launcher's message) as a Status.
  // `kernels` is how many kernels the launcher starts (for the launch counter).
  template <typename P>
  absl::Status Run(cudaError_t (*launcher)(const P&, cudaStream_t), const P& params,
                   std::string_view what, int kernels = 1) {
    if (!sticky_.ok()) return sticky_;
    kernels::ClearErrorMessage();
    counters_.launches += static_cast<uint64_t>(kernels);
    return Check(launcher(params, stream_.get()), what);
  }
  // A device allocation with the numbers in the out-of-memory error.
  absl::StatusOr<Buffer> AllocateBytes(Tensor t, size_t bytes, std::string_view what);
  // Grows a scratch buffer to at least `bytes` (contents not kept). Work queued on the stream may
  // still read the old buffer: the stream is synchronized before it is freed. A reallocation
  // moves a pointer recorded graphs hold: it bumps scratch_generation_ (they are recorded
  // again); during a capture it is refused (the capture falls back to an eager step).
  absl::Status Reserve(DeviceBuffer& buf, size_t bytes, std::string_view what);
  // x (f32) -> a packed [rows, cols] `dtype` copy in act16_.
  absl::Status ToHalf(const Tensor& x, DType dtype, DeviceBuffer& dst, std::string_view what);
  // Uploads the GGUF blocks of a kF16AtLoad weight to a temporary buffer and dequantizes them
  // into `dst` (f16, rows * cols values).
  absl::Status UploadDequantized(const Tensor& host, void* dst);
  absl::Status DenseGemm(const void* x16, DType act, const void* w, int64_t ldw, const Tensor& y,
                         int32_t m, int32_t n, int32_t k);
  absl::Status WeightGemv(const void* x16, DType act, const Tensor& w, const Tensor& y, int32_t m);
  // Checks one product of Matmul/MatmulMany; sets *n and *k.
  absl::Status CheckMatmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y,
                           int32_t* n, int32_t* k);
  // Products of f32 x with up to three weights of one type in one GEMV launch (fuse_ops, M <= 8),
  // biases fused.
  absl::Status GroupedGemv(const Tensor& x, std::span<const MatmulOut> outs);
  // The 16-bit product of converted x (in act16_) with one weight, and its bias.
  absl::Status MatmulHalf(DType act, const Tensor& w, const Tensor* bias, const Tensor& y,
                          int32_t m);
  // The device copy of RoPE's frequency factors (uploaded when the host pointer changes), or
  // null without factors.
  absl::StatusOr<const float*> FreqFactors(const RopeParams& rp);
  // y[:m] += bias (broadcast row).
  absl::Status AddBias(const Tensor& y, const Tensor& bias, int32_t m);
  // MatmulMany after its checks: the products (k: the common K).
  absl::Status MatmulProducts(const Tensor& x, std::span<const MatmulOut> outs, int32_t k);
  // y = cap * tanh(y / cap) in place (MatmulOut::softcap).
  absl::Status Softcap(const Tensor& y, float cap);
  // SwiGlu, or GeGlu with gelu_tanh: the checks (errors naming `op`) and the launch.
  absl::Status GatedUnit(std::string_view op, const Tensor& gate, const Tensor& up,
                         const Tensor& out, bool gelu_tanh);

  // One recorded step: its instantiated graph and the policy's record.
  struct Graph {
    cudaGraphExec_t exec = nullptr;
    GraphState state;
  };
  // The device buffers of a graph bucket's attention plans (fixed addresses for its replays).
  struct GraphPlanBuffers {
    DeviceBuffer plan, workspace;
  };
  void DestroyGraph(Graph& g);

  CudaBackendOptions opt_;
  CudaStream stream_;
  CublasHandle cublas_;
  std::string device_name_;
  int num_sms_ = 0;
  bool wgmma_ = false;
  int64_t weight_bytes_ = 0;
  CudaF16AtLoad f16_at_load_;
  absl::Status sticky_;

  // Scratch, grow-only.
  DeviceBuffer act16_;       // Matmul input in f16/bf16
  DeviceBuffer dequant_;     // a dequantized weight matrix
  DeviceBuffer q16_, o16_;   // Attention q and output in the cache type
  DeviceBuffer plan_;        // the current attention plan's index arrays and items
  DeviceBuffer workspace_;   // decode partials
  DeviceBuffer skip_slots_;  // i32 -1 per token: Rope without a KV write
  DeviceBuffer freq_factors_;
  DeviceBuffer moe_workspace_;                // MatmulExperts' grouping of rows by expert
  const float* freq_factors_host_ = nullptr;  // what freq_factors_ holds
  int64_t skip_slots_count_ = 0;
  uint64_t plan_generation_ = 0;

  // Graphs.
  std::map<GraphKey, Graph> graphs_;
  std::map<std::pair<int32_t, int32_t>, GraphPlanBuffers> graph_plans_;  // (rows, max pages)
  uint64_t scratch_generation_ = 1;
  bool capturing_ = false;
  bool gemm_fallback_ = false;
  Counters counters_;
};

}  // namespace phx::ops::cuda
