// On-device sampling against a host re-implementation of its specification (kernels/sampling.h)
// in double precision: greedy must match exactly; a sampled token must be the reference's, or
// lie within 1e-5 of the total mass of the reference's draw (f32 expf vs. double exp).
#include <algorithm>

#include "kernels/philox.h"
#include "kernels/sampling.h"
#include "tests/gpu/common.h"

namespace phx::gpu_test {
namespace {

struct RefDraw {
  std::vector<double> mass;  // per token, 0 when not kept
  double total = 0, target = 0;
  int token = 0;
};

RefDraw Reference(const float* l, int vocab, const kernels::SamplingRow& r) {
  RefDraw d;
  d.mass.assign(vocab, 0.0);
  if (!(r.temperature > 0.f)) {
    d.token = static_cast<int>(std::max_element(l, l + vocab) - l);
    return d;
  }
  const float inv_t = 1.f / r.temperature;
  const float lmax = *std::max_element(l, l + vocab);
  const double zmax = lmax * inv_t;
  std::vector<float> sorted(l, l + vocab);
  std::sort(sorted.begin(), sorted.end(), std::greater<float>());
  float floor = -INFINITY;
  if (r.top_k > 0 && r.top_k < vocab) floor = sorted[r.top_k - 1];
  const double scale = static_cast<double>(1ull << kernels::kSamplingMassBits);
  auto mass = [&](int i) { return std::round(std::exp(double(l[i] * inv_t) - zmax) * scale); };
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
    for (const auto& [value, m] : by_value) {
      cum += m;
      floor = value;
      if (cum >= need) break;
    }
  }
  for (int i = 0; i < vocab; ++i) {
    if (l[i] >= floor) d.mass[i] = mass(i), d.total += d.mass[i];
  }
  const uint64_t bits = kernels::PhiloxBits64(r.seed, r.counter);
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

bool Acceptable(const RefDraw& d, int got) {
  if (got == d.token) return true;
  if (got < 0 || got >= static_cast<int>(d.mass.size()) || d.mass[got] == 0) return false;
  double before = 0;
  for (int i = 0; i < got; ++i) before += d.mass[i];
  const double slack = 1e-5 * d.total;
  return d.target >= before - slack && d.target < before + d.mass[got] + slack;
}

void CheckSampling(int rows, int vocab, bool bench) {
  std::vector<float> logits(size_t(rows) * vocab);
  for (float& x : logits) x = static_cast<float>(Normal(3.0));
  std::vector<kernels::SamplingRow> params(rows);
  for (int r = 0; r < rows; ++r) {
    kernels::SamplingRow& p = params[r];
    switch (r % 5) {
      case 0:
        p.temperature = 0.f;
        break;  // greedy
      case 1:
        p.temperature = 0.8f;
        break;  // plain
      case 2:
        p.temperature = 1.0f, p.top_k = 1 + r % 60;
        break;  // top-k
      case 3:
        p.temperature = 1.3f, p.top_p = 0.3f + 0.1f * (r % 7);
        break;  // top-p
      default:
        p.temperature = 0.7f, p.top_k = 40, p.top_p = 0.9f;
        break;
    }
    p.seed = Rng()();
    p.counter = static_cast<uint64_t>(r) * 3;
  }
  Dev l, pr, tok(sizeof(int32_t) * rows);
  UploadVec(l, logits);
  UploadVec(pr, params);
  GPU_CHECK(cudaMemset(tok.as(), 0xFF, tok.bytes()));
  kernels::SamplingParams p;
  p.logits = l.as<float>(), p.logits_stride = vocab, p.row_params = pr.as<kernels::SamplingRow>();
  p.tokens = tok.as<int32_t>(), p.rows = rows, p.vocab = vocab;
  CheckLaunch(kernels::LaunchSampling(p, nullptr), "sampling");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<int32_t> got(rows), again(rows);
  tok.Download(got.data(), tok.bytes());
  CheckLaunch(kernels::LaunchSampling(p, nullptr), "sampling");
  GPU_CHECK(cudaDeviceSynchronize());
  tok.Download(again.data(), tok.bytes());
  int bad = 0, exact = 0;
  for (int r = 0; r < rows; ++r) {
    const RefDraw d = Reference(&logits[size_t(r) * vocab], vocab, params[r]);
    const bool ok = params[r].temperature > 0.f ? Acceptable(d, got[r]) : got[r] == d.token;
    bad += ok ? 0 : 1;
    exact += got[r] == d.token;
  }
  char shape[64], note[96];
  std::snprintf(shape, sizeof(shape), "rows %d vocab %d", rows, vocab);
  std::snprintf(note, sizeof(note), "%d/%d rows identical to the reference, %d unacceptable", exact,
                rows, bad);
  Report("sampling (greedy/top-k/top-p)", shape, bad == 0, note);
  Report("sampling reproducible", shape, got == again, "same (seed, counter) twice");
  if (bench) {
    for (auto& row : params) row.temperature = 0.7f, row.top_k = 0, row.top_p = 0.9f;
    UploadVec(pr, params);
    p.row_params = pr.as<kernels::SamplingRow>();
    const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchSampling(p, nullptr), "s"); });
    AddBench("sampling top-p 0.9", shape, ms, 4.0 * rows * vocab, false, "logits bytes / time");
  }
}

}  // namespace

void RunSamplingTests(bool check, bool bench) {
  if (check) {
    CheckSampling(50, 1000, false);
    CheckSampling(20, 32000, false);
    CheckSampling(10, 128256, false);
  }
  if (bench) CheckSampling(64, 128256, true);
}

}  // namespace phx::gpu_test
