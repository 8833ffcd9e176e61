// A model's architecture as data: hyper-parameters and the features its family needs, read from
// GGUF metadata and tensor names. The forward pass (forward.cc) and the weight binding
// (weights.cc) are generic over this description; each family's small file in families/ maps
// its metadata onto it (families.h). Every feature below names the GGUF keys or tensors it
// comes from; a file that asks for something this description cannot express fails at load
// with an error naming the feature and the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf.h"

namespace phx::model {

// llama pairs adjacent dims; NeoX pairs halves; kNone: no rotary positions (bert's absolute
// position embeddings instead).
enum class RopeType { kNormal, kNeox, kNone };
// rope.scaling.type. Llama 3.1's "llama3" scaling is no type: it is the rope_freqs.weight
// tensor of per-pair frequency divisors (any family whose file has it).
enum class RopeScaling { kNone, kLinear, kYarn, kLongRope };
// silu(gate) * up, gelu_tanh(gate) * up, gelu_tanh(up) with no gate (bert).
enum class FfnAct { kSwiGlu, kGeGlu, kGelu };
// RMSNorm (x * w) or LayerNorm with a bias ((x - mean) / std * w + b, bert).
enum class NormType { kRms, kLayer };
// How an embedding pools the final hidden states of its input: <arch>.pooling_type, with
// llama.cpp's LLAMA_POOLING_TYPE values (rank, 4, is a reranker's head: not supported).
enum class Pooling { kNone = 0, kMean = 1, kCls = 2, kLast = 3 };
// "none", "mean", "cls", "last".
const char* PoolingName(Pooling p);

// What changes from layer to layer.
struct LayerConfig {
  bool sliding = false;         // sliding-window attention (window = sliding_window)
  float rope_base = 10000.f;    // rope.freq_base, or rope.freq_base_swa on sliding layers
  float rope_freq_scale = 1.f;  // 1 / linear scaling factor (1 on Gemma 3's sliding layers)
};

struct ModelConfig {
  std::string arch;  // general.architecture
  std::string name;  // general.name, may be empty
  int64_t context_length = 0;
  int64_t n_embd = 0;
  int64_t n_ff = 0;  // dense FFN width (feed_forward_length); 0 in MoE-only families
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // per-head size of Q and K (and V): attention.key_length
  int64_t n_rot = 0;     // rotated dims per head: rope.dimension_count (partial rotary when less)
  int64_t vocab_size = 0;
  float rms_eps = 1e-5f;  // attention.layer_norm_rms_epsilon
  // pooling_type: how the model's embeddings pool (kNone: the file names none; a decoder then
  // embeds only when served with --embeddings, which picks the pooling).
  Pooling pooling = Pooling::kNone;
  // attention.causal: false for bidirectional encoders (bert). Such a model's hidden states
  // depend on the whole input, so an embedding input runs in one step (never chunked) and its
  // KV is never shared through the prefix cache.
  bool causal = true;

  // ---- RoPE -----------------------------------------------------------------------------
  RopeType rope_type = RopeType::kNormal;         // fixed per family (llama.cpp's rope type)
  float rope_freq_base = 10000.f;                 // rope.freq_base
  RopeScaling rope_scaling = RopeScaling::kNone;  // rope.scaling.type
  float rope_scale_factor = 1.f;       // rope.scaling.factor (or rope.scale_linear): positions / it
  int64_t rope_orig_context = 0;       // rope.scaling.original_context_length (YaRN, longrope)
  float rope_attn_factor = 1.f;        // rope.scaling.attn_factor: cos/sin magnitude (Phi-3)
  bool has_rope_freq_factors = false;  // rope_freqs.weight [n_rot/2] (Llama 3.1 "llama3")
  bool has_longrope_factors = false;   // rope_factors_long/short.weight [n_rot/2] (Phi-3)

  // ---- Attention ------------------------------------------------------------------------
  bool fused_qkv = false;  // blk.N.attn_qkv.weight [D, q + 2 kv] instead of attn_q/k/v
  bool qkv_bias = false;   // attn_q/k/v.bias (or attn_qkv.bias): qwen2 always, others optional
  bool out_bias = false;   // attn_output.bias (llama, optional)
  bool qk_norm = false;  // attn_q_norm / attn_k_norm [head_dim]: RMSNorm per head (Qwen3, Gemma 3)
  float attn_scale = 0.f;      // multiplies q.k (1/sqrt(head_dim), Gemma: from the shape)
  float attn_softcap = 0.f;    // attn_logit_softcapping: cap * tanh(s / cap) (Gemma 2)
  int64_t sliding_window = 0;  // attention.sliding_window (Gemma 2/3); layers say which use it
  int64_t swa_pattern = 0;     // attention.sliding_window_pattern: every P-th layer is global

  // ---- Block structure ------------------------------------------------------------------
  bool post_norms = false;  // post_attention_norm / post_ffw_norm before the residual adds (Gemma)
  float embd_scale = 1.f;   // token embeddings times this (Gemma: sqrt(n_embd))
  FfnAct ffn_act = FfnAct::kSwiGlu;
  bool fused_gate_up = false;  // ffn_up.weight [D, 2F]: gate then up halves (Phi-3)
  float final_softcap = 0.f;   // final_logit_softcapping on the logits (Gemma 2, Gemma 3 opt.)
  bool tied_output = false;    // no output.weight: the token embedding is reused

  // ---- Encoders (bert) --------------------------------------------------------------------
  // Every norm of the model; kLayer: LayerNorm with a bias (<name>.bias), eps from
  // attention.layer_norm_epsilon.
  NormType norm = NormType::kRms;
  float norm_eps = 1e-12f;  // attention.layer_norm_epsilon (NormType::kLayer)
  // Post-LN blocks: x = LN(x + attn(x)) (blk.N.attn_output_norm), x = LN(x + ffn(x))
  // (blk.N.layer_output_norm); no attn_norm / ffn_norm before the blocks.
  bool post_ln = false;
  bool pos_embd = false;      // position_embd.weight [D, context_length] added to the input
  int64_t n_token_types = 0;  // token_types.weight [D, n]: row 0 added to every token
  bool embd_norm = false;     // token_embd_norm.weight/.bias on the input embeddings
  bool ffn_bias = false;      // ffn_up.bias [F], ffn_down.bias [D]
  // output_norm and an output head: false for an encoder, whose final hidden states are its
  // output (embeddings); generation is refused.
  bool lm_head = true;

  // ---- Mixture of experts (expert_count > 0) ---------------------------------------------
  int64_t n_expert = 0;       // expert_count
  int64_t n_expert_used = 0;  // expert_used_count (top-k)
  int64_t n_ff_expert = 0;    // expert_feed_forward_length (Qwen3-MoE), else feed_forward_length
  bool expert_weights_norm = false;  // renormalize the top-k router weights to sum 1

  std::vector<LayerConfig> layers;  // [n_layer]

  DType weight_type = DType::kF32;  // type of the largest matrices (for summaries)
  uint64_t n_params = 0;

  int64_t kv_dim() const { return n_head_kv * head_dim; }
  int64_t q_dim() const { return n_head * head_dim; }
  bool moe() const { return n_expert > 0; }
  bool any_sliding() const;
  // One-line summary: arch, layers, dims, heads, params, dtype.
  std::string Summary() const;
  // The features in use, comma-separated (for `phalanx model inspect`).
  std::string FeatureList() const;
};

// Reads the config of a supported family. Errors name the key or tensor at fault; an
// unsupported architecture or feature is UnimplementedError naming it.
absl::StatusOr<ModelConfig> ConfigFromGguf(const gguf::File& f);

}  // namespace phx::model
