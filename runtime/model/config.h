// Model hyper-parameters read from GGUF metadata, for the `llama` and `qwen2` architectures.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf.h"

namespace phx::model {

enum class RopeType { kNormal, kNeox };  // llama pairs adjacent dims; NeoX pairs halves
enum class RopeScaling { kNone, kLinear, kYarn };

struct ModelConfig {
  std::string arch;  // "llama" or "qwen2"
  std::string name;  // general.name, may be empty
  int64_t context_length = 0;
  int64_t n_embd = 0;
  int64_t n_ff = 0;
  int64_t n_layer = 0;
  int64_t n_head = 0;
  int64_t n_head_kv = 0;
  int64_t head_dim = 0;  // per-head size of Q and K (and V)
  int64_t n_rot = 0;     // rotated dims per head (== head_dim for these architectures)
  int64_t vocab_size = 0;
  float rms_eps = 1e-5f;
  float rope_freq_base = 10000.f;
  RopeType rope_type = RopeType::kNormal;
  RopeScaling rope_scaling = RopeScaling::kNone;
  float rope_scale_factor = 1.f;  // positions divided by this for linear scaling
  int64_t rope_orig_context = 0;
  bool has_rope_freq_factors = false;  // rope_freqs.weight present (Llama 3.1 style)
  bool tied_output = false;            // no output.weight: the token embedding is reused
  bool qkv_bias = false;               // qwen2
  DType weight_type = DType::kF32;     // type of the largest matrices (for summaries)
  uint64_t n_params = 0;

  int64_t kv_dim() const { return n_head_kv * head_dim; }
  int64_t q_dim() const { return n_head * head_dim; }
  // One-line summary: arch, layers, dims, heads, params, dtype.
  std::string Summary() const;
};

absl::StatusOr<ModelConfig> ConfigFromGguf(const gguf::File& f);

}  // namespace phx::model
