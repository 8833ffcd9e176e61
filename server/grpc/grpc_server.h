// Builds and starts the gRPC server: the Generation service, the standard health service,
// server reflection when asked for (--grpc-reflection), message-size and keepalive settings.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace phx::server {

struct GrpcServerOptions {
  std::string address = "0.0.0.0:50051";
  int max_message_bytes = 16 << 20;
  int keepalive_time_ms = 30000;     // server pings idle clients this often
  int keepalive_timeout_ms = 10000;  // and drops them when a ping is not answered
  int min_client_ping_interval_ms = 10000;
  std::shared_ptr<grpc::ServerCredentials> credentials;  // null: insecure
  // grpc.reflection.v1alpha.ServerReflection on this server only (it tells anyone who can
  // connect the whole API surface; off unless --grpc-reflection).
  bool reflection = false;
};

struct GrpcServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;  // the bound port (useful with port 0)
};

absl::StatusOr<GrpcServer> StartGrpcServer(const GrpcServerOptions& opt,
                                           const std::vector<grpc::Service*>& services);

}  // namespace phx::server
