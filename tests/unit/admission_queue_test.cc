#include "server/admission/admission_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace phx::server {
namespace {

using Clock = std::chrono::steady_clock;
using Result = AdmissionQueue::Result;
using namespace std::chrono_literals;

// Runs fn on its own thread; false when it has not finished within `limit` (a deadlock).
bool FinishesWithin(std::function<void()> fn, std::chrono::seconds limit = 10s) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> f = done->get_future();
  std::thread([fn = std::move(fn), done] {
    fn();
    done->set_value();
  }).detach();
  return f.wait_for(limit) == std::future_status::ready;
}

// Records what happened to one request.
struct Probe {
  int started = 0;
  int rejected = 0;
  absl::Status status;
  AdmissionQueue::StartFn Start() {
    return [this] { ++started; };
  }
  AdmissionQueue::RejectFn Reject() {
    return [this](const absl::Status& s) {
      ++rejected;
      status = s;
    };
  }
};

Result Enter(AdmissionQueue& q, Probe& p, int32_t priority = 0,
             std::optional<AdmissionQueue::Time> deadline = std::nullopt,
             uint64_t* ticket = nullptr, double* retry = nullptr) {
  return q.Enter(priority, deadline, p.Start(), p.Reject(), ticket, retry);
}

TEST(AdmissionQueue, FillsInflightThenQueues) {
  AdmissionQueue q(2, 3);
  Probe a, b, c;
  EXPECT_EQ(Enter(q, a), Result::kStarted);
  EXPECT_EQ(a.started, 1);  // start ran before Enter returned
  EXPECT_EQ(Enter(q, b), Result::kStarted);
  EXPECT_EQ(Enter(q, c), Result::kQueued);
  EXPECT_EQ(c.started, 0);
  EXPECT_EQ(q.inflight(), 2);
  EXPECT_EQ(q.queued(), 1);
  EXPECT_EQ(q.max_inflight(), 2);
  q.Leave();
  EXPECT_EQ(c.started, 1);
  EXPECT_EQ(q.inflight(), 2);
  EXPECT_EQ(q.queued(), 0);
  q.Leave();
  q.Leave();
  EXPECT_EQ(q.inflight(), 0);
  q.Leave();  // an unmatched Leave does not go negative
  EXPECT_EQ(q.inflight(), 0);
  EXPECT_EQ(a.rejected + b.rejected + c.rejected, 0);
}

TEST(AdmissionQueue, PriorityThenFirstComeFirstServed) {
  AdmissionQueue q(1, 10);
  Probe first;
  ASSERT_EQ(Enter(q, first), Result::kStarted);
  std::vector<std::string> order;
  const std::vector<std::pair<std::string, int32_t>> arrivals = {
      {"a", 0}, {"b", 5}, {"c", 0}, {"d", 5}, {"e", -1}, {"f", 10}, {"g", 0}};
  for (const auto& [name, prio] : arrivals) {
    ASSERT_EQ(q.Enter(
                  prio, std::nullopt, [&order, n = name] { order.push_back(n); },
                  [](const absl::Status&) { FAIL() << "rejected"; }, nullptr, nullptr),
              Result::kQueued);
  }
  EXPECT_EQ(q.queued(), 7);
  for (size_t i = 0; i < arrivals.size(); ++i) {
    q.Leave();
    ASSERT_EQ(order.size(), i + 1);  // one slot freed, one started
  }
  EXPECT_EQ(order, (std::vector<std::string>{"f", "b", "d", "a", "c", "g", "e"}));
}

