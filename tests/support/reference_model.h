// A float64 forward pass of any supported family over a whole token sequence (dense attention,
// no cache), written independently of ops/ and runtime/model/forward.cc so tests can check them
// against it: fused or separate projections and biases, per-head q/k norm, post-norms,
// embedding scaling, SwiGLU/GeGLU, soft-caps, sliding windows, per-layer RoPE with partial
// rotation, linear/YaRN scaling and factor tensors, and mixture-of-experts FFNs. Weights are
// dequantized row by row with base/dtype.h's reference dequantizers, and a quantized weight's
// matmul sees its input quantized as llama.cpp quantizes it (Q8_0 or Q8_K blocks, bf16 where
// the backend rounds to it);
// hyper-parameters come from the ModelConfig (what ConfigFromGguf read).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/gguf/gguf.h"
#include "runtime/model/config.h"

namespace phx::testing {

class ReferenceModel {
 public:
  // `context_length`: the serving context (Phi-3 longrope picks its factors by it; 0: the
  // model's).
  ReferenceModel(const gguf::File& file, const model::ModelConfig& config,
                 int64_t context_length = 0);
  // Logits [tokens.size()][vocab] for every position of the sequence.
  std::vector<std::vector<double>> Logits(const std::vector<int32_t>& tokens) const;
  // Whether a BF16 weight's matmul sees its input rounded to bf16 (the AVX-512 BF16 kernel's
  // vdpbf16ps, as llama.cpp's vec_dot_type for BF16) rather than in f32.
  void set_bf16_activations(bool on) { bf16_acts_ = on; }

 private:
  // Dequantized matrix [rows][cols] for a GGUF tensor [cols, rows] (3-D: [cols, rows, n] as
  // n * rows rows).
  std::vector<double> Matrix(const std::string& name, int64_t* rows, int64_t* cols) const;
  std::vector<double> Vector(const std::string& name) const;
  DType Type(const std::string& name) const;
  bool Has(const std::string& name) const { return f_.FindTensor(name) != nullptr; }

  const gguf::File& f_;
  model::ModelConfig c_;
  int64_t ctx_;
  bool bf16_acts_ = false;
};

}  // namespace phx::testing
