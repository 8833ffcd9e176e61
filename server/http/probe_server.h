// The probe and metrics listener (--http-port): GET /livez, /readyz, /startupz and /metrics.
// It has its own listener and threads, so API load never delays a Kubernetes probe; it is
// never authenticated.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "server/health/health.h"
#include "server/metrics/metrics.h"

namespace httplib {
class Server;
}

namespace phx::server {

class ProbeServer {
 public:
  // `scrape` produces the /metrics body.
  ProbeServer(HealthMonitor& health, std::function<std::string()> scrape);
  ~ProbeServer();
  // Binds host:port (port 0 picks one) and serves on a background thread.
  absl::Status Start(const std::string& host, int port);
  void Stop();
  int port() const { return port_; }

 private:
  HealthMonitor& health_;
  std::function<std::string()> scrape_;
  std::unique_ptr<httplib::Server> srv_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace phx::server
