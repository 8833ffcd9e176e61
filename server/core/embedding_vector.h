// What the APIs do to a pooled embedding vector before returning it (HTTP /v1/embeddings and
// gRPC Embed alike): truncation to the requested dimensions, then L2 normalization.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace phx::server {

// The most inputs one embeddings request may hold (each becomes one gate call).
inline constexpr size_t kMaxEmbeddingInputs = 256;

// `v` truncated to `dims` (0: all of it), then, with `l2`, divided by its L2 norm (a zero
// vector stays 0), the norm summed in double.
inline std::vector<float> Normalize(std::vector<float> v, int64_t dims, bool l2 = true) {
  if (dims > 0 && static_cast<size_t>(dims) < v.size()) v.resize(static_cast<size_t>(dims));
  if (!l2) return v;
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum > 0) {
    const double inv = 1.0 / std::sqrt(sum);
    for (float& x : v) x = static_cast<float>(x * inv);
  }
  return v;
}

}  // namespace phx::server
