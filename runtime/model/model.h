// A loaded model of any supported family (config.h, family.h): the mapped GGUF file, its config
// and tokenizer, and weight views adopted by a backend (the CPU backend reads them straight from
// the mapping, no copy). Loading checks that the backend runs every op the family needs.
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

// One layer's weights as the backend holds them ([rows, cols], GGUF's [cols, rows] swapped;
// expert weights [E, rows, cols]). Tensors a model does not have keep data == nullptr.
struct LayerWeights {
  ops::Tensor attn_norm;                         // [D]
  ops::Tensor wqkv, bqkv;                        // fused_qkv: [q_dim + 2 kv_dim, D] (+ bias)
  ops::Tensor wq, wk, wv;                        // [q_dim, D], [kv_dim, D], [kv_dim, D]
  ops::Tensor bq, bk, bv;                        // qkv_bias: [q_dim], [kv_dim], [kv_dim]
  ops::Tensor wo, bo;                            // [D, q_dim] (+ out_bias [D])
  ops::Tensor q_norm, k_norm;                    // qk_norm: [head_dim]
  ops::Tensor attn_post_norm;                    // post_norms: [D]
  ops::Tensor ffn_norm;                          // [D]
  ops::Tensor w_gate, w_up;                      // [F, D] (fused_gate_up: w_up [2F, D], no w_gate)
  ops::Tensor w_down;                            // [D, F]
  ops::Tensor ffn_post_norm;                     // post_norms: [D]
  ops::Tensor router;                            // moe: ffn_gate_inp [E, D]
  ops::Tensor gate_exps, up_exps, down_exps;     // moe: [E, Fe, D], [E, Fe, D], [E, D, Fe]
  ops::Tensor b_up, b_down;                      // ffn_bias: [F], [D]
  ops::Tensor attn_out_norm, attn_out_norm_b;    // post_ln: [D] each
  ops::Tensor layer_out_norm, layer_out_norm_b;  // post_ln: [D] each
  ops::Tensor attn_norm_b, ffn_norm_b;           // NormType::kLayer with pre-norms: [D]
};

struct Weights {
  ops::Tensor tok_embd;                    // [V, D]
  ops::Tensor pos_embd;                    // pos_embd: [context_length, D]
  ops::Tensor type_embd;                   // n_token_types > 0: [types, D]
  ops::Tensor embd_norm, embd_norm_b;      // embd_norm: [D] each
  ops::Tensor output_norm, output_norm_b;  // [D] (lm_head; the bias with NormType::kLayer)
  ops::Tensor output;                      // [V, D] (the embedding when tied; lm_head)
  std::vector<LayerWeights> layers;
  std::vector<float> rope_freq_factors;      // [n_rot/2]: rope_freqs.weight (Llama 3.1)
  std::vector<float> rope_long, rope_short;  // [n_rot/2]: Phi-3 longrope factors
};

// OK when `backend` runs every op `c` needs beyond the Llama set; else UnimplementedError naming
// the feature, its metadata key and the op.
absl::Status CheckBackendSupports(const ModelConfig& c, const ops::Backend& backend);

// OK when `f` has exactly the tensors `c` needs, with the right shapes and types `backend`
// supports; else the first problem, naming the tensor (weights.cc).
absl::Status CheckTensors(const gguf::File& f, const ModelConfig& c, const ops::Backend& backend);

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
  // weights.cc: binds every tensor the config asks for (shapes and types checked) and refuses
  // tensors it does not use.
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
