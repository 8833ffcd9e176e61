// `phalanx serve`: the engine loop plus the gRPC API until SIGTERM/SIGINT.
#include <csignal>
#include <cstdio>
#include <pthread.h>

#include "server/cli/commands.h"
#include "server/cli/setup.h"
#include "server/core/frontend.h"
#include "server/grpc/generation_service.h"
#include "server/grpc/grpc_server.h"

namespace phx::cli {

int Serve(const ServeOptions& o) {
  // Signals are taken synchronously by this thread; every thread started later inherits the
  // blocked mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto rt = BuildRuntime(o.runtime);
  if (!rt.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(rt.status().message()).c_str());
    return 1;
  }
  server::Frontend fe(*rt->engine, std::string(rt->backend->name()));
  server::grpcapi::GenerationService service(fe);
  server::GrpcServerOptions go;
  go.address = o.host + ":" + std::to_string(o.grpc_port);
  rt->engine->Start();
  auto grpc = server::StartGrpcServer(go, {&service});
  if (!grpc.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(grpc.status().message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "serving gRPC on %s:%d\n", o.host.c_str(), grpc->port);
  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "signal %d: shutting down\n", sig);
  grpc->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  rt->engine->Stop();
  grpc->server->Wait();
  return 0;
}

}  // namespace phx::cli
