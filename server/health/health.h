// Liveness, readiness and startup, computed from the engine, the admission queue and the
// gate; mirrored into gRPC health (grpc.health.v1) for "" and "phalanx.v1.Generation". A
// canary forward runs when the engine has produced nothing for a while.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/health_check_service_interface.h"
#include "runtime/engine/engine.h"
#include "server/admission/admission_queue.h"
#include "server/core/gate.h"
#include "server/metrics/metrics.h"

namespace phx::server {

struct HealthConfig {
  double step_timeout_s = 30;
  double canary_interval_s = 30;
  double slo_ttft_s = 2;      // readiness: estimated queue wait must stay below it
  double kv_headroom = 0.02;  // readiness: free KV fraction while requests wait
};

struct Probe {
  bool ok = false;
  std::vector<std::string> reasons;  // why not ok
  std::string Json() const;
};

class HealthMonitor {
 public:
  HealthMonitor(engine::Engine& engine, AdmissionQueue& admission, Gate& gate, Metrics& metrics,
                HealthConfig cfg);
  ~HealthMonitor();

  // Runs a one-token warm-up forward; startup passes once it succeeded.
  absl::Status WarmUp();
  // Starts the background thread (canary, gRPC health updates every 50 ms).
  void Start(grpc::HealthCheckServiceInterface* grpc_health);
  void Stop();
  // Every listener (gRPC, HTTP API, lb agent) is up: readiness may pass from now on, so a load
  // balancer never sends traffic to a port that is not listening yet.
  // Publishes the gRPC health status at once.
  void MarkServing();
  // Draining: readiness and gRPC health go NOT_SERVING now (the gate may still admit requests
  // for a grace period; see ServeConfig::drain_grace_s).
  void OnDrain();
  bool draining() const { return draining_; }

  Probe Live() const;
  Probe Ready() const;
  Probe Startup() const;

 private:
  absl::Status RunCanary(double timeout_s);
  void Loop();
  void PublishGrpc(bool ready);

  engine::Engine& engine_;
  AdmissionQueue& admission_;
  Gate& gate_;
  Metrics& metrics_;
  HealthConfig cfg_;
  std::atomic<bool> started_{false};
  std::atomic<bool> serving_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> canary_failed_{false};
  std::atomic<bool> stop_{false};
  grpc::HealthCheckServiceInterface* grpc_health_ = nullptr;
  std::mutex mu_;
  std::condition_variable cv_;
  int last_grpc_ = -1;  // -1 unknown, 0 not serving, 1 serving
  std::thread thread_;
};

}  // namespace phx::server
