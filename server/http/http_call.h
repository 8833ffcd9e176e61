// One generation request of the HTTP API as the Gate sees it: a CallHandler whose callbacks
// (engine and gate threads; they never block) only record what happened and wake the
// connection's thread, which waits on a condition variable for the start, the tokens and the
// finish. The handler is shared with the gate and engine and may outlive the connection;
// after Close() it drops whatever still arrives.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "server/core/gate.h"

namespace phx::server {

class HttpCall final : public CallHandler {
 public:
  enum class Phase { kWaiting, kStarted, kRejected, kCached };

  // What happened since the last Take.
  struct Update {
    std::vector<engine::TokenEvent> tokens;
    bool finished = false;
    engine::FinishReason reason = engine::FinishReason::kNone;
    absl::Status status;  // not OK when the request ended in error (reason kError/...)
    engine::Usage usage;
    std::string tail;
  };

  void OnStarted(const Submitted& s) override;
  void OnTokens(engine::RequestId id, const std::vector<engine::TokenEvent>& events) override;
  void OnFinish(engine::RequestId id, engine::FinishReason r, const absl::Status& s,
                const engine::Usage& u, const engine::Timing& t, std::string tail) override;
  void OnRejected(const absl::Status& s, double retry_after_s) override;
  void OnCached(const std::string& request_id, const CachedResponse& r) override;

  // Waits until the request started, was rejected or answered from the cache; kWaiting when
  // `stop` was set first (checked every `tick`).
  Phase WaitForStart(const std::atomic<bool>& stop,
                     std::chrono::milliseconds tick = std::chrono::milliseconds(500));
  // Waits up to `timeout` for tokens or the finish and moves them into *u (replacing it).
  // Returns whether anything came.
  bool Take(Update* u, std::chrono::milliseconds timeout);
  // Waits for the finish, moving everything into *u; false when `stop` was set first.
  bool WaitForFinish(Update* u, const std::atomic<bool>& stop,
                     std::chrono::milliseconds tick = std::chrono::milliseconds(500));
  // The connection is gone: further events are dropped.
  void Close();

  // Valid once WaitForStart returned the matching phase.
  const Submitted& submitted() const { return submitted_; }
  const absl::Status& rejection() const { return rejection_; }
  double retry_after_s() const { return retry_after_s_; }
  const std::string& cached_request_id() const { return cached_id_; }
  const CachedResponse& cached() const { return cached_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  Phase phase_ = Phase::kWaiting;
  bool closed_ = false;
  Update pending_;
  Submitted submitted_;
  absl::Status rejection_;
  double retry_after_s_ = 0;
  std::string cached_id_;
  CachedResponse cached_;
};

}  // namespace phx::server
