#include "server/health/health.h"

#include <future>

#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace phx::server {
namespace {

// A sink that fulfils a promise when the canary request ends.
class CanarySink final : public engine::TokenSink {
 public:
  std::future<absl::Status> Result() { return done_.get_future(); }
  void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>&) override {}
  void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                const engine::Usage&, const engine::Timing&, std::string) override {
    done_.set_value(r == engine::FinishReason::kError
                        ? (s.ok() ? absl::InternalError("canary failed") : s)
                        : absl::OkStatus());
  }

 private:
  std::promise<absl::Status> done_;
};

}  // namespace

std::string Probe::Json() const {
  nlohmann::json j = {{"status", ok ? "ok" : "fail"}};
  if (!reasons.empty()) j["reasons"] = reasons;
  return j.dump();
}

HealthMonitor::HealthMonitor(engine::Engine& engine, AdmissionQueue& admission, Gate& gate,
                             Metrics& metrics, HealthConfig cfg)
    : engine_(engine), admission_(admission), gate_(gate), metrics_(metrics), cfg_(cfg) {}

HealthMonitor::~HealthMonitor() { Stop(); }

absl::Status HealthMonitor::RunCanary(double timeout_s) {
  engine::GenerateRequest req;
  const int32_t bos = engine_.model().tokenizer().bos();
  req.prompt = {bos >= 0 ? bos : 0};
  req.sampling.temperature = 0;
  req.sampling.max_tokens = 1;
  req.priority = 1000;  // ahead of user traffic
  auto sink = std::make_shared<CanarySink>();
  auto result = sink->Result();
  auto id = engine_.Submit(req, sink);
  if (!id.ok()) return id.status();
  if (result.wait_for(std::chrono::duration<double>(timeout_s)) != std::future_status::ready) {
    engine_.Cancel(*id);
    return absl::DeadlineExceededError(StrCat("canary forward took over ", timeout_s, " s"));
  }
  return result.get();
}

absl::Status HealthMonitor::WarmUp() {
  absl::Status s = RunCanary(cfg_.step_timeout_s);
  if (s.ok()) started_ = true;
  return s;
}

void HealthMonitor::Start(grpc::HealthCheckServiceInterface* grpc_health) {
  grpc_health_ = grpc_health;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void HealthMonitor::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::MarkServing() {
  std::lock_guard<std::mutex> l(mu_);
  serving_ = true;
  const bool ready = Ready().ok;
  PublishGrpc(ready);
  metrics_.SetReady(ready);
}

void HealthMonitor::OnDrain() {
  std::lock_guard<std::mutex> l(mu_);
  draining_ = true;
  PublishGrpc(false);
  metrics_.SetReady(false);
}

void HealthMonitor::PublishGrpc(bool ready) {
  if (grpc_health_ == nullptr || last_grpc_ == static_cast<int>(ready)) return;
  grpc_health_->SetServingStatus("", ready);
  grpc_health_->SetServingStatus("phalanx.v1.Generation", ready);
  last_grpc_ = static_cast<int>(ready);
}

void HealthMonitor::Loop() {
  auto last_progress = engine::Clock::now();
  uint64_t last_tokens = engine_.stats().generated_tokens;
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    const bool ready = Ready().ok;
    PublishGrpc(ready);
    metrics_.SetReady(ready);
    cv_.wait_for(l, std::chrono::milliseconds(50));
    if (stop_) break;
    // Canary: when nothing was generated for an interval, prove a forward still works.
    const uint64_t tokens = engine_.stats().generated_tokens;
    const auto now = engine::Clock::now();
    if (tokens != last_tokens) {
      last_tokens = tokens;
      last_progress = now;
      canary_failed_ = false;
    } else if (std::chrono::duration<double>(now - last_progress).count() >=
                   cfg_.canary_interval_s &&
               !gate_.draining()) {
      l.unlock();
      const absl::Status s = RunCanary(cfg_.step_timeout_s);
      l.lock();
      canary_failed_ = !s.ok();
      last_progress = engine::Clock::now();
      last_tokens = engine_.stats().generated_tokens;
    }
  }
}

Probe HealthMonitor::Live() const {
  Probe p;
  if (engine_.failed()) {
    p.reasons.push_back(StrCat("engine failed: ", engine_.last_error().message()));
  }
  if (const double age = engine_.current_step_age(); age > cfg_.step_timeout_s) {
    p.reasons.push_back(StrCat("engine step running for ", age, " s"));
  }
  if (const double hb = engine_.loop_heartbeat_age(); hb > cfg_.step_timeout_s) {
    p.reasons.push_back(StrCat("engine loop silent for ", hb, " s"));
  }
  if (canary_failed_) p.reasons.push_back("canary forward failed");
  p.ok = p.reasons.empty();
  return p;
}

Probe HealthMonitor::Startup() const {
  Probe p;
  p.ok = started_;
  if (!p.ok) p.reasons.push_back("model loading or warm-up forward not done");
  return p;
}

Probe HealthMonitor::Ready() const {
  Probe p = Live();
  if (!started_) p.reasons.push_back("not started");
  if (started_ && !serving_) p.reasons.push_back("listeners not up yet");
  if (draining_ || gate_.draining()) p.reasons.push_back("draining");
  const engine::EngineStats s = engine_.stats();
  const int waiting = s.waiting + admission_.queued();
  if (waiting > 0 && s.blocks_total > 0) {
    const double free = static_cast<double>(s.blocks_free + s.blocks_cached) / s.blocks_total;
    if (free < cfg_.kv_headroom) {
      p.reasons.push_back(StrCat("KV cache headroom ", free, " below ", cfg_.kv_headroom, " with ",
                                 waiting, " requests waiting"));
    }
  }
  if (const double wait = admission_.EstimatedWaitSeconds(); wait > cfg_.slo_ttft_s) {
    p.reasons.push_back(StrCat("estimated queue wait ", wait, " s over the TTFT objective ",
                               cfg_.slo_ttft_s, " s"));
  }
  p.ok = p.reasons.empty();
  return p;
}

}  // namespace phx::server
