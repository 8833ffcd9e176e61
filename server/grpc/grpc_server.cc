#include "server/grpc/grpc_server.h"

#include "base/strings.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace phx::server {

absl::StatusOr<GrpcServer> StartGrpcServer(const GrpcServerOptions& opt,
                                           const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder b;
  GrpcServer out;
  b.AddListeningPort(opt.address,
                     opt.credentials ? opt.credentials : grpc::InsecureServerCredentials(),
                     &out.port);
  for (grpc::Service* s : services) b.RegisterService(s);
  b.SetMaxReceiveMessageSize(opt.max_message_bytes);
  b.SetMaxSendMessageSize(opt.max_message_bytes);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, opt.keepalive_time_ms);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, opt.keepalive_timeout_ms);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                       opt.min_client_ping_interval_ms);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  out.server = b.BuildAndStart();
  if (!out.server || out.port == 0) {
    return absl::UnavailableError(StrCat("cannot listen for gRPC on ", opt.address));
  }
  return out;
}

}  // namespace phx::server
