// The operator interface every compute backend (CPU, CUDA) implements. The runtime builds a
// model's forward pass from these calls only, so a backend is swappable and each op is tested
// against the float64 reference in ops/reference/.
//
// Conventions: activations are f32 on the CPU backend; matrices are [rows, cols] row-major with
// GGUF's weight layout (a weight [N, K] holds N output rows of K inputs). An op or dtype a
// backend cannot run is an error (UnimplementedError naming the op and dtype), never a silent
// fallback.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ops/tensor.h"

namespace phx::ops {

enum class Op {
  kMatmul,
  kRmsNorm,
  kRope,
  kWriteKv,
  kAttention,
  kSwiGlu,
  kAdd,
  kEmbedding,
  kSoftmax,
  kPenalties,
  // Features the model families need beyond the Llama set (issue 24). A backend answers
  // Supports(op, kF32) for each (kMatmulExperts: the weight type); Model::Load checks the ones a
  // model uses, so a backend that lacks one fails at load with an error naming the feature.
  kHeadRmsNorm,       // RmsNorm of each head (w shorter than the row): q/k norm
  kPostNormAdd,       // residual + RmsNorm(x) * w in one pass: post-norms
  kRopeScaled,        // RoPE with YaRN extrapolation mixing or a magnitude factor (RopeParams)
  kAttentionSoftcap,  // cap * tanh(score / cap) inside attention
  kSlidingWindow,     // attention limited to the last `window` positions
  kGeGlu,             // gelu_tanh(gate) * up
  kScaledEmbedding,   // embedding rows times a constant
  kLogitSoftcap,      // cap * tanh(y / cap) fused into a matmul's output (MatmulOut::softcap)
  kMoeRoute,          // router: softmax, top-k, renormalization
  kMatmulExperts,     // grouped matmul over 3-D expert weights
  kMoeCombine,        // weighted sum of the experts' outputs plus the residual
  // Encoder (bert) ops.
  kLayerNorm,              // (x - mean) / sqrt(var + eps) * w + b
  kGelu,                   // gelu_tanh(x), not gated
  kBidirectionalAttention  // AttentionBatch::causal == false: every key of the sequence
};
std::string_view OpName(Op op);

enum class RopeMode { kNormal, kNeox };  // normal: rotate pairs (2i, 2i+1); NeoX: (i, i+n/2)

// RoPE exactly as ggml computes it (ggml_rope_ext): pair i (0 <= i < n_rot / 2) of a head at
// position p turns by theta_i, with theta_extrap = p * base^(-2i/n_rot) / factor_i (the power
// by a float recurrence) and theta_interp = freq_scale * theta_extrap. Without YaRN
// (ext_factor == 0) theta = theta_interp; with it, theta mixes the two by a ramp over the pair
// index between the correction dims of beta_fast and beta_slow (ggml_rope_yarn_corr_dims over
// n_ctx_orig), and the magnitude gains 1 + 0.1 ln(1 / freq_scale). cos and sin are multiplied by
// attn_factor (YaRN's and Phi-3 longrope's magnitude scaling). Dims past n_rot stay as they are.
struct RopeParams {
  RopeMode mode = RopeMode::kNormal;
  int32_t n_rot = 0;                    // rotated dims per head (even, <= head_dim)
  float freq_base = 10000.f;            // theta_i = pos * freq_scale * base^(-2i/n_rot) / factor_i
  float freq_scale = 1.f;               // 1 / linear scaling factor
  const float* freq_factors = nullptr;  // optional [n_rot/2] (host pointer on the CPU backend)
  float ext_factor = 0.f;               // YaRN extrapolation mix (0: off)
  float attn_factor = 1.f;              // multiplies cos and sin
  float beta_fast = 32.f, beta_slow = 1.f;
  int32_t n_ctx_orig = 0;  // context the model was trained with (YaRN correction dims)
  // Whether the op needs more than plain RoPE (Op::kRopeScaled).
  bool scaled() const { return ext_factor != 0.f || attn_factor != 1.f; }
};

// Attention options: scores are q.k * scale, soft-capped to cap * tanh(score / cap) when softcap
// > 0, and a query at position p sees the keys at positions (p - window, p] when window > 0
// (all of 0..p otherwise). A plain scale converts.
struct AttentionOptions {
  AttentionOptions(float s) : scale(s) {}  // NOLINT(google-explicit-constructor)
  AttentionOptions(float s, float cap, int32_t w) : scale(s), softcap(cap), window(w) {}
  float scale = 1.f;
  float softcap = 0.f;
  int32_t window = 0;
};

// One layer's paged KV cache: K and V are [num_blocks, block_size, n_kv_heads, head_dim]
// (f16 or f32). Token slot s lives at block s / block_size, offset s % block_size.
struct KvLayer {
  Tensor k;
  Tensor v;
  int32_t block_size = 16;
};

// The paged layout of one step's attention (FlashInfer's form), host side. For sequence i:
// its new query tokens are rows [q_indptr[i], q_indptr[i+1]) of q; its KV pages are
// kv_indices[kv_indptr[i] .. kv_indptr[i+1]), every page full except the last, which holds
// kv_last_page_len[i] tokens. The new tokens are already written and are the last ones of the
// sequence: query row j of sequence i sits at position kv_len_i - n_new_i + j and attends
// causally to positions 0..that - or, when `causal` is false (bidirectional encoders: bert,
// Op::kBidirectionalAttention), to every position 0..kv_len_i - 1 of its sequence.
struct AttentionBatch {
  std::vector<int32_t> q_indptr;          // [S+1]
  std::vector<int32_t> kv_indptr;         // [S+1]
  std::vector<int32_t> kv_indices;        // [pages]
  std::vector<int32_t> kv_last_page_len;  // [S]
  int32_t block_size = 16;
  bool causal = true;

