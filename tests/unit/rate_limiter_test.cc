#include "server/admission/rate_limiter.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iterator>
#include <limits>
#include <random>
#include <string>

namespace phx::server {
namespace {

constexpr double kEps = 1e-9;

// A fake clock: time points `s` seconds after an arbitrary origin.
SteadyTime T(double s) {
  return SteadyTime{} + std::chrono::hours(1) +
         std::chrono::round<SteadyTime::duration>(std::chrono::duration<double>(s));
}

TEST(TokenBucket, StartsFullAndReportsExactRetryAfter) {
  TokenBucket b(/*rate=*/10, /*burst=*/20, T(0));
  EXPECT_NEAR(b.available(T(0)), 20, kEps);
  double retry = -1;
  EXPECT_TRUE(b.TryTake(20, T(0), &retry));
  EXPECT_NEAR(b.available(T(0)), 0, kEps);
  EXPECT_FALSE(b.TryTake(1, T(0), &retry));
  EXPECT_NEAR(retry, 0.1, kEps);
  EXPECT_FALSE(b.TryTake(5, T(0), &retry));
  EXPECT_NEAR(retry, 0.5, kEps);
  EXPECT_FALSE(b.TryTake(5, T(0.3), &retry));
  EXPECT_NEAR(retry, 0.2, kEps);
  // A failed take consumes nothing.
  EXPECT_NEAR(b.available(T(0.3)), 3, kEps);
  EXPECT_TRUE(b.TryTake(5, T(0.5), &retry));
  EXPECT_NEAR(b.available(T(0.5)), 0, kEps);
}

TEST(TokenBucket, RefillsAtRateUpToBurst) {
  TokenBucket b(4, 8, T(0));
  ASSERT_TRUE(b.TryTake(8, T(0), nullptr));
  EXPECT_NEAR(b.available(T(0.25)), 1, kEps);
  EXPECT_NEAR(b.available(T(1)), 4, kEps);
  EXPECT_NEAR(b.available(T(2)), 8, kEps);
  EXPECT_NEAR(b.available(T(100)), 8, kEps);  // capped
}

TEST(TokenBucket, TimeNeverRunsBackwards) {
  TokenBucket b(10, 10, T(5));
  ASSERT_TRUE(b.TryTake(10, T(5), nullptr));
  EXPECT_NEAR(b.available(T(4)), 0, kEps);  // an older time neither refills nor drains
  EXPECT_NEAR(b.available(T(5.5)), 5, kEps);
  EXPECT_NEAR(b.available(T(5.2)), 5, kEps);
}

TEST(TokenBucket, MoreThanBurstWaitsForFullBucketThenEmptiesIt) {
  TokenBucket b(10, 20, T(0));
  ASSERT_TRUE(b.TryTake(5, T(0), nullptr));  // 15 left
  double retry = -1;
  EXPECT_FALSE(b.TryTake(50, T(0), &retry));
  EXPECT_NEAR(retry, 0.5, kEps);  // until the bucket is full, not until 50 are there
  EXPECT_TRUE(b.TryTake(50, T(0.5), &retry));
  // The bucket is empty, not in debt: the next request waits for its own tokens only.
  EXPECT_NEAR(b.available(T(0.5)), 0, kEps);
  EXPECT_FALSE(b.TryTake(1, T(0.5), &retry));
  EXPECT_NEAR(retry, 0.1, kEps);
  EXPECT_NEAR(b.available(T(2.5)), 20, kEps);
}

TEST(TokenBucket, ChargeEmptiesAtMostRefundIsCappedAtBurst) {
  TokenBucket b(10, 20, T(0));
  b.Charge(30, T(0));
  EXPECT_NEAR(b.available(T(0)), 0, kEps);
  double retry = -1;
  EXPECT_FALSE(b.TryTake(2, T(0), &retry));
  EXPECT_NEAR(retry, 0.2, kEps);
  b.Refund(15, T(0));
  EXPECT_NEAR(b.available(T(0)), 15, kEps);
  b.Refund(1000, T(0));
  EXPECT_NEAR(b.available(T(0)), 20, kEps);
  // Non-positive, NaN or infinite amounts change nothing (an infinite charge empties).
  b.Charge(-5, T(0));
  b.Refund(-5, T(0));
  b.Refund(std::nan(""), T(0));
  b.Charge(std::nan(""), T(0));
  EXPECT_TRUE(b.TryTake(0, T(0), &retry));
  EXPECT_NEAR(b.available(T(0)), 20, kEps);
  b.Charge(std::numeric_limits<double>::infinity(), T(0));
  EXPECT_NEAR(b.available(T(0)), 0, kEps);
  b.Refund(std::numeric_limits<double>::infinity(), T(0));
  EXPECT_NEAR(b.available(T(0)), 0, kEps);
}

// Issue 23's lockout: whatever is charged, taken or adjusted (2^31, negative, NaN, infinity),
// a rejected take never reports a wait longer than one refill window (burst / rate), and
// waiting that long is enough.
TEST(TokenBucket, RetryAfterNeverExceedsOneRefillWindow) {
  std::mt19937_64 rng(23);
  const double amounts[] = {0,
                            1,
                            7,
                            59.5,
                            600,
                            601,
                            1e4,
                            2147483648.0,
                            -2147483648.0,
                            -1,
                            1e300,
                            std::nan(""),
                            std::numeric_limits<double>::infinity()};
  for (double rate : {0.5, 10.0, 1000.0}) {
    const double burst = 60 * rate;
    TokenBucket b(rate, burst, T(0));
    double now = 0;
    for (int i = 0; i < 20000; ++i) {
      const double n = amounts[rng() % std::size(amounts)];
      switch (rng() % 4) {
        case 0:
          b.Charge(n, T(now));
          break;
        case 1:
          b.Refund(n, T(now));
          break;
        default: {
          double retry = -1;
          if (!b.TryTake(n, T(now), &retry)) {
            ASSERT_GE(retry, 0) << n;
            ASSERT_LE(retry, burst / rate + 1e-6) << "take " << n << " at rate " << rate;
            if (std::isfinite(n)) {
              ASSERT_TRUE(b.TryTake(n, T(now + retry + 1e-6), nullptr)) << n;
              now += retry + 1e-6;
            }
          }
        }
      }
      const double avail = b.available(T(now));
      ASSERT_GE(avail, 0);
      ASSERT_LE(avail, burst + 1e-9);
      now += static_cast<double>(rng() % 1000) / 1000 / rate;
    }
  }
}

TEST(TokenBucket, ReconfigureKeepsBalanceAccruesOldRateFirst) {
  TokenBucket b(10, 20, T(0));
  ASSERT_TRUE(b.TryTake(20, T(0), nullptr));
  b.Reconfigure(1, 100, T(1));  // one second at the old rate: 10 tokens
  EXPECT_NEAR(b.available(T(1)), 10, kEps);
  EXPECT_NEAR(b.available(T(3)), 12, kEps);      // then the new rate
  EXPECT_NEAR(b.available(T(1000)), 100, kEps);  // and the new burst
  b.Reconfigure(1, 4, T(1000));                  // a smaller burst caps the balance
  EXPECT_NEAR(b.available(T(1000)), 4, kEps);
  // More than the new burst: taken from a full bucket, leaving it empty.
  EXPECT_TRUE(b.TryTake(5, T(1000), nullptr));
  EXPECT_NEAR(b.available(T(1000)), 0, kEps);
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket b(0, 0, T(0));
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(b.TryTake(1e6, T(0), nullptr));
}

TEST(RateLimiter, UnlimitedByDefault) {
  RateLimiter rl({});
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(rl.AdmitRequest("k", {}, T(0), nullptr).ok());
    ASSERT_TRUE(rl.ChargeTokens("k", {}, 1e6, T(0), nullptr).ok());
  }
}

TEST(RateLimiter, RequestBurstIsTwoSecondsWorth) {
  RateLimiter rl({.requests_per_second = 5});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rl.AdmitRequest("k", {}, T(0), nullptr).ok()) << i;
  double retry = -1;
  absl::Status s = rl.AdmitRequest("k", {}, T(0), &retry);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NEAR(retry, 0.2, kEps);
  EXPECT_FALSE(rl.AdmitRequest("k", {}, T(0.1), &retry).ok());
  EXPECT_NEAR(retry, 0.1, kEps);
  EXPECT_TRUE(rl.AdmitRequest("k", {}, T(0.2), &retry).ok());
  EXPECT_FALSE(rl.AdmitRequest("k", {}, T(0.2), nullptr).ok());  // null retry_after is fine
}

