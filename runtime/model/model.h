// A loaded Llama-family model: the mapped GGUF file, its config and tokenizer, and weight views
// adopted by a backend (the CPU backend reads them straight from the mapping, no copy).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ops/backend.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::model {

struct LayerWeights {
  ops::Tensor attn_norm;     // [D]
  ops::Tensor wq, wk, wv;    // [q_dim, D], [kv_dim, D], [kv_dim, D]
  ops::Tensor bq, bk, bv;    // qwen2 only: [q_dim], [kv_dim], [kv_dim]; data == nullptr otherwise
  ops::Tensor wo;            // [D, q_dim]
  ops::Tensor ffn_norm;      // [D]
  ops::Tensor w_gate, w_up;  // [F, D]
  ops::Tensor w_down;        // [D, F]
};

struct Weights {
  ops::Tensor tok_embd;     // [V, D]
  ops::Tensor output_norm;  // [D]
  ops::Tensor output;       // [V, D] (the embedding when tied)
  std::vector<LayerWeights> layers;
  std::vector<float> rope_freq_factors;  // [n_rot/2] when the file has rope_freqs.weight
};

// Progress of a load: (bytes done, bytes total).
using LoadProgress = std::function<void(uint64_t, uint64_t)>;

class Model {
 public:
  static absl::StatusOr<std::unique_ptr<Model>> Load(const std::string& path, ops::Backend& backend,
                                                     const LoadProgress& progress = nullptr);

  const ModelConfig& config() const { return config_; }
  const tok::Tokenizer& tokenizer() const { return *tokenizer_; }
  const Weights& weights() const { return weights_; }
  const gguf::File& file() const { return *file_; }
  const std::string& path() const { return path_; }
  // Bytes of weight data (what a decode step streams).
  uint64_t weight_bytes() const { return weight_bytes_; }

 private:
  Model() = default;
  absl::Status BindWeights(ops::Backend& backend, const LoadProgress& progress);

  std::string path_;
  std::unique_ptr<gguf::File> file_;
  ModelConfig config_;
  std::unique_ptr<tok::Tokenizer> tokenizer_;
  Weights weights_;
  std::vector<ops::Buffer> adopted_;
  // Backend copies of matmul weights (destroyed before the weights they copy).
  std::vector<std::unique_ptr<ops::PreparedWeight>> prepared_;
  uint64_t weight_bytes_ = 0;
};

}  // namespace phx::model