  int32_t num_seqs() const { return static_cast<int32_t>(kv_last_page_len.size()); }
  int32_t kv_len(int32_t seq) const;
  // Checks internal consistency (monotone indptrs, last_page_len in 1..block_size).
  absl::Status Validate(int32_t num_blocks) const;
};

// Backend-specific, per-step state derived from an AttentionBatch (work partitioning, device
// copies of the index arrays). Planned once per step, used by every layer.
class AttentionPlan {
 public:
  virtual ~AttentionPlan() = default;
};

// Per-row penalty inputs for logits processing: the tokens seen so far with their counts.
struct PenaltyRow {
  std::span<const int32_t> tokens;  // distinct token ids
  std::span<const int32_t> counts;  // occurrences of each
  float repetition = 1.f;           // llama.cpp style: logit / p if > 0 else logit * p
  float presence = 0.f;             // subtracted once if present
  float frequency = 0.f;            // subtracted count times
};

// Identifies one recorded step (Backend::RunGraph): the caller (`owner`, e.g. a model::Forward)
// and a digest of everything its launches depend on besides the contents of its buffers (the
// padded row count, the KV cache's tensors).
struct GraphKey {
  const void* owner = nullptr;
  uint64_t shape = 0;
  bool operator<(const GraphKey& o) const {
    return owner != o.owner ? owner < o.owner : shape < o.shape;
  }
};

// A backend's private copy of a weight (see Backend::PrepareMatmul); RAII.
class PreparedWeight {
 public:
  virtual ~PreparedWeight() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  virtual Device device() const = 0;

  // Capability query: whether `op` runs with `dtype` (the weight type for matmul/embedding,
  // the cache type for KV ops, the activation type otherwise).
  virtual bool Supports(Op op, DType dtype) const = 0;
  absl::Status CheckSupported(Op op, DType dtype) const;

  // ---- Memory ----------------------------------------------------------------------------
  virtual absl::StatusOr<Buffer> Allocate(DType dtype, std::initializer_list<int64_t> shape) = 0;
  // Makes a host weight tensor usable by this backend: the CPU backend returns a non-owning
  // view of the same bytes (no copy); a device backend uploads it.
  virtual absl::StatusOr<Buffer> AdoptWeight(const Tensor& host) = 0;
  // Optionally keeps a copy of an adopted matmul weight in a layout this backend's kernels
  // prefer (the CPU backend interleaves Q8_0 rows for AVX-512 VNNI). While the returned handle
  // lives, Matmul with `w` (the same data pointer and shape) uses that copy; destroy the handle
  // before the weight's bytes. nullptr: nothing to keep for this weight.
  virtual absl::StatusOr<std::unique_ptr<PreparedWeight>> PrepareMatmul(const Tensor& w) {
    (void)w;
    return std::unique_ptr<PreparedWeight>();
  }
  virtual absl::Status CopyToDevice(const void* host, size_t bytes, const Tensor& dst) = 0;
  virtual absl::Status CopyToHost(const Tensor& src, void* host, size_t bytes) = 0;
  virtual absl::Status Fill(const Tensor& dst, float value) = 0;
  virtual absl::Status Synchronize() = 0;

