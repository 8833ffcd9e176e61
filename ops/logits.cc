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
  if (mx == -INFINITY) {  // every logit masked: no mass anywhere (not (-inf) - (-inf) = NaN)
    std::fill(out.begin(), out.begin() + static_cast<ptrdiff_t>(x.size()), 0.f);
    return;
  }
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

int32_t ArgMax(std::span<const float> x) {
  const size_t n = x.size();
  if (n == 0) return -1;
  constexpr size_t kLanes = 16;
  float lane[kLanes];
  for (float& l : lane) l = x[0];
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (size_t j = 0; j < kLanes; ++j) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
  }
  float best = lane[0];
  for (size_t j = 1; j < kLanes; ++j) best = lane[j] > best ? lane[j] : best;
  for (; i < n; ++i) best = x[i] > best ? x[i] : best;
  for (size_t k = 0; k < n; ++k) {
    if (x[k] == best) return static_cast<int32_t>(k);
  }
  // Only NaNs compare unequal to themselves: fall back to std::max_element's rule.
  size_t arg = 0;
  for (size_t k = 1; k < n; ++k) {
    if (x[arg] < x[k]) arg = k;
  }
  return static_cast<int32_t>(arg);
}

}  // namespace phx::ops
