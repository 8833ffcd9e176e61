// Token selection for one sequence: penalties over a window of recent tokens, then temperature,
// top-k, top-p and min-p, then a draw from the request's own seeded generator (same seed and
// same logits give the same tokens). Greedy (temperature 0) takes the arg-max after penalties.
// Log-probabilities are those of the model's raw distribution (log-softmax of the logits).
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "runtime/sampler/params.h"

namespace phx::sampler {

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.f;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.f;            // of `token`, when logprobs >= 0
  std::vector<TokenLogprob> top;  // top `logprobs` alternatives, best first
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Adds a token to the penalty window (prompt tokens first, then every sampled token).
  void Accept(int32_t token);
  SampleResult Sample(std::span<const float> logits);

  const SamplingParams& params() const { return params_; }

 private:
  void CollectPenalties();

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> window_;
  std::vector<float> work_;
  std::vector<std::pair<float, int32_t>> cand_;
  std::vector<int32_t> pen_tokens_, pen_counts_;
};

// Raw-distribution log-probabilities: `token`'s, and the `n` best (best first).
SampleResult Logprobs(std::span<const float> logits, int32_t token, int32_t n);

}  // namespace phx::sampler
