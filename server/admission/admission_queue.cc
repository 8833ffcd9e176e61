#include "server/admission/admission_queue.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace phx::server {
namespace {

using Clock = std::chrono::steady_clock;
using Time = AdmissionQueue::Time;

// Weight of the newest inter-completion interval in the moving average.
constexpr double kAlpha = 0.2;
// Completions in the same clock tick count as this far apart (keeps the rate finite).
constexpr double kMinIntervalS = 1e-6;
// Retry-after bounds for "queue full".
constexpr double kMinRetryS = 1, kMaxRetryS = 60;

double Seconds(Time from, Time to) { return std::chrono::duration<double>(to - from).count(); }

// The measured completion rate as seen at `now` (0: unknown). While requests run but none
// completes, the open interval counts as if one completed now, so a stalled engine shows a
// falling rate rather than the last good one.
double RateAt(double rate, Time last_leave, Time now, int inflight) {
  if (rate <= 0) return 0;  // fewer than two completions so far
  const double gap = Seconds(last_leave, now);
  if (inflight > 0 && gap > 1 / rate) return 1 / (kAlpha * gap + (1 - kAlpha) / rate);
  return rate;
}

// A callback to run once the lock is released: start, or reject with `status`.
struct Pending {
  AdmissionQueue::StartFn start;
  AdmissionQueue::RejectFn reject;
  absl::Status status;
};

void RunAll(std::vector<Pending>& pending) {
  for (Pending& p : pending) {
    if (p.start) {
      p.start();
    } else if (p.reject) {
      p.reject(p.status);
    }
  }
}

// The helpers below are templates so they can take the queue's private Waiter type.

// Moves every waiter whose deadline has passed out of `queue` into `out` as a rejection.
template <typename W>
void ExpireAll(std::list<W>& queue, Time now, std::vector<Pending>* out) {
  for (auto it = queue.begin(); it != queue.end();) {
    if (it->deadline && *it->deadline <= now) {
      out->push_back(
          {nullptr, std::move(it->reject),
           absl::DeadlineExceededError("deadline exceeded while waiting for admission")});
      it = queue.erase(it);
    } else {
      ++it;
    }
  }
}

// Starts waiters from the head while slots are free; a head whose deadline has passed is
// rejected instead. `*last_leave` restarts the completion clock when the queue goes from idle to
// busy, so idle time does not count as a slow completion.
template <typename W>
void StartWhileFree(std::list<W>& queue, int max_inflight, int* inflight, Time now,
                    Time* last_leave, std::vector<Pending>* out) {
  while (*inflight < max_inflight && !queue.empty()) {
    W w = std::move(queue.front());
    queue.pop_front();
    if (w.deadline && *w.deadline <= now) {
      out->push_back(
          {nullptr, std::move(w.reject),
           absl::DeadlineExceededError("deadline exceeded while waiting for admission")});
      continue;
    }
    if (*inflight == 0 && *last_leave != Time{}) *last_leave = now;
    ++*inflight;
    out->push_back({std::move(w.start), nullptr, absl::OkStatus()});
  }
}

}  // namespace

AdmissionQueue::AdmissionQueue(int max_inflight, int max_queue)
    : max_inflight_(std::max(1, max_inflight)), max_queue_(std::max(0, max_queue)) {}

