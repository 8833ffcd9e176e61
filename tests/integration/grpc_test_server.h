// An in-process Phalanx server for integration tests: CPU backend, a model, the engine loop
// and the gRPC service on an ephemeral loopback port.
#pragma once

#include <memory>
#include <string>

#include "grpcpp/grpcpp.h"
#include "ops/cpu/cpu_backend.h"
#include "phalanx/v1/generate.grpc.pb.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "server/core/frontend.h"
#include "server/grpc/generation_service.h"
#include "server/grpc/grpc_server.h"

namespace phx::testing {

struct TestServer {
  std::unique_ptr<ops::cpu::CpuBackend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<server::Frontend> frontend;
  std::unique_ptr<server::grpcapi::GenerationService> service;
  server::GrpcServer grpc;

  static std::unique_ptr<TestServer> Start(const std::string& model_path,
                                           engine::EngineConfig cfg = {}) {
    auto s = std::make_unique<TestServer>();
    s->backend = std::make_unique<ops::cpu::CpuBackend>(2);
    auto m = model::Model::Load(model_path, *s->backend);
    if (!m.ok()) return nullptr;
    s->model = std::move(*m);
    auto e = engine::Engine::Create(*s->model, *s->backend, cfg);
    if (!e.ok()) return nullptr;
    s->engine = std::move(*e);
    s->frontend = std::make_unique<server::Frontend>(*s->engine, "cpu");
    s->service = std::make_unique<server::grpcapi::GenerationService>(*s->frontend);
    s->engine->Start();
    server::GrpcServerOptions go;
    go.address = "127.0.0.1:0";
    auto g = server::StartGrpcServer(go, {s->service.get()});
    if (!g.ok()) return nullptr;
    s->grpc = std::move(*g);
    return s;
  }

  ~TestServer() {
    if (grpc.server) grpc.server->Shutdown(std::chrono::system_clock::now());
    if (engine) engine->Stop();
  }

  std::unique_ptr<phalanx::v1::Generation::Stub> Stub() const {
    return phalanx::v1::Generation::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(grpc.port), grpc::InsecureChannelCredentials()));
  }
};

}  // namespace phx::testing
