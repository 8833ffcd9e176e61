#include "server/admission/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "base/strings.h"

namespace phx::server {
namespace {

// A rate that limits anything: positive and finite (0, negative, NaN and infinity: unlimited).
bool Limited(double rate) { return rate > 0 && std::isfinite(rate); }

double Seconds(SteadyTime from, SteadyTime to) {
  return std::chrono::duration<double>(to - from).count();
}

// Requests: burst = 2 s worth, at least one request (else a rate under 0.5/s could never
// admit anything before going into debt; the long-run rate is the same either way).
double RequestBurst(double rps) { return std::max(1.0, 2 * rps); }

}  // namespace

// ---- TokenBucket --------------------------------------------------------------------------
// Starts full. A rate that is not positive and finite means "unlimited": TryTake always
// succeeds and nothing is counted.

TokenBucket::TokenBucket(double rate, double burst, SteadyTime now)
    : rate_(rate), burst_(std::max(0.0, burst)), tokens_(burst_), last_(now) {}

void TokenBucket::Refill(SteadyTime now) {
  // Callers may pass slightly older times than an earlier call (now taken before a lock);
  // time never runs backwards for the bucket.
  if (now <= last_) return;
  if (Limited(rate_) && tokens_ < burst_) {
    tokens_ = std::min(burst_, tokens_ + rate_ * Seconds(last_, now));
  }
  last_ = now;
}

bool TokenBucket::TryTake(double n, SteadyTime now, double* retry_after_s) {
  if (!Limited(rate_) || !(n > 0)) return true;  // nothing to take (NaN included)
  Refill(now);
  if (!std::isfinite(n)) {  // never satisfiable; report the wait for a full bucket
    if (retry_after_s != nullptr) *retry_after_s = std::max(0.0, burst_ - tokens_) / rate_;
    return false;
  }
  // More than a full bucket can hold: wait until the bucket is full, then empty it.
  const double need = std::min(n, burst_);
  if (tokens_ >= need) {
    tokens_ = std::max(0.0, tokens_ - n);
    return true;
  }
  if (retry_after_s != nullptr) *retry_after_s = (need - tokens_) / rate_;
  return false;
}

void TokenBucket::Charge(double n, SteadyTime now) {
  if (!Limited(rate_) || !(n > 0)) return;
  Refill(now);
  tokens_ = std::isfinite(n) ? std::max(0.0, tokens_ - n) : 0.0;
}

void TokenBucket::Refund(double n, SteadyTime now) {
  if (!Limited(rate_) || !(n > 0) || !std::isfinite(n)) return;
  Refill(now);
  tokens_ = std::min(burst_, tokens_ + n);
}

void TokenBucket::Reconfigure(double rate, double burst, SteadyTime now) {
  Refill(now);  // the time so far accrues at the old rate
  rate_ = rate;
  burst_ = std::max(0.0, burst);
  tokens_ = std::min(tokens_, burst_);
}

double TokenBucket::available(SteadyTime now) {
  if (!Limited(rate_)) return burst_;
  Refill(now);
  return tokens_;
}

// ---- RateLimiter --------------------------------------------------------------------------

// A key's buckets, with the limits they were built for: buckets are re-rated lazily on the key's
// next call after the effective limits changed (SetDefaults or a new key file), at that call's
// time. An absent bucket is an unlimited one.
struct RateLimiter::Buckets {
  KeyLimits overrides;  // as last given for this key
  double rps = 0, tpm = 0;
  std::optional<TokenBucket> requests, tokens;
};

RateLimiter::RateLimiter(RateLimits defaults) : defaults_(defaults) {}
RateLimiter::~RateLimiter() = default;

RateLimiter::Buckets& RateLimiter::For(const std::string& key_id, const KeyLimits& overrides,
                                       SteadyTime now) {
  std::unique_ptr<Buckets>& slot = by_key_[key_id];
  if (slot == nullptr) slot = std::make_unique<Buckets>();
  Buckets& b = *slot;
  b.overrides = overrides;
  const double rps = Limited(overrides.requests_per_second) ? overrides.requests_per_second
                                                            : defaults_.requests_per_second;
  const double tpm = Limited(overrides.tokens_per_minute) ? overrides.tokens_per_minute
                                                          : defaults_.tokens_per_minute;
  if (!Limited(rps)) {
    b.requests.reset();
  } else if (!b.requests) {
    b.requests.emplace(rps, RequestBurst(rps), now);
  } else if (rps != b.rps) {
    b.requests->Reconfigure(rps, RequestBurst(rps), now);
  }
  b.rps = rps;
  if (!Limited(tpm)) {
    b.tokens.reset();
  } else if (!b.tokens) {
    b.tokens.emplace(tpm / 60.0, tpm, now);
  } else if (tpm != b.tpm) {
    b.tokens->Reconfigure(tpm / 60.0, tpm, now);
  }
  b.tpm = tpm;
  return b;
}

absl::Status RateLimiter::AdmitRequest(const std::string& key_id, const KeyLimits& overrides,
                                       SteadyTime now, double* retry_after_s) {
  std::lock_guard<std::mutex> lock(mu_);
  Buckets& b = For(key_id, overrides, now);
  if (!b.requests) return absl::OkStatus();
  double wait = 0;
  if (b.requests->TryTake(1, now, &wait)) return absl::OkStatus();
  if (retry_after_s != nullptr) *retry_after_s = wait;
  return absl::ResourceExhaustedError(
      StrCat("rate limit exceeded: ", b.rps, " requests per second for this API key"));
}

absl::Status RateLimiter::ChargeTokens(const std::string& key_id, const KeyLimits& overrides,
                                       double tokens, SteadyTime now, double* retry_after_s) {
  std::lock_guard<std::mutex> lock(mu_);
  Buckets& b = For(key_id, overrides, now);
  if (!b.tokens || !(tokens > 0)) return absl::OkStatus();
  double wait = 0;
  if (b.tokens->TryTake(tokens, now, &wait)) return absl::OkStatus();
  if (retry_after_s != nullptr) *retry_after_s = wait;
  return absl::ResourceExhaustedError(
      StrCat("rate limit exceeded: ", b.tpm, " tokens per minute for this API key"));
}

void RateLimiter::Adjust(const std::string& key_id, double delta, SteadyTime now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_key_.find(key_id);
  if (it == by_key_.end() || !std::isfinite(delta) || delta == 0) return;
  Buckets& b = For(key_id, it->second->overrides, now);
  if (!b.tokens) return;
  if (delta < 0) {
    b.tokens->Refund(-delta, now);
  } else {
    b.tokens->Charge(delta, now);
  }
}

void RateLimiter::SetDefaults(RateLimits defaults) {
  std::lock_guard<std::mutex> lock(mu_);
  defaults_ = defaults;
}

}  // namespace phx::server
