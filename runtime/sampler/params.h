// Per-request sampling parameters, their validation (errors name the field), and defaults that
// match what OpenAI-API and vLLM users expect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace phx::sampler {

struct SamplingParams {
  float temperature = 1.f;         // 0 = greedy
  int32_t top_k = 0;               // 0 = off
  float top_p = 1.f;               // 1 = off
  float min_p = 0.f;               // 0 = off
  float repetition_penalty = 1.f;  // 1 = off
  float presence_penalty = 0.f;
  float frequency_penalty = 0.f;
  int32_t penalty_last_n = 64;   // window of recent tokens (prompt included); -1 = all
  std::optional<uint64_t> seed;  // unset: a random seed per request
  int32_t max_tokens = 256;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  bool ignore_eos = false;
  int32_t logprobs = -1;  // -1: none; 0: chosen token only; N: chosen + top N
  // OpenAI logit_bias: added to the token's logit before penalties and sampling (-100 bans it,
  // 100 all but forces it). Token ids are checked against the vocabulary by the server.
  std::vector<std::pair<int32_t, float>> logit_bias;
  // vLLM stop_token_ids: generation ends (finish reason stop) after one of these tokens; the
  // token's text is not part of the output.
  std::vector<int32_t> stop_token_ids;
  // vLLM min_tokens: end-of-generation tokens and stop_token_ids are masked until this many
  // tokens were generated (stop strings too do not end the request before).
  int32_t min_tokens = 0;

  bool greedy() const { return temperature <= 0.f; }
  // Checks every field's range; the error names the field ("top_p must be in (0, 1]").
  absl::Status Validate(int32_t max_logprobs = 20) const;
};

}  // namespace phx::sampler
