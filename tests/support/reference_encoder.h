// A float64 forward pass of a bert encoder over whole token sequences (dense, no cache),
// written independently of ops/ and runtime/model/forward.cc so tests can check them against
// it: token + token type 0 + absolute position embeddings, the embedding LayerNorm, post-LN
// blocks (x = LN(x + attn(x)); x = LN(x + ffn(x))) with biased projections, bidirectional
// attention (or causal when the config says so), a GELU (tanh form) FFN. Weights are read as
// float (F32/F16/BF16 files: no activation quantization is modeled); hyper-parameters come from
// the ModelConfig (what ConfigFromGguf read).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"

namespace phx::testing {

class ReferenceEncoder {
 public:
  ReferenceEncoder(const gguf::File& file, const model::ModelConfig& config)
      : f_(file), c_(config) {}
  // The final hidden states [tokens.size()][n_embd] of one sequence at positions 0..n-1.
  std::vector<std::vector<double>> Hidden(const std::vector<int32_t>& tokens) const;

 private:
  // Matrix [rows][cols] of a GGUF tensor [cols, rows], as doubles.
  std::vector<double> Tensor(const std::string& name, int64_t* rows, int64_t* cols) const;
  std::vector<double> Vector(const std::string& name) const;

  const gguf::File& f_;
  model::ModelConfig c_;
};

}  // namespace phx::testing
