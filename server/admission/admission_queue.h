// Global admission: at most `max_inflight` requests in the engine, at most `max_queue` waiting
// for a slot (highest priority first, FCFS within a priority). A waiting request whose deadline
// passes is rejected with DEADLINE_EXCEEDED when it reaches the head or at the next Leave/Poll,
// never silently dropped. Start/Reject callbacks run outside the queue's lock, possibly on the
// thread that called Leave().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>

#include "absl/status/status.h"

namespace phx::server {

class AdmissionQueue {
 public:
  using Time = std::chrono::steady_clock::time_point;
  using StartFn = std::function<void()>;
  using RejectFn = std::function<void(const absl::Status&)>;
  enum class Result { kStarted, kQueued, kRejected };

  AdmissionQueue(int max_inflight, int max_queue);

  // Starts the request now (calls start before returning), queues it, or rejects it
  // (RESOURCE_EXHAUSTED "queue full", with *retry_after_s from the measured completion rate;
  // reject is NOT called for this synchronous rejection). `ticket` identifies a queued request
  // for Cancel.
  Result Enter(int32_t priority, std::optional<Time> deadline, StartFn start, RejectFn reject,
               uint64_t* ticket, double* retry_after_s);
  // A started request finished: starts queued ones while slots are free.
  void Leave();
  // A queued request's caller went away: it leaves the queue; reject is called with CANCELLED.
  // Returns false when it was not queued (already started or rejected).
  bool Cancel(uint64_t ticket);
  // Rejects queued requests whose deadline has passed (called periodically).
  void Poll();
  void Reconfigure(int max_inflight, int max_queue);
  // Rejects every queued request with `why` (shutdown after a drain timeout).
  void RejectAll(const absl::Status& why);

  int inflight() const;
  int queued() const;
  // Completions per second (exponentially weighted), for retry-after and readiness.
  double completion_rate() const;
  // Estimated wait of a request queued now: queued / completion rate (0 when nothing waits).
  double EstimatedWaitSeconds() const;
  int max_inflight() const;

 private:
  struct Waiter {
    uint64_t ticket;
    int32_t priority;
    std::optional<Time> deadline;
    StartFn start;
    RejectFn reject;
  };
  mutable std::mutex mu_;
  int max_inflight_, max_queue_;
  int inflight_ = 0;
  std::list<Waiter> queue_;  // sorted: priority desc, then arrival
  uint64_t next_ticket_ = 1;
  double rate_ = 0;  // EWMA completions/s
  Time last_leave_{};
};

}  // namespace phx::server
