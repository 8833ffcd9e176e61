#include "runtime/sampler/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "ops/logits.h"

namespace phx::sampler {

Sampler::Sampler(const SamplingParams& params) : params_(params) {
  rng_.seed(params.seed.has_value() ? *params.seed : std::random_device{}());
}

void Sampler::Accept(int32_t token) {
  window_.push_back(token);
  if (params_.penalty_last_n >= 0) {
    while (static_cast<int32_t>(window_.size()) > params_.penalty_last_n) window_.pop_front();
  }
}

void Sampler::CollectPenalties() {
  std::unordered_map<int32_t, int32_t> counts;
  for (int32_t t : window_) ++counts[t];
  pen_tokens_.clear();
  pen_counts_.clear();
  for (auto [t, c] : counts) {
    pen_tokens_.push_back(t);
    pen_counts_.push_back(c);
  }
}

bool Sampler::ApplyMask(const TokenMask& mask) {
  const size_t n = work_.size();
  constexpr float kNeg = -std::numeric_limits<float>::infinity();
  if (mask.allow != nullptr) {
    const size_t covered = std::min(n, mask.allow_words * 64);
    for (size_t w = 0; w * 64 < covered; ++w) {
      const uint64_t bits = mask.allow[w];
      if (bits == ~uint64_t{0}) continue;
      const size_t end = std::min(covered, w * 64 + 64);
      for (size_t t = w * 64; t < end; ++t) {
        if (!((bits >> (t & 63)) & 1)) work_[t] = kNeg;
      }
    }
    for (size_t t = covered; t < n; ++t) work_[t] = kNeg;
  }
  auto any_left = [&] {
    for (float v : work_) {
      if (v != kNeg) return true;
    }
    return false;
  };
  if (!mask.ban.empty()) {
    saved_.clear();
    for (int32_t t : mask.ban) {
      if (t < 0 || static_cast<size_t>(t) >= n) continue;
      saved_.push_back(work_[t]);
      work_[t] = kNeg;
    }
    if (!any_left()) {  // the bans would leave nothing: the grammar's end wins
      size_t i = 0;
      for (int32_t t : mask.ban) {
        if (t >= 0 && static_cast<size_t>(t) < n) work_[t] = saved_[i++];
      }
    }
  }
  return any_left();
}

SampleResult Sampler::Sample(std::span<const float> logits, const TokenMask& mask) {
  const int32_t n = static_cast<int32_t>(logits.size());
  const bool penalize = (params_.repetition_penalty != 1.f || params_.presence_penalty != 0.f ||
                         params_.frequency_penalty != 0.f) &&
                        !window_.empty();
  const bool masked = mask.allow != nullptr || !mask.ban.empty();
  // The row as it is, or a processed copy of it: only bias, penalties and masks need a copy.
  std::span<const float> row = logits;
  if (penalize || masked || !params_.logit_bias.empty()) {
    work_.assign(logits.begin(), logits.end());
    for (const auto& [t, b] : params_.logit_bias) {
      if (t >= 0 && t < n) work_[t] += b;
    }
    if (penalize) {
      CollectPenalties();
      ops::PenaltyRow pen{pen_tokens_, pen_counts_, params_.repetition_penalty,
                          params_.presence_penalty, params_.frequency_penalty};
      ops::ApplyPenaltiesRow(work_, pen);
    }
    if (masked && !ApplyMask(mask)) return SampleResult{};  // token -1: nothing allowed
    row = work_;
  }

  int32_t chosen = 0;
  if (params_.greedy()) {
    chosen = ops::ArgMax(row);
  } else {
    const float inv_t = 1.f / params_.temperature;
    // Masked tokens (-inf) are never candidates, so top-k/top-p/min-p see the allowed ones only.
    cand_.clear();
    for (int32_t i = 0; i < n; ++i) {
      if (row[i] != -std::numeric_limits<float>::infinity()) cand_.push_back({row[i] * inv_t, i});
    }
    if (cand_.empty()) return SampleResult{};
    const auto m = static_cast<int32_t>(cand_.size());
    auto by_logit = [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    size_t keep = cand_.size();
    if (params_.top_k > 0 && params_.top_k < m) {
      keep = static_cast<size_t>(params_.top_k);
      std::partial_sort(cand_.begin(), cand_.begin() + keep, cand_.end(), by_logit);
    } else if (params_.top_p < 1.f || params_.min_p > 0.f) {
      std::sort(cand_.begin(), cand_.end(), by_logit);
    }  // else: every token stays a candidate and order does not matter
    cand_.resize(keep);
    // Probabilities over the kept candidates (sorted best first when top-p/min-p need it).
    float mx = cand_[0].first;
    for (const auto& c : cand_) mx = std::max(mx, c.first);
    double sum = 0;
    std::vector<double>& p = probs_;  // reused: no 256 KiB allocation per token
    p.resize(keep);
    for (size_t i = 0; i < keep; ++i) sum += (p[i] = std::exp(double{cand_[i].first} - mx));
    for (double& x : p) x /= sum;
    if (params_.top_p < 1.f) {
      double cum = 0;
      size_t k = 0;
      while (k < keep) {
        cum += p[k++];
        if (cum >= params_.top_p) break;
      }
      keep = k;
    }
    if (params_.min_p > 0.f) {
      const double floor = params_.min_p * p[0];
      size_t k = 1;
      while (k < keep && p[k] >= floor) ++k;
      keep = k;
    }
    double total = 0;
    for (size_t i = 0; i < keep; ++i) total += p[i];
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) * total;
    double cum = 0;
    chosen = cand_[keep - 1].second;
    for (size_t i = 0; i < keep; ++i) {
      cum += p[i];
      if (u < cum) {
        chosen = cand_[i].second;
        break;
      }
    }
  }
  if (params_.logprobs >= 0) return Logprobs(logits, chosen, params_.logprobs);
  SampleResult r;
  r.token = chosen;
  return r;
}

SampleResult Logprobs(std::span<const float> logits, int32_t token, int32_t n) {
  SampleResult r;
  r.token = token;
  const double lse = ops::LogSumExp(logits);
  r.logprob = static_cast<float>(logits[token] - lse);
  if (n > 0) {
    std::vector<std::pair<float, int32_t>> v(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) v[i] = {logits[i], static_cast<int32_t>(i)};
    const size_t k = std::min<size_t>(static_cast<size_t>(n), v.size());
    std::partial_sort(v.begin(), v.begin() + k, v.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (size_t i = 0; i < k; ++i) {
      r.top.push_back({v[i].second, static_cast<float>(v[i].first - lse)});
    }
  }
  return r;
}

}  // namespace phx::sampler
