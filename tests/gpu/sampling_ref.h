// Sampling on the host for the GPU checks (plain C++): the suite's random logits and per-row
// parameters, a float64 re-implementation of kernels/sampling.h's specification, the bugs its
// acceptance rule must catch, and that rule. Used by test_sampling.cc and
// tests/unit/gpu_harness_test.cc.
#pragma once

#include <cstdint>
#include <vector>

namespace phx::gpu_test {

inline constexpr int kMassBits = 40;  // kernels/sampling.h kSamplingMassBits (checked there)

struct SamplingSpec {  // kernels::SamplingRow's fields
  float temperature = 0.f;
  int32_t top_k = 0;
  float top_p = 1.f;
  uint64_t seed = 0, counter = 0;
};

// The suite's rows: logits ~ N(0, 3^2); row r greedy (r % 5 == 0), plain, top-k, top-p, or
// top-k + top-p, with a random seed.
struct SamplingCase {
  int rows = 0, vocab = 0;
  std::vector<float> logits;  // [rows, vocab]
  std::vector<SamplingSpec> params;
};
SamplingCase MakeSamplingCase(int rows, int vocab);

struct RefDraw {
  std::vector<double> mass;  // per token, 0 when not kept
  double total = 0, target = 0;
  int token = 0;
};
enum class SamplingBug {
  kNone,
  kTopKPlusOne,     // one token more than top_k kept
  kTopPOneMore,     // the top-p cut one distinct value lower
  kNoTemperature,   // logits not divided by the temperature
  kCounterPlusOne,  // the random draw of the next (seed, counter)
};
// f32: the masses from f32 expf of the f32 logit differences, as the kernel forms them (the
// positive control of the acceptance rule).
RefDraw ReferenceDraw(const float* logits, int vocab, const SamplingSpec& r,
                      SamplingBug bug = SamplingBug::kNone, bool f32 = false);
// Greedy: the reference's token exactly. Sampled: the reference's token, or one whose
// cumulative-mass interval lies within 1e-5 of the total mass of the reference's target (f32
// expf against double exp).
bool AcceptableDraw(const RefDraw& d, const SamplingSpec& r, int got);

}  // namespace phx::gpu_test
