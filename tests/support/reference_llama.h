// A float64 Llama/Qwen2 forward pass over a whole token sequence (dense attention, no cache),
// written independently of ops/ and runtime/model/forward.cc so tests can check them against
// it. Weights are dequantized row by row with base/dtype.h's reference dequantizers.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"

namespace phx::testing {

class ReferenceLlama {
 public:
  ReferenceLlama(const gguf::File& file, const model::ModelConfig& config);
  // Logits [tokens.size()][vocab] for every position of the sequence.
  std::vector<std::vector<double>> Logits(const std::vector<int32_t>& tokens) const;

 private:
  // Dequantized matrix [rows][cols] for a GGUF tensor [cols, rows].
  std::vector<double> Matrix(const std::string& name, int64_t* rows, int64_t* cols) const;
  std::vector<double> Vector(const std::string& name) const;

  const gguf::File& f_;
  model::ModelConfig c_;
};

}  // namespace phx::testing
