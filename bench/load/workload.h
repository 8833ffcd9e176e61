#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/load/load.h"

namespace phx::bench {

struct LengthDist {
  int lo = 128, hi = 128;  // uniform in [lo, hi]
};
// "N" or "uniform:LO-HI".
absl::StatusOr<LengthDist> ParseLengthDist(const std::string& spec);

std::vector<Prompt> SyntheticPrompts(int n, const LengthDist& prompt, const LengthDist& gen,
                                     int32_t vocab, int32_t bos, uint64_t seed);
// One JSON object per line: {"prompt": "...", "max_tokens": N}.
absl::StatusOr<std::vector<Prompt>> JsonlPrompts(const std::string& path, int default_max_tokens);

}  // namespace phx::bench
