// The probe and metrics listener (--http-port): GET /livez, /readyz, /startupz and /metrics,
// never authenticated. It runs on the event-driven HTTP layer with its own I/O thread, and
// /metrics is rendered on a thread of its own, so neither API load nor a hostile client on
// either port delays a Kubernetes probe. Probes answer on --probe-host, /metrics on
// --metrics-host (both default to --host): one listener when they are equal; when one is a
// wildcard address (0.0.0.0, ::) one listener on it, where the other path only answers on
// connections that came in on its own address; else one listener per address, on the same port.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/core/executor.h"
#include "server/health/health.h"
#include "server/http/net/http_server.h"

namespace phx::server {

struct ProbeServerOptions {
  std::string probe_host = "0.0.0.0";
  std::string metrics_host = "0.0.0.0";
  int port = 8080;  // 0: any free port
  net::HttpLimits limits;
};

class ProbeServer final : public net::HttpHandler {
 public:
  // `scrape` produces the /metrics body.
  ProbeServer(HealthMonitor& health, std::function<std::string()> scrape);
  ~ProbeServer() override;
  absl::Status Start(const ProbeServerOptions& opts);
  void Stop();
  int port() const { return port_; }
  net::HttpServerStats stats() const;

  std::optional<net::HttpResponse> CheckHead(const net::HttpRequest& head) override;
  void Handle(std::shared_ptr<net::Exchange> ex) override;
  std::string ErrorBody(int status, std::string_view message) override;

 private:
  // Whether a path served on `host` answers a connection that came in on `local`.
  bool Serves(const std::string& host, const std::string& local) const;

  HealthMonitor& health_;
  std::function<std::string()> scrape_;
  std::string probe_addr_, metrics_addr_;  // "" = any address
  int port_ = 0;
  std::unique_ptr<net::HttpServer> http_;
  std::unique_ptr<Executor> scraper_;  // last: joined first
};

// Whether `host` is a wildcard listen address ("", 0.0.0.0, ::).
bool IsWildcardHost(const std::string& host);

}  // namespace phx::server
