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
#include <utility>
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
  // The final hidden states [tokens.size()][n_embd] after the output norm (what the logits are
  // computed from, and what llama.cpp returns as embeddings).
  std::vector<std::vector<double>> Hidden(const std::vector<int32_t>& tokens) const;
  // Whether a BF16 weight's matmul sees its input rounded to bf16 (the AVX-512 BF16 kernel's
  // vdpbf16ps, as llama.cpp's vec_dot_type for BF16) rather than in f32.
  void set_bf16_activations(bool on) { bf16_acts_ = on; }

  // Rounding a matmul input (to Q8_0 / Q8_K / bf16) is discontinuous: where a value sits within
  // a few f32 ulps of a rounding boundary, the backend's f32 activation (equal to this one up to
  // f32 accumulation, ~1e-7 relative) can round to the other neighbour, a whole step away, and
  // that changes the logits by ~1e-3. Each rounding within kAmbiguous (relative) of its
  // boundary is listed by Logits; a test that disagrees can rerun it with some of them flipped
  // (each variant an exact reference of a legitimate rounding) instead of loosening.
  static constexpr double kAmbiguous = 1e-6;
  struct Rounding {
    int64_t layer = -1;  // -1: the output head
    int64_t pos = 0;
    std::string input;  // attn_in, attn_out, ffn_in, ffn_down, ffn_down_exps.E, output
    int64_t index = 0;  // the element; -1 - b: Q8_0 block b's f16 scale
    double dist = 0;    // from the boundary, relative to the Q8 block's largest value (bf16: to
                        // the value; an f16 scale: to the scale)
  };
  // The ambiguous roundings of the last Logits call, in the order met.
  const std::vector<Rounding>& ambiguous() const { return ambiguous_; }
  // Roundings (matched by layer, pos, input and index) the next Logits calls take the other way.
  void set_flips(std::vector<Rounding> flips) { flips_ = std::move(flips); }

 private:
  // Dequantized matrix [rows][cols] for a GGUF tensor [cols, rows] (3-D: [cols, rows, n] as
  // n * rows rows).
  std::vector<double> Matrix(const std::string& name, int64_t* rows, int64_t* cols) const;
  std::vector<double> Vector(const std::string& name) const;
  DType Type(const std::string& name) const;
  bool Has(const std::string& name) const { return f_.FindTensor(name) != nullptr; }
  // x as the matmul of a weight of type t sees it; `input` names it in ambiguous_.
  std::vector<double> Input(const std::vector<double>& x, DType t, const char* input) const;

  const gguf::File& f_;
  model::ModelConfig c_;
  int64_t ctx_;
  bool bf16_acts_ = false;
  std::vector<Rounding> flips_;
  mutable std::vector<Rounding> ambiguous_;
  mutable int64_t at_layer_ = -1, at_pos_ = 0;  // where Input is called from
};

// How our logits got[T][V] for `tokens` agree with the reference's: the worst relative error
// (per position, relative to its largest reference logit) and where, after flipping at most 3
// of the reference's ambiguous roundings when the plain reference disagrees beyond `tol` (each
// flip chosen greedily as the one that most lowers the sum of squared errors).
struct Agreement {
  double worst = 0;
  std::string where;
  size_t ambiguous = 0;  // the plain reference's ambiguous roundings
  std::vector<ReferenceModel::Rounding> flips;
  std::string Describe() const;
};
Agreement CompareLogits(ReferenceModel& ref, const std::vector<int32_t>& tokens,
                        const std::vector<std::vector<float>>& got, double tol);

}  // namespace phx::testing
