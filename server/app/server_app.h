// `phalanx serve` assembled: runtime, gate and its policies, gRPC, probes/metrics, the OpenAI
// HTTP API, the load-balancer agent, signals (SIGTERM/SIGINT drain, SIGHUP reload).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "absl/status/status.h"
#include "runtime/grammar/engine.h"
#include "server/admission/admission_queue.h"
#include "server/admission/rate_limiter.h"
#include "server/app/serve_config.h"
#include "server/audit/audit_log.h"
#include "server/auth/api_keys.h"
#include "server/cache/response_cache.h"
#include "server/cli/setup.h"
#include "server/core/frontend.h"
#include "server/core/gate.h"
#include "server/grpc/generation_service.h"
#include "server/grpc/grpc_server.h"
#include "server/health/health.h"
#include "server/health/lb_agent.h"
#include "server/http/api_server.h"
#include "server/http/probe_server.h"
#include "server/metrics/metrics.h"

namespace phx::server {

class ServerApp {
 public:
  explicit ServerApp(ServeConfig cfg);
  ~ServerApp();

  // Loads the model, warms up, opens every listener. After it returns OK the server serves.
  // Signals must already be blocked in the calling thread (see BlockServerSignals).
  absl::Status Start();
  // Waits for signals: SIGHUP reloads, SIGTERM/SIGINT drain and return.
  void Run();
  // Drain then stop everything (also what SIGTERM does).
  void Drain();
  void Reload();

  // Bound ports (useful when configured as 0).
  int grpc_port() const { return grpc_.port; }
  int http_port() const { return probes_ ? probes_->port() : 0; }
  int api_port() const { return api_ ? api_->port() : 0; }
  int lb_agent_port() const { return lb_ ? lb_->port() : 0; }
  Gate& gate() { return *gate_; }
  net::HttpServerStats api_stats() const { return api_ ? api_->stats() : net::HttpServerStats{}; }
  net::HttpServerStats probe_stats() const {
    return probes_ ? probes_->stats() : net::HttpServerStats{};
  }
  engine::Engine& engine() { return *runtime_.engine; }
  HealthMonitor& health() { return *health_; }

 private:
  std::shared_ptr<const ApiKeyStore> keys() const;

  ServeConfig cfg_;
  cli::Runtime runtime_;
  std::unique_ptr<grammar::GrammarEngine> grammar_;  // structured output (Frontend uses it)
  std::unique_ptr<Frontend> frontend_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<AdmissionQueue> admission_;
  std::unique_ptr<ResponseCache> cache_;
  std::unique_ptr<AuditLog> audit_;
  mutable std::mutex keys_mu_;
  std::shared_ptr<const ApiKeyStore> keys_;
  std::unique_ptr<Gate> gate_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<chat::ChatRenderer> chat_;  // shared by gRPC and the HTTP API
  std::unique_ptr<grpcapi::GenerationService> service_;
  GrpcServer grpc_;
  std::unique_ptr<ProbeServer> probes_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<LbAgent> lb_;
  std::thread poller_;  // admission deadline expiry
  std::atomic<bool> stopping_{false};
  bool drained_ = false;
};

// The HTTP listeners' limits from the configuration.
net::HttpLimits HttpLimitsOf(const ServeConfig& c);

// Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost).
bool IsLoopbackHost(const std::string& host);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread (and threads it starts later), so
// ServerApp::Run can take them synchronously.
void BlockServerSignals();

}  // namespace phx::server
