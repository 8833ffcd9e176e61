// An in-process Phalanx server for integration tests: the full ServerApp (gate, policies,
// probes, gRPC) on ephemeral loopback ports.
#pragma once

#include <cstdlib>
#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"
#include "phalanx/v1/generate.grpc.pb.h"
#include "server/app/server_app.h"

namespace phx::testing {

// Factor on every latency bound of the integration tests: 1 normally; the sanitizer stages of
// scripts/test set PHX_TEST_TIME_SCALE (TSan runs code 5-15x slower), so a bound still catches
// a request that waits on the engine instead of answering at once.
inline double TimeScale() {
  const char* s = std::getenv("PHX_TEST_TIME_SCALE");
  const double v = s != nullptr ? std::atof(s) : 1.0;
  return v > 0 ? v : 1.0;
}

inline server::ServeConfig TestConfig(const std::string& model_path) {
  server::ServeConfig c;
  c.runtime.model = model_path;
  c.runtime.threads = 2;
  c.runtime.quiet = true;
  c.runtime.kv_cache_mb = 64;
  c.host = "127.0.0.1";
  c.grpc_port = 0;
  c.http_port = 0;
  c.api_port = 0;
  c.lb_agent_port = 0;
  c.ephemeral_ports = true;
  c.drain_timeout_s = 60;  // a bound only: the drain tests count requests, not seconds
  return c;
}

struct TestServer {
  std::unique_ptr<server::ServerApp> app;

  static std::unique_ptr<TestServer> Start(const server::ServeConfig& cfg) {
    auto s = std::make_unique<TestServer>();
    s->app = std::make_unique<server::ServerApp>(cfg);
    const absl::Status st = s->app->Start();
    if (!st.ok()) {
      std::fprintf(stderr, "test server failed to start: %s\n", std::string(st.message()).c_str());
      return nullptr;
    }
    return s;
  }
  static std::unique_ptr<TestServer> Start(const std::string& model_path, int max_batch = 64) {
    auto cfg = TestConfig(model_path);
    cfg.runtime.max_batch = max_batch;
    return Start(cfg);
  }

  engine::Engine* engine() const { return &app->engine(); }
  std::string target() const { return "127.0.0.1:" + std::to_string(app->grpc_port()); }

  std::unique_ptr<phalanx::v1::Generation::Stub> Stub() const {
    return phalanx::v1::Generation::NewStub(
        grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  }
};

}  // namespace phx::testing
