#include "tests/gpu/sampling_ref.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "kernels/philox.h"
#include "tests/gpu/harness.h"

namespace phx::gpu_test {

SamplingCase MakeSamplingCase(int rows, int vocab) {
  SamplingCase c;
  c.rows = rows;
  c.vocab = vocab;
  c.logits.resize(static_cast<size_t>(rows) * vocab);
  for (float& x : c.logits) x = static_cast<float>(Normal(3.0));
  c.params.resize(rows);
  for (int r = 0; r < rows; ++r) {
    SamplingSpec& p = c.params[r];
    switch (r % 5) {
      case 0:
        p.temperature = 0.f;  // greedy
        break;
      case 1:
        p.temperature = 0.8f;  // plain
        break;
      case 2:
        p.temperature = 1.0f, p.top_k = 1 + r % 60;
        break;
      case 3:
        p.temperature = 1.3f, p.top_p = 0.3f + 0.1f * static_cast<float>(r % 7);
        break;
      default:
        p.temperature = 0.7f, p.top_k = 40, p.top_p = 0.9f;
        break;
    }
    p.seed = Rng()();
    p.counter = static_cast<uint64_t>(r) * 3;
  }
  return c;
}

RefDraw ReferenceDraw(const float* l, int vocab, const SamplingSpec& r, SamplingBug bug, bool f32) {
  RefDraw d;
  d.mass.assign(vocab, 0.0);
  if (!(r.temperature > 0.f)) {
    d.token = static_cast<int>(std::max_element(l, l + vocab) - l);
    return d;
  }
  const float inv_t = bug == SamplingBug::kNoTemperature ? 1.f : 1.f / r.temperature;
  const float lmax = *std::max_element(l, l + vocab);
  const double zmax = lmax * inv_t;
  std::vector<float> sorted(l, l + vocab);
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  float floor = -INFINITY;
  if (r.top_k > 0 && r.top_k < vocab) {
    const int k = bug == SamplingBug::kTopKPlusOne ? std::min(r.top_k + 1, vocab) : r.top_k;
    floor = sorted[k - 1];
  }
  const double scale = std::ldexp(1.0, kMassBits);
  auto mass = [&](int i) {
    if (f32) {
      const float e = std::exp(l[i] * inv_t - static_cast<float>(zmax));
      return std::round(static_cast<double>(e * static_cast<float>(scale)));
    }
    return std::round(std::exp(double(l[i] * inv_t) - zmax) * scale);
  };
  if (r.top_p < 1.f) {
    double total = 0;
    for (int i = 0; i < vocab; ++i) total += l[i] >= floor ? mass(i) : 0;
    const double need = std::max(1.0, std::ceil(double(r.top_p) * total));
    // Walk distinct values from the top until the kept mass reaches `need`.
    std::vector<std::pair<float, double>> by_value;
    for (int i = 0; i < vocab; ++i) {
      if (l[i] >= floor) by_value.push_back({l[i], mass(i)});
    }
    std::sort(by_value.begin(), by_value.end(), std::greater<>());
    double cum = 0;
    size_t at = 0;
    for (; at < by_value.size(); ++at) {
      cum += by_value[at].second;
      floor = by_value[at].first;
      if (cum >= need) break;
    }
    if (bug == SamplingBug::kTopPOneMore && at + 1 < by_value.size()) {
      floor = by_value[at + 1].first;
    }
  }
  for (int i = 0; i < vocab; ++i) {
    if (l[i] >= floor) d.mass[i] = mass(i), d.total += d.mass[i];
  }
  const uint64_t counter = r.counter + (bug == SamplingBug::kCounterPlusOne ? 1 : 0);
  const uint64_t bits = kernels::PhiloxBits64(r.seed, counter);
  d.target = std::ldexp(static_cast<double>(bits), -64) * d.total;
  double cum = 0;
  for (int i = 0; i < vocab; ++i) {
    cum += d.mass[i];
    if (d.mass[i] > 0 && cum > d.target) {
      d.token = i;
      break;
    }
  }
  return d;
}

bool AcceptableDraw(const RefDraw& d, const SamplingSpec& r, int got) {
  if (got == d.token) return true;
  if (!(r.temperature > 0.f)) return false;
  if (got < 0 || got >= static_cast<int>(d.mass.size()) || d.mass[got] == 0) return false;
  double before = 0;
  for (int i = 0; i < got; ++i) before += d.mass[i];
  const double slack = 1e-5 * d.total;
  return d.target >= before - slack && d.target < before + d.mass[got] + slack;
}

}  // namespace phx::gpu_test
