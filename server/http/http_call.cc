#include "server/http/http_call.h"

namespace phx::server {

void HttpCall::OnStarted(const Submitted& s) {
  std::lock_guard<std::mutex> l(mu_);
  submitted_ = s;
  phase_ = Phase::kStarted;
  cv_.notify_all();
}

void HttpCall::OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) {
  std::lock_guard<std::mutex> l(mu_);
  if (closed_) return;
  pending_.tokens.insert(pending_.tokens.end(), events.begin(), events.end());
  if (events.empty() || !events.back().last) cv_.notify_all();  // the last: with the finish
}

void HttpCall::OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                        const engine::Usage& u, const engine::Timing&, std::string tail) {
  std::lock_guard<std::mutex> l(mu_);
  pending_.finished = true;
  pending_.reason = r;
  pending_.status = FinishStatus(r, s);
  pending_.usage = u;
  pending_.tail = std::move(tail);
  cv_.notify_all();
}

void HttpCall::OnRejected(const absl::Status& s, double retry_after_s) {
  std::lock_guard<std::mutex> l(mu_);
  if (phase_ == Phase::kStarted) {
    // Submission failed after OnStarted: the request ends in error.
    pending_.finished = true;
    pending_.reason = engine::FinishReason::kError;
    pending_.status = s;
  } else {
    phase_ = Phase::kRejected;
    rejection_ = s;
    retry_after_s_ = retry_after_s;
  }
  cv_.notify_all();
}

void HttpCall::OnCached(const std::string& request_id, const CachedResponse& r) {
  std::lock_guard<std::mutex> l(mu_);
  phase_ = Phase::kCached;
  cached_id_ = request_id;
  cached_ = r;
  cv_.notify_all();
}

HttpCall::Phase HttpCall::WaitForStart(const std::atomic<bool>& stop,
                                       std::chrono::milliseconds tick) {
  std::unique_lock<std::mutex> l(mu_);
  while (phase_ == Phase::kWaiting && !stop) cv_.wait_for(l, tick);
  return phase_;
}

bool HttpCall::Take(Update* u, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_for(l, timeout, [this] { return !pending_.tokens.empty() || pending_.finished; });
  if (pending_.tokens.empty() && !pending_.finished) return false;
  *u = std::move(pending_);
  pending_ = Update();
  return true;
}

bool HttpCall::WaitForFinish(Update* u, const std::atomic<bool>& stop,
                             std::chrono::milliseconds tick) {
  std::unique_lock<std::mutex> l(mu_);
  while (!pending_.finished && !stop) cv_.wait_for(l, tick);
  if (!pending_.finished) return false;
  *u = std::move(pending_);
  pending_ = Update();
  return true;
}

void HttpCall::Close() {
  std::lock_guard<std::mutex> l(mu_);
  closed_ = true;
  pending_.tokens.clear();
}

}  // namespace phx::server
