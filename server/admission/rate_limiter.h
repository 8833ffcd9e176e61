// Per-API-key token buckets: requests per second and tokens per minute (prompt tokens plus the
// reserved max_tokens, with the unused part refunded when the request finishes). Rejections
// carry the seconds until the bucket can satisfy the request (retry-after), which is never
// longer than one refill window (burst / rate): a bucket's balance never goes below zero.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "server/auth/api_keys.h"

namespace phx::server {

using SteadyTime = std::chrono::steady_clock::time_point;

// A classic token bucket; `rate` tokens per second up to `burst`. The balance stays in
// [0, burst]: a take or charge larger than the balance empties the bucket and the rest is
// forgiven, so no sequence of calls can push a retry-after past one refill window.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst, SteadyTime now);
  // Takes n tokens if available. Otherwise returns false and sets *retry_after_s to the time
  // until n tokens will be there (infinity-free: n > burst waits for a full bucket, then
  // empties it). The wait is at most burst / rate.
  bool TryTake(double n, SteadyTime now, double* retry_after_s);
  // Takes n tokens unconditionally, down to an empty bucket (a late correction never makes a
  // debt: the bound on retry-after holds whatever is charged).
  void Charge(double n, SteadyTime now);
  void Refund(double n, SteadyTime now);
  void Reconfigure(double rate, double burst, SteadyTime now);
  double available(SteadyTime now);

 private:
  void Refill(SteadyTime now);
  double rate_, burst_, tokens_;
  SteadyTime last_;
};

struct RateLimits {
  double requests_per_second = 0;  // 0: unlimited
  double tokens_per_minute = 0;    // 0: unlimited
};

class RateLimiter {
 public:
  explicit RateLimiter(RateLimits defaults);
  ~RateLimiter();  // out of line: Buckets is incomplete here
  // Request-rate check for `key_id` (overrides from the key file win over the defaults).
  // RESOURCE_EXHAUSTED with *retry_after_s set when over the limit.
  absl::Status AdmitRequest(const std::string& key_id, const KeyLimits& overrides, SteadyTime now,
                            double* retry_after_s);
  // Token check-and-charge; same error contract.
  absl::Status ChargeTokens(const std::string& key_id, const KeyLimits& overrides, double tokens,
                            SteadyTime now, double* retry_after_s);
  // Adjusts an earlier charge by `delta` tokens (negative = refund) without rejecting. Callers
  // keep a refund within what they charged (the Gate does); the balance stays in [0, burst].
  void Adjust(const std::string& key_id, double delta, SteadyTime now);
  // New defaults (SIGHUP); existing buckets are re-rated, keeping their balance.
  void SetDefaults(RateLimits defaults);

 private:
  struct Buckets;
  Buckets& For(const std::string& key_id, const KeyLimits& overrides, SteadyTime now);
  std::mutex mu_;
  RateLimits defaults_;
  std::map<std::string, std::unique_ptr<Buckets>> by_key_;
};

}  // namespace phx::server