TEST(RateLimiter, SlowRateStillAdmitsOneRequest) {
  RateLimiter rl({.requests_per_second = 0.1});
  EXPECT_TRUE(rl.AdmitRequest("k", {}, T(0), nullptr).ok());
  double retry = -1;
  EXPECT_FALSE(rl.AdmitRequest("k", {}, T(0), &retry).ok());
  EXPECT_NEAR(retry, 10, 1e-6);
  EXPECT_TRUE(rl.AdmitRequest("k", {}, T(10), nullptr).ok());
}

TEST(RateLimiter, KeysAreIsolated) {
  RateLimiter rl({.requests_per_second = 1, .tokens_per_minute = 60});
  ASSERT_TRUE(rl.AdmitRequest("a", {}, T(0), nullptr).ok());
  ASSERT_TRUE(rl.AdmitRequest("a", {}, T(0), nullptr).ok());
  double retry = -1;
  ASSERT_FALSE(rl.AdmitRequest("a", {}, T(0), &retry).ok());
  EXPECT_NEAR(retry, 1, kEps);
  ASSERT_TRUE(rl.ChargeTokens("a", {}, 60, T(0), nullptr).ok());
  ASSERT_FALSE(rl.ChargeTokens("a", {}, 1, T(0), nullptr).ok());
  // Key b is untouched by a's use: full buckets.
  EXPECT_TRUE(rl.AdmitRequest("b", {}, T(0), nullptr).ok());
  EXPECT_TRUE(rl.AdmitRequest("b", {}, T(0), nullptr).ok());
  EXPECT_FALSE(rl.AdmitRequest("b", {}, T(0), nullptr).ok());
  EXPECT_TRUE(rl.ChargeTokens("b", {}, 60, T(0), nullptr).ok());
  // ... and b's use did not change a's wait.
  ASSERT_FALSE(rl.AdmitRequest("a", {}, T(0.5), &retry).ok());
  EXPECT_NEAR(retry, 0.5, kEps);
  // Refunds go to the right key only.
  rl.Adjust("b", -30, T(0));
  EXPECT_TRUE(rl.ChargeTokens("b", {}, 30, T(0), nullptr).ok());
  EXPECT_FALSE(rl.ChargeTokens("a", {}, 1, T(0), nullptr).ok());
}

