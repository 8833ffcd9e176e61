// The CPU backend: f32 activations, weights used in place (mmap'd GGUF bytes) or from the copies
// PrepareMatmul makes (repacked, or in huge pages), SIMD kernels chosen at run time (scalar /
// AVX2 / AVX-512 VNNI) and a private fork/join thread pool.
//
// Not thread-safe: one caller at a time (the backend owns per-call scratch). Weight types for
// matmul: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K; KV cache: F16 or F32.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "ops/backend.h"
#include "ops/cpu/aligned_buffer.h"
#include "ops/cpu/cpu_features.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/thread_pool.h"

namespace phx::ops::cpu {

class CpuBackend : public Backend {
 public:
  // n_threads <= 0: one per hardware thread. SIMD level: the best this CPU has, lowered by the
  // environment variable PHX_CPU_ISA=scalar|avx2|avx512 when set.
  explicit CpuBackend(int n_threads);
  // Uses `isa`, capped at the best level this CPU has.
  CpuBackend(int n_threads, IsaLevel isa);
  ~CpuBackend() override;

  std::string_view name() const override { return "cpu"; }
  Device device() const override { return Device::kCpu; }
  IsaLevel isa() const { return kernels_.isa; }
  int num_threads() const { return pool_.size(); }
  ThreadPool& pool() { return pool_; }

  bool Supports(Op op, DType dtype) const override;

  // The kernels this backend runs, for benchmark reports: the ISA level and the weights
  // PrepareMatmul repacked so far, e.g. "avx512; repacked 154 q4_K (Kx16), 22 q6_K (Kx16)".
  std::string KernelSummary();

  absl::StatusOr<Buffer> Allocate(DType dtype, std::initializer_list<int64_t> shape) override;
  absl::StatusOr<Buffer> AdoptWeight(const Tensor& host) override;
  // Quantized matrices get a copy in the layout of the AVX-512 VNNI kernels where they run
  // (Q8_0: Q8x16, packed_formats.h; the 4-6-bit types: Q32x16 or Kx16, repack_formats.h),
  // unless the environment sets PHX_CPU_REPACK=0. F32/F16/BF16 matrices get a copy in
  // huge-page memory (aligned_buffer.h; decode streams it faster than 4 KiB file pages) unless
  // PHX_CPU_COPY_FLOAT=0 or PHX_CPU_REPACK=0: on AVX-512 in the 64-row group layout of the
  // float kernels (repack_formats.h), elsewhere the same rows; other weights nullptr. Float
  // matmuls are batch-invariant with or without the copy: every path sums each output in one
  // order whatever the number of rows (matmul_float_panel_avx512.cc).
  absl::StatusOr<std::unique_ptr<PreparedWeight>> PrepareMatmul(const Tensor& w) override;
  absl::Status CopyToDevice(const void* host, size_t bytes, const Tensor& dst) override;
  absl::Status CopyToHost(const Tensor& src, void* host, size_t bytes) override;
  absl::Status Fill(const Tensor& dst, float value) override;
  absl::Status Synchronize() override { return absl::OkStatus(); }

  absl::Status Matmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                      const Tensor& y) override;
  absl::Status MatmulMany(const Tensor& x, std::span<const MatmulOut> outs) override;
  absl::Status RmsNorm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override;
  absl::Status LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps,
                         const Tensor& y) override;
  absl::Status Gelu(const Tensor& x, const Tensor& out) override;
  absl::Status PostNormAdd(const Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                           const Tensor& out) override;
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
  absl::Status GeGlu(const Tensor& gate, const Tensor& up, const Tensor& out) override;
  absl::Status Add(const Tensor& a, const Tensor& b, const Tensor& out) override;
  absl::Status Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) override;
  absl::Status ScaledEmbedding(const Tensor& table, const Tensor& ids, float scale,
                               const Tensor& out) override;
  absl::Status MoeRoute(const Tensor& logits, int32_t k, bool normalize, const Tensor& weights,
                        const Tensor& ids) override;
  // Groups the rows by expert, gathers each expert's activation rows (quantized once for all its
  // products) and runs every (expert, product) tile in one parallel pass; outputs scattered back.
  absl::Status MatmulExperts(const Tensor& x, const Tensor& ids,
                             std::span<const ExpertOut> outs) override;
  absl::Status MoeCombine(const Tensor& y, const Tensor& weights, const Tensor& residual,
                          const Tensor& out) override;
  absl::Status Softmax(const Tensor& x, float temperature, const Tensor& out) override;
  absl::Status ApplyPenalties(const Tensor& logits, std::span<const PenaltyRow> rows) override;

 private:
  class Repacked;
  // A product of MatmulRows: y = softcap(rows [row0, row0 + rows) of x . w^T + bias) (rows < 0:
  // all of x); `repacked` is w's Q8x16 copy (nullptr: looked up by w).
  struct RowProduct {
    const Tensor* w = nullptr;
    const Tensor* bias = nullptr;
    const Tensor* y = nullptr;
    float softcap = 0.f;
    int64_t row0 = 0, rows = -1;
    const uint8_t* repacked = nullptr;
  };
  absl::Status MatmulRows(const Tensor& x, std::span<const RowProduct> products);
  // The Q8x16 copy of `w` registered by PrepareMatmul, or nullptr.
  const uint8_t* FindRepacked(const Tensor& w);
  void Forget(const Repacked* r);

  // Runs fn(row_begin, row_end) over `rows` rows in parallel when rows * cost is large.
  void ParallelRows(int64_t rows, int64_t cost_per_row,
                    const std::function<void(int64_t, int64_t)>& fn);

  ThreadPool pool_;
  KernelTable kernels_;
  AlignedBuffer act_[5];  // quantized activations of the current matmul, one per format
  std::vector<AlignedBuffer> gemm_scratch_;       // one weight-panel buffer per thread
  std::vector<std::vector<float>> attn_scratch_;  // one per thread
  AlignedBuffer moe_x_;                           // MatmulExperts' gathered activation rows
  std::vector<AlignedBuffer> moe_y_;              // and its gathered outputs, one per product
  bool repack_ = true;
  bool copy_float_ = true;  // PrepareMatmul copies float matrices (PHX_CPU_COPY_FLOAT)
  std::mutex repacked_mu_;  // PrepareMatmul handles may be destroyed on any thread
  std::map<const void*, const Repacked*> repacked_;  // by the original weight's data pointer
  std::map<DType, int64_t> repacked_count_;          // matrices repacked, by type
};

}  // namespace phx::ops::cpu
