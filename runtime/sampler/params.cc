#include "runtime/sampler/params.h"

#include <cmath>

#include "base/strings.h"

namespace phx::sampler {

absl::Status SamplingParams::Validate(int32_t max_logprobs) const {
  auto bad = [](std::string_view field, std::string_view rule) {
    return absl::InvalidArgumentError(StrCat(field, " ", rule));
  };
  if (!std::isfinite(temperature) || temperature < 0.f || temperature > 100.f) {
    return bad("temperature", "must be in [0, 100]");
  }
  if (top_k < 0) return bad("top_k", "must be >= 0");
  if (!(top_p > 0.f && top_p <= 1.f)) return bad("top_p", "must be in (0, 1]");
  if (!(min_p >= 0.f && min_p <= 1.f)) return bad("min_p", "must be in [0, 1]");
  if (!(repetition_penalty > 0.f && repetition_penalty <= 10.f)) {
    return bad("repetition_penalty", "must be in (0, 10]");
  }
  if (!(presence_penalty >= -2.f && presence_penalty <= 2.f)) {
    return bad("presence_penalty", "must be in [-2, 2]");
  }
  if (!(frequency_penalty >= -2.f && frequency_penalty <= 2.f)) {
    return bad("frequency_penalty", "must be in [-2, 2]");
  }
  if (penalty_last_n < -1) return bad("penalty_last_n", "must be >= -1");
  if (max_tokens < 1) return bad("max_tokens", "must be >= 1");
  if (logprobs < -1 || logprobs > max_logprobs) {
    return bad("logprobs", StrCat("must be in [-1, ", max_logprobs, "]"));
  }
  if (stop.size() > 16) return bad("stop", "has more than 16 strings");
  for (const auto& s : stop) {
    if (s.empty() || s.size() > 256) return bad("stop", "strings must be 1..256 bytes");
  }
  if (min_tokens < 0 || min_tokens > max_tokens) {
    return bad("min_tokens", "must be in [0, max_tokens]");
  }
  for (const auto& [t, b] : logit_bias) {
    if (t < 0) return bad("logit_bias", StrCat("token id ", t, " must be >= 0"));
    if (!std::isfinite(b) || b < -100.f || b > 100.f) {
      return bad("logit_bias", StrCat("value for token ", t, " must be in [-100, 100]"));
    }
  }
  for (int32_t t : stop_token_ids) {
    if (t < 0) return bad("stop_token_ids", StrCat("token id ", t, " must be >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace phx::sampler