TEST(RateLimiter, OverridesWinOverDefaults) {
  RateLimiter rl({.requests_per_second = 5, .tokens_per_minute = 600});
  const KeyLimits slow{.requests_per_second = 1, .tokens_per_minute = 60};
  EXPECT_TRUE(rl.AdmitRequest("slow", slow, T(0), nullptr).ok());
  EXPECT_TRUE(rl.AdmitRequest("slow", slow, T(0), nullptr).ok());
  double retry = -1;
  EXPECT_FALSE(rl.AdmitRequest("slow", slow, T(0), &retry).ok());
  EXPECT_NEAR(retry, 1, kEps);
  EXPECT_TRUE(rl.ChargeTokens("slow", slow, 60, T(0), &retry).ok());
  EXPECT_FALSE(rl.ChargeTokens("slow", slow, 1, T(0), &retry).ok());
  EXPECT_NEAR(retry, 1, kEps);  // one token at 60 per minute
  // A key with a zero override gets the defaults.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(rl.AdmitRequest("dflt", {}, T(0), nullptr).ok());
  EXPECT_FALSE(rl.AdmitRequest("dflt", {}, T(0), nullptr).ok());
  // An override may also be more generous than the default.
  const KeyLimits fast{.requests_per_second = 100};
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(rl.AdmitRequest("fast", fast, T(0), nullptr).ok());
  EXPECT_FALSE(rl.AdmitRequest("fast", fast, T(0), nullptr).ok());
}

TEST(RateLimiter, TokensPerMinuteChargeAdjustAndRetryAfter) {
  RateLimiter rl({.tokens_per_minute = 600});  // 10 tokens/s, burst 600
  double retry = -1;
  ASSERT_TRUE(rl.ChargeTokens("k", {}, 500, T(0), &retry).ok());
  absl::Status s = rl.ChargeTokens("k", {}, 200, T(0), &retry);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NEAR(retry, 10, kEps);  // 100 missing at 10/s
  // The request finished using 200 of its 500 reserved tokens: 300 come back.
  rl.Adjust("k", -300, T(0));
  EXPECT_TRUE(rl.ChargeTokens("k", {}, 200, T(0), &retry).ok());  // 400 were there; 200 left
  // A late extra charge empties the bucket without rejecting; the rest is forgiven.
  rl.Adjust("k", 400, T(0));
  EXPECT_FALSE(rl.ChargeTokens("k", {}, 1, T(0), &retry).ok());
  EXPECT_NEAR(retry, 0.1, 1e-6);  // 1 at 10/s
  // More than a minute's worth waits for a full bucket, then is let through.
  EXPECT_FALSE(rl.ChargeTokens("k", {}, 5000, T(20), &retry).ok());
  EXPECT_NEAR(retry, 40, 1e-6);  // 200 there, 600 needed
  EXPECT_TRUE(rl.ChargeTokens("k", {}, 5000, T(60), &retry).ok());
  EXPECT_FALSE(rl.ChargeTokens("k", {}, 1, T(60), &retry).ok());
  EXPECT_NEAR(retry, 0.1, 1e-6);
}

