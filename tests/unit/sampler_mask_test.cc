// The sampler's constraint inputs: logit_bias (before penalties), the allow-mask of constrained
// decoding (before temperature/top-k/top-p/min-p and greedy), bans (min_tokens) and the
// validation of the new fields. Each test fails if its field is ignored.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "runtime/sampler/sampler.h"

namespace phx::sampler {
namespace {

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

std::vector<uint64_t> Allow(size_t n, std::initializer_list<int32_t> tokens) {
  std::vector<uint64_t> w((n + 63) / 64, 0);
  for (int32_t t : tokens) w[t / 64] |= uint64_t{1} << (t % 64);
  return w;
}

TEST(SamplerLogitBias, ChangesTheGreedyChoice) {
  std::vector<float> l = {1.f, 2.f, 0.f};
  EXPECT_EQ(Sampler(Greedy()).Sample(l).token, 1);
  SamplingParams p = Greedy();
  p.logit_bias = {{0, 5.f}};
  EXPECT_EQ(Sampler(p).Sample(l).token, 0);
  p.logit_bias = {{1, -100.f}, {2, 1.5f}};
  EXPECT_EQ(Sampler(p).Sample(l).token, 2);
}

TEST(SamplerLogitBias, AppliesBeforePenalties) {
  // Token 0: (1 + 3) / 2 = 2 < 2.5 with the bias first; 1 / 2 + 3 = 3.5 > 2.5 after.
  SamplingParams p = Greedy();
  p.repetition_penalty = 2.f;
  p.logit_bias = {{0, 3.f}};
  Sampler s(p);
  s.Accept(0);
  std::vector<float> l = {1.f, 2.5f};
  EXPECT_EQ(s.Sample(l).token, 1);
}

TEST(SamplerLogitBias, MinusHundredBansWhenSampling) {
  SamplingParams p;
  p.seed = 3;
  p.logit_bias = {{1, -100.f}};
  Sampler s(p);
  std::vector<float> l = {0.f, 0.f, 0.f};
  int seen1 = 0;
  for (int i = 0; i < 3000; ++i) seen1 += s.Sample(l).token == 1;
  EXPECT_EQ(seen1, 0);
}

TEST(SamplerMask, GreedyTakesTheBestAllowedToken) {
  std::vector<float> l(130, 0.f);
  l[3] = 9.f;
  l[100] = 5.f;
  l[129] = 4.f;
  const auto w = Allow(l.size(), {100, 129, 7});
  Sampler s(Greedy());
  EXPECT_EQ(s.Sample(l, {w.data(), w.size(), {}}).token, 100);
  EXPECT_EQ(s.Sample(l).token, 3);
}

TEST(SamplerMask, TokensPastTheMaskAreDisallowed) {
  std::vector<float> l(70, 0.f);
  l[69] = 9.f;
  l[5] = 1.f;
  const std::vector<uint64_t> w = {~uint64_t{0}};  // covers tokens 0..63 only
  EXPECT_EQ(Sampler(Greedy()).Sample(l, {w.data(), w.size(), {}}).token, 5);
}

TEST(SamplerMask, SamplingDrawsAllowedTokensInProportion) {
  // Allowed {1, 2}: renormalized softmax over those two (e / (e + 1) for token 1 at T = 1).
  std::vector<float> l = {5.f, 1.f, 0.f, 4.f};
  const auto w = Allow(l.size(), {1, 2});
  SamplingParams p;
  p.seed = 11;
  Sampler s(p);
  int n1 = 0, bad = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const int32_t t = s.Sample(l, {w.data(), w.size(), {}}).token;
    n1 += t == 1;
    bad += t != 1 && t != 2;
  }
  EXPECT_EQ(bad, 0);
  EXPECT_NEAR(n1 / double(n), std::exp(1.0) / (std::exp(1.0) + 1.0), 0.03);
}

TEST(SamplerMask, TopKTopPMinPSeeAllowedTokensOnly) {
  // The best token (0) is masked: top_k = 1 must pick the best allowed one, never nothing.
  std::vector<float> l = {9.f, 3.f, 2.f, 1.f};
  const auto w = Allow(l.size(), {1, 2, 3});
  for (int trial = 0; trial < 3; ++trial) {
    SamplingParams p;
    p.seed = trial;
    if (trial == 0) p.top_k = 1;
    if (trial == 1) p.top_p = 0.5f;  // allowed p: 0.67, 0.24, 0.09 -> {1}
    if (trial == 2) p.min_p = 0.9f;  // -> {1}
    Sampler s(p);
    for (int i = 0; i < 500; ++i) {
      EXPECT_EQ(s.Sample(l, {w.data(), w.size(), {}}).token, 1) << "trial " << trial;
    }
  }
}

TEST(SamplerMask, LogprobsStayThoseOfTheRawDistribution) {
  SamplingParams p = Greedy();
  p.logprobs = 1;
  std::vector<float> l = {2.f, 1.f};
  const auto w = Allow(l.size(), {1});
  const SampleResult r = Sampler(p).Sample(l, {w.data(), w.size(), {}});
  EXPECT_EQ(r.token, 1);
  EXPECT_NEAR(r.logprob, 1.0 - std::log(std::exp(2.0) + std::exp(1.0)), 1e-6);
  ASSERT_EQ(r.top.size(), 1u);
  EXPECT_EQ(r.top[0].token, 0);  // the raw best, though masked
}

TEST(SamplerMask, NothingAllowedGivesNoToken) {
  std::vector<float> l = {1.f, 2.f};
  const std::vector<uint64_t> w = {0};
  EXPECT_EQ(Sampler(Greedy()).Sample(l, {w.data(), w.size(), {}}).token, -1);
  SamplingParams p;
  p.seed = 1;
  EXPECT_EQ(Sampler(p).Sample(l, {w.data(), w.size(), {}}).token, -1);
}

TEST(SamplerBan, BannedTokensAreNeverChosen) {
  std::vector<float> l = {1.f, 5.f, 2.f};
  const std::vector<int32_t> ban = {1};
  EXPECT_EQ(Sampler(Greedy()).Sample(l, {nullptr, 0, ban}).token, 2);
  SamplingParams p;
  p.seed = 5;
  Sampler s(p);
  for (int i = 0; i < 1000; ++i) EXPECT_NE(s.Sample(l, {nullptr, 0, ban}).token, 1);
}

TEST(SamplerBan, ABanThatLeavesNothingIsLifted) {
  // The grammar allows only its end (token 2); min_tokens bans it: the grammar wins.
  std::vector<float> l = {1.f, 5.f, 2.f};
  const auto w = Allow(l.size(), {2});
  const std::vector<int32_t> ban = {2};
  EXPECT_EQ(Sampler(Greedy()).Sample(l, {w.data(), w.size(), ban}).token, 2);
  const auto w2 = Allow(l.size(), {0, 2});
  EXPECT_EQ(Sampler(Greedy()).Sample(l, {w2.data(), w2.size(), ban}).token, 0);
}

TEST(SamplingParams, NewFieldsAreValidated) {
  auto msg = [](const SamplingParams& p) { return std::string(p.Validate().message()); };
  SamplingParams p;
  p.min_tokens = -1;
  EXPECT_NE(msg(p).find("min_tokens"), std::string::npos);
  p = SamplingParams();
  p.max_tokens = 10;
  p.min_tokens = 11;
  EXPECT_NE(msg(p).find("min_tokens"), std::string::npos);
  p.min_tokens = 10;
  EXPECT_TRUE(p.Validate().ok());
  for (float bad : {100.5f, -101.f, NAN, INFINITY}) {
    p = SamplingParams();
    p.logit_bias = {{3, bad}};
    EXPECT_NE(msg(p).find("logit_bias"), std::string::npos) << bad;
  }
  p = SamplingParams();
  p.logit_bias = {{-1, 1.f}};
  EXPECT_NE(msg(p).find("logit_bias"), std::string::npos);
  p.logit_bias = {{0, -100.f}, {1, 100.f}};
  EXPECT_TRUE(p.Validate().ok());
  p = SamplingParams();
  p.stop_token_ids = {4, -2};
  EXPECT_NE(msg(p).find("stop_token_ids"), std::string::npos);
  p.stop_token_ids = {4, 0};
  EXPECT_TRUE(p.Validate().ok());
}

}  // namespace
}  // namespace phx::sampler
