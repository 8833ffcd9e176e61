// On-device sampling against a host re-implementation of its specification (kernels/sampling.h)
// in double precision: greedy must match exactly; a sampled token must be the reference's, or
// lie within 1e-5 of the total mass of the reference's draw (f32 expf vs. double exp).
#include <algorithm>

#include "kernels/philox.h"
#include "kernels/sampling.h"
#include "tests/gpu/common.h"
#include "tests/gpu/sampling_ref.h"

namespace phx::gpu_test {
namespace {

static_assert(kMassBits == kernels::kSamplingMassBits);

void CheckSampling(int rows, int vocab, bool bench) {
  const SamplingCase sc = MakeSamplingCase(rows, vocab);
  const std::vector<float>& logits = sc.logits;
  std::vector<kernels::SamplingRow> params(rows);
  for (int r = 0; r < rows; ++r) {
    kernels::SamplingRow& p = params[r];
    p.temperature = sc.params[r].temperature, p.top_k = sc.params[r].top_k;
    p.top_p = sc.params[r].top_p, p.seed = sc.params[r].seed, p.counter = sc.params[r].counter;
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
    const RefDraw d = ReferenceDraw(&logits[size_t(r) * vocab], vocab, sc.params[r]);
    const bool ok = AcceptableDraw(d, sc.params[r], got[r]);
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