// The reproduced lockout (issue 23): a charge of 2^31 (what a refund of a -2^31 estimate did)
// left the key waiting ~248 days; now the wait is at most one minute for tokens per minute.
TEST(RateLimiter, HugeChargeLocksOutForAtMostOneWindow) {
  RateLimiter rl({.requests_per_second = 1, .tokens_per_minute = 600});
  ASSERT_TRUE(rl.ChargeTokens("k", {}, 10, T(0), nullptr).ok());
  rl.Adjust("k", 2147483648.0, T(0));
  double retry = -1;
  EXPECT_FALSE(rl.ChargeTokens("k", {}, 100, T(0), &retry).ok());
  EXPECT_NEAR(retry, 10, 1e-6);
  EXPECT_TRUE(rl.ChargeTokens("k", {}, 100, T(10), &retry).ok());
  // Another key was never affected.
  EXPECT_TRUE(rl.ChargeTokens("other", {}, 600, T(0), nullptr).ok());
}

TEST(RateLimiter, AdjustOnUnknownKeyDoesNothing) {
  RateLimiter rl({.tokens_per_minute = 60});
  rl.Adjust("nobody", 1000, T(0));
  rl.Adjust("nobody", -1000, T(0));
  // The key's first charge still finds a full bucket (60), not a debt.
  EXPECT_TRUE(rl.ChargeTokens("nobody", {}, 60, T(0), nullptr).ok());
  EXPECT_FALSE(rl.ChargeTokens("nobody", {}, 1, T(0), nullptr).ok());
}

TEST(RateLimiter, SetDefaultsKeepsBalances) {
  RateLimiter rl({.requests_per_second = 5});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rl.AdmitRequest("k", {}, T(0), nullptr).ok());
  rl.SetDefaults({.requests_per_second = 50});
  // Not refilled to the new burst (100): the empty balance is kept, the new rate applies.
  double retry = -1;
  EXPECT_FALSE(rl.AdmitRequest("k", {}, T(0), &retry).ok());
  EXPECT_NEAR(retry, 0.02, kEps);
  int admitted = 0;
  while (rl.AdmitRequest("k", {}, T(1), nullptr).ok()) ++admitted;
  EXPECT_EQ(admitted, 50);
  int full = 0;
  while (rl.AdmitRequest("k", {}, T(100), nullptr).ok()) ++full;
  EXPECT_EQ(full, 100);
  // A lower rate caps the balance at the new burst (2 s worth).
  rl.SetDefaults({.requests_per_second = 1});
  int capped = 0;
  while (rl.AdmitRequest("k", {}, T(200), nullptr).ok()) ++capped;
  EXPECT_EQ(capped, 2);
  // Unlimited, then limited again: a fresh full bucket.
  rl.SetDefaults({});
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(rl.AdmitRequest("k", {}, T(200), nullptr).ok());
  rl.SetDefaults({.requests_per_second = 2});
  int again = 0;
  while (rl.AdmitRequest("k", {}, T(200), nullptr).ok()) ++again;
  EXPECT_EQ(again, 4);
}

TEST(RateLimiter, ChangedOverrideReratesKeepingBalance) {
  RateLimiter rl({});
  const KeyLimits before{.requests_per_second = 10};
  for (int i = 0; i < 15; ++i) ASSERT_TRUE(rl.AdmitRequest("k", before, T(0), nullptr).ok());
  // Key file reloaded with 2 rps: burst 4, the 5 left are capped to 4.
  const KeyLimits after{.requests_per_second = 2};
  int n = 0;
  while (rl.AdmitRequest("k", after, T(0), nullptr).ok()) ++n;
  EXPECT_EQ(n, 4);
  double retry = -1;
  EXPECT_FALSE(rl.AdmitRequest("k", after, T(0), &retry).ok());
  EXPECT_NEAR(retry, 0.5, kEps);
}

}  // namespace
}  // namespace phx::server
