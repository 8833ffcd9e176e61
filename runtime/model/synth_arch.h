// The family-specific parts of SynthesizeModel: which tensors a family has and the metadata
// llama.cpp reads for each --arch option (internal to synth.cc).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/gguf/writer.h"
#include "runtime/model/synth.h"

namespace phx::model::synth {

struct ArchPlan {
  std::string gguf_arch;  // general.architecture and the metadata prefix
  int64_t head_dim = 0;
  bool qkv_bias = false;       // attn_q/k/v.bias (qwen2)
  bool qk_norm = false;        // attn_q_norm / attn_k_norm [head_dim] (qwen3*, gemma3)
  bool post_norms = false;     // post_attention_norm / post_ffw_norm (gemma2/3)
  bool fused_qkv = false;      // attn_qkv.weight (phi3)
  bool fused_gate_up = false;  // ffn_up.weight [D, 2F] (phi3)
  bool tied = false;           // no output.weight
  int64_t n_expert = 0, n_expert_used = 0, n_ff_expert = 0;  // experts of n_ff_expert
  // Token embedding amplitude (uniform), chosen so the first residual is about unit size:
  // sqrt(3) for unit variance, divided by Gemma's sqrt(n_embd) input scaling.
  float embd_amp = 1.f;
  // Scale of the attention scores: 1 keeps q.k * scale near unit size; the new families use
  // 2.5 so attention is sharp and soft-caps, windows and RoPE variants change the tokens
  // (applied to attn_q, to the q norm where there is one, to sqrt of it on a fused qkv).
  float q_gain = 1.f;
  // Gain of the projections back into the residual stream (attn_output, ffn_down, experts'
  // down) and Gemma's post-norm weights: 0 keeps the classic 1/sqrt(2 layers) damping (llama,
  // qwen2). The new families use 1, and 8 with a tied output (Gemma: post-norm weights 6, its
  // norms fixing the scale): with a tied output the current token's own embedding in the
  // residual would otherwise win every step (a model that repeats its last prompt token), and
  // attention, experts and RoPE must decide the next token for a test to see them.
  float resid_gain = 0.f;
  float post_norm = 1.f;
  // An encoder (bert): post-LN blocks with biases, absolute position embeddings and token
  // types, no output norm or head; synth_bert.cc writes its tensors.
  bool encoder = false;
};

// Checks the family options against the architecture and plans its tensors.
absl::StatusOr<ArchPlan> PlanArch(const SynthOptions& o);
// Writes the family's metadata keys (the shared sizes are written by the caller).
absl::Status WriteArchMetadata(const SynthOptions& o, const ArchPlan& a, int64_t n_vocab,
                               gguf::Writer& w);
// Writers of the caller's deterministic weights: a matrix [in -> out] scaled to keep unit
// variance (times `extra`), an f32 vector base + amp * U(-1, 1), and an embedding table of `rows`
// rows of `cols` values amp * U(-1, 1).
using MatrixFn = std::function<absl::Status(const std::string&, int64_t, int64_t, float)>;
using VecFn = std::function<absl::Status(const std::string&, int64_t, float, float)>;
using TableFn = std::function<absl::Status(const std::string&, int64_t, int64_t, float)>;
// The encoder's tensors after token_embd.weight, in the order llama.cpp's converter writes
// them for BERT (synth_bert.cc).
absl::Status AddEncoderTensors(const SynthOptions& o, const ArchPlan& a, const MatrixFn& matrix,
                               const VecFn& vec, const TableFn& table);

// rope_freqs.weight (llama3 scaling) or rope_factors_long/short.weight (phi3 longrope), when
// --rope-scaling asks for them.
absl::Status AddRopeFactorTensors(const SynthOptions& o, const ArchPlan& a, gguf::Writer& w);

}  // namespace phx::model::synth
