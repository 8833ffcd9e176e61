// Token selection for one sequence: logit_bias, then penalties over a window of recent tokens,
// then the allow-mask (constrained decoding) and the bans (min_tokens), then temperature, top-k,
// top-p and min-p, then a draw from the request's own seeded generator (same seed and same
// logits give the same tokens). Greedy (temperature 0) takes the arg-max of what is left.
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

// What a step may not produce. `allow`: bit t of allow[t / 64] set means token t may come next
// (grammar::Matcher::ComputeMask); tokens past allow_words * 64 are disallowed; null: all allowed.
// `ban`: tokens masked on top of that (min_tokens: end-of-generation and stop_token_ids), unless
// banning them would leave no token at all (a grammar that only allows its end wins).
struct TokenMask {
  const uint64_t* allow = nullptr;
  size_t allow_words = 0;
  std::span<const int32_t> ban;
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // Adds a token to the penalty window (prompt tokens first, then every sampled token).
  void Accept(int32_t token);
  // token is -1 when the mask allows no token (the caller ends the request).
  SampleResult Sample(std::span<const float> logits, const TokenMask& mask = {});

  const SamplingParams& params() const { return params_; }

 private:
  void CollectPenalties();
  // Applies the mask to work_ (disallowed: -inf); false if no token is left.
  bool ApplyMask(const TokenMask& mask);

  SamplingParams params_;
  std::mt19937_64 rng_;
  std::deque<int32_t> window_;
  std::vector<float> work_;
  std::vector<std::pair<float, int32_t>> cand_;
  std::vector<int32_t> pen_tokens_, pen_counts_;
  std::vector<float> saved_;
  std::vector<double> probs_;
};

// Raw-distribution log-probabilities: `token`'s, and the `n` best (best first).
SampleResult Logprobs(std::span<const float> logits, int32_t token, int32_t n);

}  // namespace phx::sampler