TEST(AdmissionQueue, QueueFullIsRejectedSynchronouslyWithRetryAfter) {
  AdmissionQueue q(1, 2);
  Probe a, b, c, d;
  ASSERT_EQ(Enter(q, a), Result::kStarted);
  ASSERT_EQ(Enter(q, b), Result::kQueued);
  ASSERT_EQ(Enter(q, c), Result::kQueued);
  double retry = -1;
  EXPECT_EQ(Enter(q, d, /*priority=*/100, std::nullopt, nullptr, &retry), Result::kRejected);
  EXPECT_EQ(retry, 1.0);     // no completion measured yet
  EXPECT_EQ(d.rejected, 0);  // reject is not called for the synchronous rejection
  EXPECT_EQ(d.started, 0);
  EXPECT_EQ(q.queued(), 2);
  // Null out-pointers are fine.
  EXPECT_EQ(q.Enter(
                0, std::nullopt, [] {}, [](const absl::Status&) {}, nullptr, nullptr),
            Result::kRejected);
}

TEST(AdmissionQueue, ZeroQueueRejectsWhenFull) {
  AdmissionQueue q(1, 0);
  Probe a, b;
  ASSERT_EQ(Enter(q, a), Result::kStarted);
  EXPECT_EQ(Enter(q, b), Result::kRejected);
}

TEST(AdmissionQueue, RetryAfterAndWaitFollowTheCompletionRate) {
  AdmissionQueue q(1, 19);
  EXPECT_EQ(q.completion_rate(), 0);
  Probe p;
  ASSERT_EQ(Enter(q, p), Result::kStarted);
  // Completions at least 100 ms apart: the rate is at most 10/s.
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(100ms);
    q.Leave();
    ASSERT_EQ(Enter(q, p), Result::kStarted);
  }
  const double rate = q.completion_rate();
  EXPECT_GT(rate, 0.5);
  EXPECT_LE(rate, 10.0 + 1e-6);
  EXPECT_EQ(q.EstimatedWaitSeconds(), 0);  // nothing waits
  std::vector<Probe> waiting(19);
  for (Probe& w : waiting) ASSERT_EQ(Enter(q, w), Result::kQueued);
  const double wait = q.EstimatedWaitSeconds();
  EXPECT_GE(wait, 19 / 10.0 - 1e-6);
  EXPECT_NEAR(wait, 19 / q.completion_rate(), 0.5 * wait);
  double retry = -1;
  Probe extra;
  ASSERT_EQ(Enter(q, extra, 0, std::nullopt, nullptr, &retry), Result::kRejected);
  EXPECT_GE(retry, 20 / 10.0 - 1e-6);  // (queued + 1) / rate
  EXPECT_LT(retry, 60);
  // A long queue: the retry-after is capped at 60 s.
  q.Reconfigure(1, 1000);
  std::vector<Probe> more(981);
  for (Probe& w : more) ASSERT_EQ(Enter(q, w), Result::kQueued);
  ASSERT_EQ(Enter(q, extra, 0, std::nullopt, nullptr, &retry), Result::kRejected);
  EXPECT_EQ(retry, 60.0);
}

TEST(AdmissionQueue, RetryAfterIsAtLeastOneSecond) {
  AdmissionQueue q(1, 1);
  Probe p;
  for (int i = 0; i < 10; ++i) {  // fast completions: a high rate
    ASSERT_EQ(Enter(q, p), Result::kStarted);
    q.Leave();
  }
  EXPECT_GT(q.completion_rate(), 2.0);
  ASSERT_EQ(Enter(q, p), Result::kStarted);
  ASSERT_EQ(Enter(q, p), Result::kQueued);
  double retry = -1;
  ASSERT_EQ(Enter(q, p, 0, std::nullopt, nullptr, &retry), Result::kRejected);
  EXPECT_EQ(retry, 1.0);
}

TEST(AdmissionQueue, IdleTimeIsNotSlownessButAStallIs) {
  AdmissionQueue q(1, 10);
  Probe p;
  for (int i = 0; i < 5; ++i) {  // fast completions
    ASSERT_EQ(Enter(q, p), Result::kStarted);
    q.Leave();
  }
  const double fast = q.completion_rate();
  ASSERT_GT(fast, 200.0);
  // Idle (nothing in flight): the rate is kept, and the idle gap is not measured.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(q.completion_rate(), fast);
  ASSERT_EQ(Enter(q, p), Result::kStarted);
  q.Leave();
  EXPECT_GT(q.completion_rate(), 100.0);
  // Busy but nothing completes for 50 ms: the rate falls to about 1 / (0.2 * 50 ms) = 100/s.
  ASSERT_EQ(Enter(q, p), Result::kStarted);
  std::this_thread::sleep_for(50ms);
  const double stalled = q.completion_rate();
  EXPECT_GT(stalled, 0);
  EXPECT_LT(stalled, 101.0);
  Probe waiter;
  ASSERT_EQ(Enter(q, waiter), Result::kQueued);
  EXPECT_GE(q.EstimatedWaitSeconds(), 1 / 101.0);
}

