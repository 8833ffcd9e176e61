#include "runtime/sampler/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "ops/logits.h"
#include "runtime/sampler/stop.h"

namespace phx::sampler {
namespace {

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

TEST(Sampler, GreedyTakesArgmaxLowestIdOnTies) {
  Sampler s(Greedy());
  std::vector<float> l = {0.1f, 3.f, -1.f, 3.f};
  EXPECT_EQ(s.Sample(l).token, 1);
}

// The vectorized scan against std::max_element: every length around the 16 lanes, values
// drawn from a few levels so ties are common, the maximum anywhere (including the tail).
TEST(Sampler, ArgMaxMatchesMaxElement) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(-3, 3);
  EXPECT_EQ(ops::ArgMax({}), -1);
  for (size_t n : {1, 2, 15, 16, 17, 31, 33, 100, 32000}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<float> x(n);
      for (float& v : x) v = static_cast<float>(level(rng)) * 0.5f;
      if (trial % 2) x[rng() % n] = 9.f;  // a unique maximum somewhere
      if (trial == 3) std::fill(x.begin(), x.end(), -INFINITY);
      EXPECT_EQ(ops::ArgMax(x), std::max_element(x.begin(), x.end()) - x.begin()) << n;
    }
  }
}

TEST(Sampler, RepetitionPresenceFrequencyPenalties) {
  SamplingParams p = Greedy();
  p.repetition_penalty = 2.f;
  Sampler s(p);
  s.Accept(1);
  // token 1: 3 -> 1.5 < 2 (token 0).
  std::vector<float> l = {2.f, 3.f};
  EXPECT_EQ(s.Sample(l).token, 0);
  SamplingParams q = Greedy();
  q.frequency_penalty = 0.6f;
  q.presence_penalty = 0.f;
  Sampler f(q);
  f.Accept(1);
  f.Accept(1);
  std::vector<float> l2 = {2.f, 3.f};  // 3 - 2*0.6 = 1.8 < 2
  EXPECT_EQ(f.Sample(l2).token, 0);
  q.penalty_last_n = 1;  // window holds only the last token
  Sampler w(q);
  w.Accept(1);
  w.Accept(0);
  std::vector<float> l3 = {2.f, 2.5f};  // token 0 penalized once (1.4), token 1 out of window
  EXPECT_EQ(w.Sample(l3).token, 1);
}

TEST(Sampler, SameSeedSameTokens) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 1234;
  std::vector<float> l(100);
  for (int i = 0; i < 100; ++i) l[i] = std::sin(i * 0.7f) * 2;
  Sampler a(p), b(p);
  std::vector<int32_t> ta, tb;
  for (int i = 0; i < 50; ++i) {
    ta.push_back(a.Sample(l).token);
    tb.push_back(b.Sample(l).token);
  }
  EXPECT_EQ(ta, tb);
  p.seed = 99;
  Sampler c(p);
  std::vector<int32_t> tc;
  for (int i = 0; i < 50; ++i) tc.push_back(c.Sample(l).token);
  EXPECT_NE(ta, tc);
}

TEST(Sampler, DistributionMatchesSoftmaxWithTemperature) {
  SamplingParams p;
  p.temperature = 0.5f;
  p.seed = 7;
  Sampler s(p);
  std::vector<float> l = {0.f, 0.5f, 1.f};
  std::map<int32_t, int> hist;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++hist[s.Sample(l).token];
  double z = 0;
  for (float x : l) z += std::exp(x / 0.5);
  for (int t = 0; t < 3; ++t) {
    EXPECT_NEAR(hist[t] / double(n), std::exp(l[t] / 0.5) / z, 0.015) << t;
  }
}

TEST(Sampler, TopKTopPMinPRestrictCandidates) {
  std::vector<float> l = {5.f, 4.f, 3.f, 0.f, -1.f};
  for (int trial = 0; trial < 3; ++trial) {
    SamplingParams p;
    p.seed = trial;
    if (trial == 0) p.top_k = 2;
    if (trial == 1) p.top_p = 0.7f;  // p0 = 0.66 -> {0, 1}
    if (trial == 2) p.min_p = 0.3f;  // keeps p >= 0.3 * p0: tokens 0 and 1 (0.24/0.66=0.37)
    Sampler s(p);
    for (int i = 0; i < 2000; ++i) {
      const int32_t t = s.Sample(l).token;
      EXPECT_TRUE(t == 0 || t == 1) << "trial " << trial << " token " << t;
    }
  }
}

TEST(Sampler, LogprobsOfRawDistribution) {
  SamplingParams p = Greedy();
  p.logprobs = 2;
  Sampler s(p);
  std::vector<float> l = {1.f, 2.f, 0.f};
  const SampleResult r = s.Sample(l);
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(0.0));
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, 2.0 - lse, 1e-6);
  ASSERT_EQ(r.top.size(), 2u);
  EXPECT_EQ(r.top[0].token, 1);
  EXPECT_EQ(r.top[1].token, 0);
  EXPECT_NEAR(r.top[1].logprob, 1.0 - lse, 1e-6);
}

TEST(SamplingParams, ValidationNamesTheField) {
  SamplingParams p;
  p.top_p = 0;
  EXPECT_NE(std::string(p.Validate().message()).find("top_p"), std::string::npos);
  p = SamplingParams();
  p.temperature = -1;
  EXPECT_NE(std::string(p.Validate().message()).find("temperature"), std::string::npos);
  p = SamplingParams();
  p.max_tokens = 0;
  EXPECT_NE(std::string(p.Validate().message()).find("max_tokens"), std::string::npos);
  p = SamplingParams();
  p.logprobs = 21;
  EXPECT_NE(std::string(p.Validate().message()).find("logprobs"), std::string::npos);
  p = SamplingParams();
  p.stop = {""};
  EXPECT_NE(std::string(p.Validate().message()).find("stop"), std::string::npos);
  EXPECT_TRUE(SamplingParams().Validate().ok());
}

TEST(StopMatcher, HoldsBackPrefixesAndCutsAtMatch) {
  StopMatcher m({"END", "\n\n"});
  EXPECT_EQ(m.Push("Hello E"), "Hello ");
  EXPECT_EQ(m.Push("N"), "");
  EXPECT_EQ(m.Push("x"), "ENx");  // not a stop after all
  EXPECT_EQ(m.Push(" world\n"), " world");
  EXPECT_EQ(m.Push("\nmore"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.matched(), "\n\n");
  EXPECT_EQ(m.Push("ignored"), "");
  StopMatcher n({"abc"});
  EXPECT_EQ(n.Push("xxab"), "xx");
  EXPECT_EQ(n.Flush(), "ab");
  StopMatcher none({});
  EXPECT_EQ(none.Push("anything"), "anything");
}

}  // namespace
}  // namespace phx::sampler
