#include "ops/logits.h"

#include <algorithm>
#include <cmath>

namespace phx::ops {

void ApplyPenaltiesRow(std::span<float> logits, const PenaltyRow& p) {
  const int64_t n = static_cast<int64_t>(logits.size());
  for (size_t i = 0; i < p.tokens.size(); ++i) {
    const int32_t t = p.tokens[i];
    if (t < 0 || t >= n) continue;
    const int32_t c = p.counts[i];
    float& l = logits[t];
    if (p.repetition != 1.f && c > 0) l = l > 0 ? l / p.repetition : l * p.repetition;
    l -= static_cast<float>(c) * p.frequency + (c > 0 ? p.presence : 0.f);
  }
}

void SoftmaxRow(std::span<const float> x, float temperature, std::span<float> out) {
  if (x.empty()) return;
  const float inv_t = 1.f / temperature;
  const float mx = *std::max_element(x.begin(), x.end());
  double sum = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float e = std::exp((x[i] - mx) * inv_t);
    out[i] = e;
    sum += e;
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t i = 0; i < x.size(); ++i) out[i] *= inv;
}

double LogSumExp(std::span<const float> x) {
  if (x.empty()) return -INFINITY;
  const float mx = *std::max_element(x.begin(), x.end());
  if (!std::isfinite(mx)) return mx;
  double sum = 0;
  for (float v : x) sum += std::exp(static_cast<double>(v) - mx);
  return mx + std::log(sum);
}

}  // namespace phx::ops
