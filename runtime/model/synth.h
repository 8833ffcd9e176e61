// Synthesizes a valid GGUF model with deterministic random weights (same options and seed give
// the same bytes, whatever the thread count) and the vocabulary of an existing GGUF file.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "base/dtype.h"

namespace phx::model {

struct SynthOptions {
  std::string arch = "llama";  // llama | qwen2
  std::string name = "phalanx-synth";
  std::string vocab_from;  // GGUF whose tokenizer.* metadata is copied
  int64_t n_layer = 2;
  int64_t n_embd = 256;
  int64_t n_ff = 688;
  int64_t n_head = 4;
  int64_t n_head_kv = 4;
  int64_t head_dim = 0;  // 0: n_embd / n_head
  int64_t context_length = 2048;
  DType dtype = DType::kF16;  // 2-D weights; norms and biases are always f32
  // llama.cpp file type ("Q4_K_M", quant_mix.h): its per-tensor recipe instead of `dtype`.
  std::string mix;
  bool tied_output = false;
  float rope_freq_base = 10000.f;
  float rms_eps = 1e-5f;
  uint64_t seed = 1;
};

absl::Status SynthesizeModel(const SynthOptions& opt, const std::string& out_path);

// The deterministic weight stream: value `i` of tensor `tensor_id` under `seed`, uniform in
// [-1, 1). Exposed for tests.
float SynthUniform(uint64_t seed, uint64_t tensor_id, uint64_t i);

}  // namespace phx::model
