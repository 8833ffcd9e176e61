#include "server/grpc/grpc_server.h"

#include <algorithm>
#include <memory>
#include <string>

#include "base/strings.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/server_builder_option.h"

namespace phx::server {
namespace {

// Turns server reflection on or off for one builder. Loading libgrpc++_reflection registers
// its plugin for every server of the process (a static initializer), so "off" has to take the
// plugin out of the builder's list, and "on" adds it where it is missing.
class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool on) : on_(on) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    auto reflection = std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>();
    const std::string name = reflection->name();
    const auto it = std::find_if(plugins->begin(), plugins->end(),
                                 [&](const auto& p) { return p->name() == name; });
    if (!on_ && it != plugins->end()) plugins->erase(it);
    if (on_ && it == plugins->end()) plugins->push_back(std::move(reflection));
  }

 private:
  bool on_;
};

}  // namespace

absl::StatusOr<GrpcServer> StartGrpcServer(const GrpcServerOptions& opt,
                                           const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder b;
  b.SetOption(std::make_unique<ReflectionOption>(opt.reflection));
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