TEST(AdmissionQueue, ExpiredDeadlineIsRejectedByPoll) {
  AdmissionQueue q(1, 10);
  Probe running, late, patient;
  ASSERT_EQ(Enter(q, running), Result::kStarted);
  ASSERT_EQ(Enter(q, late, 0, Clock::now() + 20ms), Result::kQueued);
  ASSERT_EQ(Enter(q, patient, 0, Clock::now() + 1h), Result::kQueued);
  q.Poll();  // not yet
  EXPECT_EQ(late.rejected, 0);
  std::this_thread::sleep_for(40ms);
  q.Poll();
  EXPECT_EQ(late.rejected, 1);
  EXPECT_EQ(late.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.started, 0);
  EXPECT_EQ(q.queued(), 1);
  q.Poll();  // rejected once only
  EXPECT_EQ(late.rejected, 1);
  q.Leave();
  EXPECT_EQ(patient.started, 1);
  EXPECT_EQ(late.started, 0);
}

TEST(AdmissionQueue, ExpiredDeadlineIsRejectedByLeave) {
  AdmissionQueue q(1, 10);
  Probe running, late_head, late_tail, next;
  ASSERT_EQ(Enter(q, running), Result::kStarted);
  ASSERT_EQ(Enter(q, late_head, 5, Clock::now() + 10ms), Result::kQueued);  // at the head
  ASSERT_EQ(Enter(q, next, 0), Result::kQueued);
  ASSERT_EQ(Enter(q, late_tail, -5, Clock::now() + 10ms), Result::kQueued);  // behind
  std::this_thread::sleep_for(30ms);
  q.Leave();
  EXPECT_EQ(late_head.rejected, 1);
  EXPECT_EQ(late_head.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late_tail.rejected, 1);  // not only the head
  EXPECT_EQ(late_tail.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(next.started, 1);
  EXPECT_EQ(q.queued(), 0);
  EXPECT_EQ(q.inflight(), 1);
}

TEST(AdmissionQueue, FullQueueMakesRoomByExpiringDeadlines) {
  AdmissionQueue q(1, 1);
  Probe running, late, fresh;
  ASSERT_EQ(Enter(q, running), Result::kStarted);
  ASSERT_EQ(Enter(q, late, 0, Clock::now() + 10ms), Result::kQueued);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(Enter(q, fresh), Result::kQueued);
  EXPECT_EQ(late.rejected, 1);
  EXPECT_EQ(late.status.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(AdmissionQueue, CancelRejectsWithCancelledOnce) {
  AdmissionQueue q(1, 10);
  Probe running, a, b;
  uint64_t t_running = 0, t_a = 0, t_b = 0;
  ASSERT_EQ(Enter(q, running, 0, std::nullopt, &t_running), Result::kStarted);
  ASSERT_EQ(Enter(q, a, 0, std::nullopt, &t_a), Result::kQueued);
  ASSERT_EQ(Enter(q, b, 0, std::nullopt, &t_b), Result::kQueued);
  EXPECT_NE(t_a, t_b);
  EXPECT_TRUE(q.Cancel(t_a));
  EXPECT_EQ(a.rejected, 1);
  EXPECT_EQ(a.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(q.queued(), 1);
  EXPECT_FALSE(q.Cancel(t_a));  // already gone
  EXPECT_EQ(a.rejected, 1);
  EXPECT_FALSE(q.Cancel(t_running));  // started: not queued
  EXPECT_FALSE(q.Cancel(987654321));
  q.Leave();
  EXPECT_EQ(a.started, 0);
  EXPECT_EQ(b.started, 1);
  EXPECT_FALSE(q.Cancel(t_b));
  EXPECT_EQ(b.rejected, 0);
}

TEST(AdmissionQueue, CallbacksRunOutsideTheLock) {
  // Callbacks that call back into the queue would deadlock if run under its lock.
  AdmissionQueue q(1, 10);
  int chain = 0;
  ASSERT_TRUE(FinishesWithin([&] {
    // Started synchronously; the start callback reads the queue and leaves at once.
    EXPECT_EQ(q.Enter(
                  0, std::nullopt,
                  [&] {
                    EXPECT_EQ(q.inflight(), 1);
                    q.Leave();
                  },
                  [](const absl::Status&) {}, nullptr, nullptr),
              Result::kStarted);
    EXPECT_EQ(q.inflight(), 0);
    // A running request, then waiters whose start leaves re-entrantly: one Leave runs them all.
    Probe holder;
    ASSERT_EQ(Enter(q, holder), Result::kStarted);
    for (int i = 0; i < 5; ++i) {
      ASSERT_EQ(q.Enter(
                    0, std::nullopt,
                    [&] {
                      ++chain;
                      (void)q.queued();
                      q.Leave();
                    },
                    [](const absl::Status&) {}, nullptr, nullptr),
                Result::kQueued);
    }
    q.Leave();
    // A reject callback that enters a new request.
    Probe blocker, replacement;
    ASSERT_EQ(Enter(q, blocker), Result::kStarted);
    uint64_t ticket = 0;
    ASSERT_EQ(q.Enter(
                  0, std::nullopt, [] {},
                  [&](const absl::Status&) { EXPECT_EQ(Enter(q, replacement), Result::kQueued); },
                  &ticket, nullptr),
              Result::kQueued);
    EXPECT_TRUE(q.Cancel(ticket));
    EXPECT_EQ(q.queued(), 1);
    // Deadline rejections from Poll also run unlocked.
    ASSERT_EQ(q.Enter(
                  0, Clock::now() - 1ms, [] {},
                  [&](const absl::Status& s) {
                    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
                    (void)q.inflight();
                  },
                  nullptr, nullptr),
              Result::kQueued);
    q.Poll();
  })) << "deadlock: a callback ran under the queue's lock";
  EXPECT_EQ(chain, 5);
}

TEST(AdmissionQueue, ReconfigureStartsWaitersWhenSlotsGrow) {
  AdmissionQueue q(1, 10);
  Probe a, b, c, d;
  ASSERT_EQ(Enter(q, a), Result::kStarted);
  ASSERT_EQ(Enter(q, b), Result::kQueued);
  ASSERT_EQ(Enter(q, c), Result::kQueued);
  q.Reconfigure(3, 10);
  EXPECT_EQ(b.started, 1);
  EXPECT_EQ(c.started, 1);
  EXPECT_EQ(q.inflight(), 3);
  EXPECT_EQ(q.max_inflight(), 3);
  // Shrinking: nothing is stopped, but nothing new starts until below the new cap.
  q.Reconfigure(1, 10);
  ASSERT_EQ(Enter(q, d), Result::kQueued);
  q.Leave();
  EXPECT_EQ(d.started, 0);
  q.Leave();
  EXPECT_EQ(d.started, 0);
  q.Leave();
  EXPECT_EQ(d.started, 1);
  EXPECT_EQ(q.inflight(), 1);
}

TEST(AdmissionQueue, ConcurrentStressKeepsTheCapAndResolvesEveryRequestOnce) {
  constexpr int kThreads = 8, kPerThread = 1500, kCap = 4, kQueueMax = 8;
  AdmissionQueue q(kCap, kQueueMax);
  struct Outcome {
    std::atomic<int> started{0}, rejected{0};
  };
  std::vector<Outcome> outcome(kThreads * kPerThread);
  std::atomic<int> running{0}, max_running{0}, max_inflight_seen{0};
  std::atomic<int> sync_rejected{0}, expired{0}, cancelled{0};
  std::mutex pending_mu;
  std::vector<int> pending;  // started, not yet finished

  auto finish = [&] {
    running.fetch_sub(1);
    q.Leave();
  };
  auto take_pending = [&](int* out) {
    std::lock_guard<std::mutex> lock(pending_mu);
    if (pending.empty()) return false;
    *out = pending.back();
    pending.pop_back();
    return true;
  };
  auto worker = [&](int t) {
    std::mt19937 rng(t);
    for (int k = 0; k < kPerThread; ++k) {
      const int i = t * kPerThread + k;
      std::optional<AdmissionQueue::Time> deadline;
      if (rng() % 5 == 0) deadline = Clock::now() + std::chrono::microseconds(rng() % 2000);
      uint64_t ticket = 0;
      double retry = 0;
      const Result r = q.Enter(
          static_cast<int32_t>(rng() % 3), deadline,
          [&, i] {
            outcome[i].started.fetch_add(1);
            const int now_running = running.fetch_add(1) + 1;
            int m = max_running.load();
            while (now_running > m && !max_running.compare_exchange_weak(m, now_running)) {
            }
            if (i % 3 == 0) {
              finish();  // re-entrant Leave from the start callback
            } else {
              std::lock_guard<std::mutex> lock(pending_mu);
              pending.push_back(i);
            }
          },
          [&, i](const absl::Status& s) {
            if (s.code() == absl::StatusCode::kDeadlineExceeded) {
              expired.fetch_add(1);
            } else {
              EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
              cancelled.fetch_add(1);
            }
            outcome[i].rejected.fetch_add(1);
          },
          &ticket, &retry);
      if (r == Result::kRejected) {
        sync_rejected.fetch_add(1);
        EXPECT_GE(retry, 1.0);
        EXPECT_LE(retry, 60.0);
        outcome[i].rejected.fetch_add(1);
      } else if (r == Result::kQueued && rng() % 8 == 0) {
        q.Cancel(ticket);  // true: reject ran; false: already started or rejected
      }
      const int seen = q.inflight();
      int m = max_inflight_seen.load();
      while (seen > m && !max_inflight_seen.compare_exchange_weak(m, seen)) {
      }
      // Finish slower than requests arrive, so the queue fills and rejects.
      int done;
      if (rng() % 2 == 0 && take_pending(&done)) finish();
      if (k % 64 == 0) q.Poll();
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  // Drain: finish what runs; waiters start as slots free up or expire.
  for (int spins = 0; spins < 1000000; ++spins) {
    int done;
    if (take_pending(&done)) {
      finish();
      continue;
    }
    if (q.queued() == 0 && q.inflight() == 0) break;
    q.Poll();
  }
  EXPECT_EQ(q.queued(), 0);
  EXPECT_EQ(q.inflight(), 0);
  EXPECT_EQ(running.load(), 0);
  EXPECT_LE(max_running.load(), kCap);
  EXPECT_LE(max_inflight_seen.load(), kCap);
  EXPECT_GT(max_running.load(), 1);  // the test did run requests concurrently
  int started = 0, rejected = 0;
  for (size_t i = 0; i < outcome.size(); ++i) {
    const int s = outcome[i].started.load(), r = outcome[i].rejected.load();
    ASSERT_EQ(s + r, 1) << "request " << i << " started " << s << " rejected " << r;
    started += s;
    rejected += r;
  }
  EXPECT_GT(started, 0);
  EXPECT_GT(sync_rejected.load(), 0);  // the queue did fill up
  EXPECT_EQ(rejected, sync_rejected.load() + expired.load() + cancelled.load());
  std::printf("stress: %d started, %d queue-full, %d expired, %d cancelled\n", started,
              sync_rejected.load(), expired.load(), cancelled.load());
}

}  // namespace
}  // namespace phx::server
