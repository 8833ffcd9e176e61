// phalanx.v1.Generation over gRPC's callback API: unary Generate, server-streaming
// GenerateStream (a ServerWriteReactor fed by the engine thread), Tokenize, GetModelInfo,
// SubmitFeedback, Embed (embed_call.cc). Every call goes through the Gate (auth, limits, admission,
// degraded cache); a Chat prompt is rendered with the server's chat template first.
#pragma once

#include "phalanx/v1/generate.grpc.pb.h"
#include "runtime/chat/chat_renderer.h"
#include "server/core/gate.h"

namespace phx::server::grpcapi {

class GenerationService final : public phalanx::v1::Generation::CallbackService {
 public:
  // `chat` (may be null: Chat prompts then fail with FAILED_PRECONDITION) renders Chat prompts;
  // the server shares it with the HTTP API, so both render a conversation the same way.
  GenerationService(Gate& gate, const chat::ChatRenderer* chat) : gate_(gate), chat_(chat) {}

  grpc::ServerUnaryReactor* Generate(grpc::CallbackServerContext* ctx,
                                     const phalanx::v1::GenerateRequest* req,
                                     phalanx::v1::GenerateResponse* resp) override;
  grpc::ServerWriteReactor<phalanx::v1::GenerateStreamResponse>* GenerateStream(
      grpc::CallbackServerContext* ctx, const phalanx::v1::GenerateRequest* req) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* ctx,
                                     const phalanx::v1::TokenizeRequest* req,
                                     phalanx::v1::TokenizeResponse* resp) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* ctx,
                                         const phalanx::v1::GetModelInfoRequest* req,
                                         phalanx::v1::ModelInfo* resp) override;
  grpc::ServerUnaryReactor* SubmitFeedback(grpc::CallbackServerContext* ctx,
                                           const phalanx::v1::FeedbackRequest* req,
                                           phalanx::v1::FeedbackResponse* resp) override;
  // embed_call.cc.
  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* ctx,
                                  const phalanx::v1::EmbedRequest* req,
                                  phalanx::v1::EmbedResponse* resp) override;

 private:
  Gate& gate_;
  const chat::ChatRenderer* chat_;
};

// The `authorization` metadata value of a call ("" when absent).
std::string Authorization(const grpc::CallbackServerContext* ctx);

}  // namespace phx::server::grpcapi
