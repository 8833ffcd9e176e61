// Synthesizes a valid GGUF model with deterministic random weights (same options and seed give
// the same bytes, whatever the thread count) and the vocabulary of an existing GGUF file.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "base/dtype.h"

namespace phx::model {

struct SynthOptions {
  // llama | qwen2 | qwen3 | gemma2 | gemma3 | phi3 | mixtral | qwen3moe. mixtral writes what
  // llama.cpp's converter writes for Mixtral: architecture llama with expert_count.
  std::string arch = "llama";
  std::string name = "phalanx-synth";
  std::string vocab_from;  // GGUF whose tokenizer.* metadata is copied
  int64_t n_layer = 2;
  int64_t n_embd = 256;
  int64_t n_ff = 688;
  int64_t n_head = 4;
  int64_t n_head_kv = 4;
  int64_t head_dim = 0;  // 0: n_embd / n_head
  int64_t n_rot = 0;     // rope.dimension_count (0: the head dim; less: partial rotary, phi3)
  int64_t context_length = 2048;
  DType dtype = DType::kF16;   // 2-D weights; norms and biases are always f32
  // llama.cpp file type ("Q4_K_M", quant_mix.h): its per-tensor recipe instead of `dtype`.
  std::string mix;
  bool tied_output = false;    // --tied: no output.weight
  bool untied_output = false;  // --untied: output.weight even where the family ties (gemma3)
  float rope_freq_base = 10000.f;
  float rms_eps = 1e-5f;
  uint64_t seed = 1;
  // Family options, each written to the metadata key llama.cpp reads (synth_arch.cc).
  int64_t n_expert = 0, n_expert_used = 0;  // expert_count, expert_used_count (mixtral, qwen3moe)
  int64_t n_ff_expert = 0;     // qwen3moe's expert_feed_forward_length (0: --ffn / experts used)
  int64_t sliding_window = 0;  // attention.sliding_window (gemma2/3; 0: the family default)
  int64_t swa_pattern = 0;     // attention.sliding_window_pattern: every P-th layer global
  std::string rope_scaling = "none";  // none | linear | llama3 | yarn | longrope (phi3)
  float rope_scaling_factor = 8.f;
  int64_t rope_orig_ctx = 0;  // rope.scaling.original_context_length (0: --ctx)
  float attn_softcap = 0.f;   // attn_logit_softcapping (gemma2; 0: its default 50)
  float final_softcap = 0.f;  // final_logit_softcapping (gemma2 default 30; gemma3 optional)
  // pooling_type written as llama.cpp's LLAMA_POOLING_TYPE value: "" (none written) | none |
  // mean | cls | last.
  std::string pooling;
};

absl::Status SynthesizeModel(const SynthOptions& opt, const std::string& out_path);

// The deterministic weight stream: value `i` of tensor `tensor_id` under `seed`, uniform in
// [-1, 1). Exposed for tests.
float SynthUniform(uint64_t seed, uint64_t tensor_id, uint64_t i);

}  // namespace phx::model