AdmissionQueue::Result AdmissionQueue::Enter(int32_t priority, std::optional<Time> deadline,
                                             StartFn start, RejectFn reject, uint64_t* ticket,
                                             double* retry_after_s) {
  const Time now = Clock::now();
  std::vector<Pending> pending;
  Result result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t t = next_ticket_++;
    if (ticket != nullptr) *ticket = t;
    // Slots freed without a Leave (Reconfigure) go to those already waiting first.
    StartWhileFree(queue_, max_inflight_, &inflight_, now, &last_leave_, &pending);
    if (inflight_ < max_inflight_ && queue_.empty()) {
      if (inflight_ == 0 && last_leave_ != Time{}) last_leave_ = now;
      ++inflight_;
      result = Result::kStarted;
    } else {
      // A full queue first gives up its expired waiters (they would be rejected anyway).
      if (static_cast<int>(queue_.size()) >= max_queue_) ExpireAll(queue_, now, &pending);
      if (static_cast<int>(queue_.size()) >= max_queue_) {
        result = Result::kRejected;
        if (retry_after_s != nullptr) {
          const double rate = RateAt(rate_, last_leave_, now, inflight_);
          double wait = kMinRetryS;  // unknown rate
          if (rate > 0) wait = (static_cast<double>(queue_.size()) + 1) / rate;
          *retry_after_s = std::clamp(wait, kMinRetryS, kMaxRetryS);
        }
      } else {
        // After the last waiter of the same or a higher priority.
        auto pos = queue_.end();
        while (pos != queue_.begin() && std::prev(pos)->priority < priority) --pos;
        queue_.insert(pos, Waiter{t, priority, deadline, std::move(start), std::move(reject)});
        result = Result::kQueued;
      }
    }
  }
  RunAll(pending);
  if (result == Result::kStarted) start();
  return result;
}

void AdmissionQueue::Leave() {
  const Time now = Clock::now();
  std::vector<Pending> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (inflight_ > 0) --inflight_;
    // Moving average of the interval between completions; the rate is its inverse.
    if (last_leave_ != Time{}) {
      const double dt = std::max(kMinIntervalS, Seconds(last_leave_, now));
      const double interval = rate_ > 0 ? kAlpha * dt + (1 - kAlpha) / rate_ : dt;
      rate_ = 1 / interval;
    }
    last_leave_ = now;
    ExpireAll(queue_, now, &pending);
    StartWhileFree(queue_, max_inflight_, &inflight_, now, &last_leave_, &pending);
  }
  RunAll(pending);
}

bool AdmissionQueue::Cancel(uint64_t ticket) {
  RejectFn reject;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(queue_.begin(), queue_.end(),
                           [ticket](const Waiter& w) { return w.ticket == ticket; });
    if (it == queue_.end()) return false;
    reject = std::move(it->reject);
    queue_.erase(it);
  }
  if (reject) reject(absl::CancelledError("cancelled while waiting for admission"));
  return true;
}

void AdmissionQueue::Poll() {
  const Time now = Clock::now();
  std::vector<Pending> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ExpireAll(queue_, now, &pending);
    StartWhileFree(queue_, max_inflight_, &inflight_, now, &last_leave_, &pending);
  }
  RunAll(pending);
}

void AdmissionQueue::Reconfigure(int max_inflight, int max_queue) {
  const Time now = Clock::now();
  std::vector<Pending> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    max_inflight_ = std::max(1, max_inflight);
    // A smaller queue limit applies to new arrivals; those already waiting keep their place.
    max_queue_ = std::max(0, max_queue);
    StartWhileFree(queue_, max_inflight_, &inflight_, now, &last_leave_, &pending);
  }
  RunAll(pending);
}

void AdmissionQueue::RejectAll(const absl::Status& why) {
  std::vector<Pending> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Waiter& w : queue_) pending.push_back({nullptr, std::move(w.reject), why});
    queue_.clear();
  }
  RunAll(pending);
}

int AdmissionQueue::inflight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return inflight_;
}

int AdmissionQueue::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(queue_.size());
}

int AdmissionQueue::max_inflight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_inflight_;
}

double AdmissionQueue::completion_rate() const {
  const Time now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  return RateAt(rate_, last_leave_, now, inflight_);
}

double AdmissionQueue::EstimatedWaitSeconds() const {
  const int waiting = queued();
  if (waiting == 0) return 0;
  const double rate = completion_rate();
  // Nothing measured yet: no estimate (0) rather than an alarming guess.
  return rate > 0 ? waiting / rate : 0;
}

}  // namespace phx::server