  // ---- Operators (all tensors on this backend's device) ----------------------------------
  // y[M, N] = x[M, K] . w[N, K]^T (+ bias[N]). x, y f32; w any supported weight type.
  virtual absl::Status Matmul(const Tensor& x, const Tensor& w, const Tensor* bias,
                              const Tensor& y) = 0;
  // Several products of the same x (q/k/v, gate/up): y_i = x w_i^T + bias_i. A backend may share
  // the work on x; the CPU backend quantizes x once per activation format and runs every
  // product's tiles in one parallel pass. Same checks and results as Matmul per output.
  // softcap > 0 soft-caps the output while it is computed: y = softcap * tanh(y / softcap)
  // (Op::kLogitSoftcap; Gemma's final logits).
  struct MatmulOut {
    const Tensor* w = nullptr;
    const Tensor* bias = nullptr;  // optional
    const Tensor* y = nullptr;
    float softcap = 0.f;
  };
  virtual absl::Status MatmulMany(const Tensor& x, std::span<const MatmulOut> outs);
  // y[M, D] = (x - mean(x)) / sqrt(var(x) + eps) * w[D] + b[D] (Op::kLayerNorm; the norm of
  // bert). y may alias x.
  virtual absl::Status LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, float eps,
                                 const Tensor& y);
  // out = gelu(x) with GELU's tanh form, elementwise (Op::kGelu; bert's FFN). out may alias x.
  virtual absl::Status Gelu(const Tensor& x, const Tensor& out);
  // y[M, D] = x / sqrt(mean(x^2) + eps) * w[D]. y may alias x. A shorter w[G] (G divides D)
  // normalizes each group of G columns on its own (per-head q/k norm, Op::kHeadRmsNorm).
  virtual absl::Status RmsNorm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) = 0;
  // out[M, D] = residual + x / sqrt(mean(x^2) + eps) * w[D] (a post-norm and its residual add in
  // one pass, Op::kPostNormAdd). out may alias residual or x.
  virtual absl::Status PostNormAdd(const Tensor& residual, const Tensor& x, const Tensor& w,
                                   float eps, const Tensor& out);
  // In place on x[T, H * head_dim] (H heads per row), position positions[t] for row t.
  virtual absl::Status Rope(const Tensor& x, int32_t head_dim, const Tensor& positions,
                            const RopeParams& p) = 0;
  // Writes k, v [T, n_kv_heads * head_dim] (f32) into the cache slots slot_mapping[t] (i32).
  virtual absl::Status WriteKv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping,
                               const KvLayer& cache) = 0;
  virtual absl::StatusOr<std::unique_ptr<AttentionPlan>> PlanAttention(const AttentionBatch& batch,
                                                                       int32_t n_heads,
                                                                       int32_t n_kv_heads,
                                                                       int32_t head_dim) = 0;
  // out[T, n_heads * head_dim] = softmax(q k^T * scale, causal) v over the paged cache, with
  // grouped-query attention (query head h reads KV head h / (n_heads / n_kv_heads)), soft-capped
  // scores and a sliding window as `o` says (Op::kAttentionSoftcap, Op::kSlidingWindow).
  virtual absl::Status Attention(const Tensor& q, const KvLayer& cache, const AttentionPlan& plan,
                                 const AttentionOptions& o, const Tensor& out) = 0;
  // out = silu(gate) * up, all [M, F]. out may alias gate.
  virtual absl::Status SwiGlu(const Tensor& gate, const Tensor& up, const Tensor& out) = 0;
  // out = gelu(gate) * up with GELU's tanh form 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3)))
  // (Op::kGeGlu). out may alias gate.
  virtual absl::Status GeGlu(const Tensor& gate, const Tensor& up, const Tensor& out);
  // out = a + b. out may alias a.
  virtual absl::Status Add(const Tensor& a, const Tensor& b, const Tensor& out) = 0;
  // out[T, D] (f32) = table[ids[t], :] dequantized.
  virtual absl::Status Embedding(const Tensor& table, const Tensor& ids, const Tensor& out) = 0;
  // out[T, D] = table[ids[t], :] * scale (Op::kScaledEmbedding; Gemma's sqrt(n_embd)).
  virtual absl::Status ScaledEmbedding(const Tensor& table, const Tensor& ids, float scale,
                                       const Tensor& out);

  // ---- Mixture of experts (Op::kMoeRoute, kMatmulExperts, kMoeCombine) ------------------
  // Router: for each row of logits[T, E], p = softmax(row); the k experts of largest p (ties to
  // the lower index) in descending order go to ids[T, k] (i32) and their p to weights[T, k]; with
  // `normalize` the k weights are divided by their sum (at least 2^-14, as llama.cpp clamps).
  virtual absl::Status MoeRoute(const Tensor& logits, int32_t k, bool normalize,
                                const Tensor& weights, const Tensor& ids);
  // Expert products for routed rows: w is a 3-D weight [E, N, K] (expert e's matrix [N, K]),
  // ids[T, k] the experts of each row (i32, from MoeRoute). Row t * k + s of y[T * k, N] is
  // x_r . w[ids[t, s]]^T, where x_r is row t of x when x has T rows (every expert of a token
  // reads its input) or row t * k + s when x has T * k rows (each expert its own). Products of
  // the same x and ids (gate and up) go in one call. A backend groups the rows by expert so
  // each selected expert's weights are read once per call and unselected ones not at all.
  struct ExpertOut {
    const Tensor* w = nullptr;
    const Tensor* y = nullptr;
  };
  virtual absl::Status MatmulExperts(const Tensor& x, const Tensor& ids,
                                     std::span<const ExpertOut> outs);
  // out[T, D] = residual + sum over s < k (in order) of weights[t, s] * y[t * k + s, :]
  // (y [T * k, D], weights [T, k]). out may alias residual.
  virtual absl::Status MoeCombine(const Tensor& y, const Tensor& weights, const Tensor& residual,
                                  const Tensor& out);

  // Row-wise softmax of x[M, N] * (1 / temperature) into out (may alias).
  virtual absl::Status Softmax(const Tensor& x, float temperature, const Tensor& out) = 0;
  // Applies repetition/presence/frequency penalties to logits[M, V] row by row, in place.
  virtual absl::Status ApplyPenalties(const Tensor& logits, std::span<const PenaltyRow> rows) = 0;

  // ---- Fused ops: a backend may run each in fewer launches; the defaults call the parts ------
  // x += delta, then y = RmsNorm(x, w, eps) (a block's residual add and the next norm).
  virtual absl::Status AddRmsNorm(const Tensor& x, const Tensor& delta, const Tensor& w, float eps,
                                  const Tensor& y);
  // Rope(q), Rope(k), then WriteKv(k, v, slot_mapping, cache). Afterwards q is rotated and the
  // cache holds rotated k and v; k itself may or may not be rotated (it is scratch).
  virtual absl::Status RopeWriteKv(const Tensor& q, const Tensor& k, const Tensor& v,
                                   int32_t head_dim, const Tensor& positions,
                                   const Tensor& slot_mapping, const RopeParams& rope,
                                   const KvLayer& cache);

  // ---- Step graphs (optional: CUDA graphs of decode steps) ----------------------------------
  // The padded row count at which this backend records a decode step of `rows` sequences, or 0
  // when it records none (the default).
  virtual int32_t GraphRows(int32_t rows) const {
    (void)rows;
    return 0;
  }
  // A plan of a decode step (every sequence one query row) padded to `padded_rows` rows, whose
  // launch shape depends only on (padded_rows, max_pages_per_seq) and whose device arrays live at
  // addresses fixed for that pair: a recorded step replays with the plan of a later step. Rows
  // past the batch are padding (their query rows exist; their output is 0).
  virtual absl::StatusOr<std::unique_ptr<AttentionPlan>> PlanGraphAttention(
      const AttentionBatch& batch, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim,
      int32_t padded_rows, int32_t max_pages_per_seq);
  // Runs `work`, the device work of one step, which issues only this backend's ops on tensors
  // and plans that are the same on every call with the same key (only their contents change).
  // The default calls it; a recording backend may record it once and replay the record later.
  virtual absl::Status RunGraph(const GraphKey& key, absl::FunctionRef<absl::Status()> work) {
    (void)key;
    return work();
  }
  // Drops the records of `owner` (call before the buffers they use go away).
  virtual void ReleaseGraphs(const void* owner) { (void)owner; }

 protected:
  // UnimplementedError naming this backend and `op` (the default of the optional ops).
  absl::Status NotImplemented(Op op) const;
};

}  // namespace phx::ops
