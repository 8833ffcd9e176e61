// `phalanx client`: a gRPC client for the Generation service. Generated text goes to stdout,
// everything else to stderr.
#include <cstdio>

#include "grpcpp/grpcpp.h"
#include "phalanx/v1/generate.grpc.pb.h"
#include "server/cli/commands.h"

namespace phx::cli {
namespace {

phalanx::v1::GenerateRequest MakeRequest(const ClientOptions& o) {
  phalanx::v1::GenerateRequest r;
  r.set_text(o.prompt);
  auto* s = r.mutable_sampling();
  const auto& p = o.sampling;
  s->set_temperature(p.temperature);
  s->set_top_k(p.top_k);
  s->set_top_p(p.top_p);
  s->set_min_p(p.min_p);
  s->set_repetition_penalty(p.repetition_penalty);
  s->set_presence_penalty(p.presence_penalty);
  s->set_frequency_penalty(p.frequency_penalty);
  if (p.seed) s->set_seed(*p.seed);
  r.set_max_tokens(p.max_tokens);
  for (const auto& st : p.stop) r.add_stop(st);
  r.set_ignore_eos(p.ignore_eos);
  r.set_echo(o.echo);
  if (!o.request_id.empty()) r.set_request_id(o.request_id);
  return r;
}

int Fail(const grpc::Status& s) {
  std::fprintf(stderr, "error: %d %s\n", static_cast<int>(s.error_code()),
               s.error_message().c_str());
  return 1;
}

}  // namespace

int Client(const ClientOptions& o) {
  auto channel = grpc::CreateChannel(o.target, grpc::InsecureChannelCredentials());
  auto stub = phalanx::v1::Generation::NewStub(channel);
  grpc::ClientContext ctx;
  if (!o.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + o.api_key);
  if (o.timeout_s > 0) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000)));
  }
  if (o.mode == "generate") {
    phalanx::v1::GenerateResponse resp;
    grpc::Status s = stub->Generate(&ctx, MakeRequest(o), &resp);
    if (!s.ok()) return Fail(s);
    std::printf("%s%s\n", resp.prompt_text().c_str(), resp.text().c_str());
    std::fprintf(
        stderr, "[%s] %s prompt %d, completion %d, cached %d tokens; ttft %.1f ms\n",
        resp.request_id().c_str(), phalanx::v1::FinishReason_Name(resp.finish_reason()).c_str(),
        resp.usage().prompt_tokens(), resp.usage().completion_tokens(),
        resp.usage().cached_prompt_tokens(), resp.timing().time_to_first_token_seconds() * 1e3);
    return 0;
  }
  if (o.mode == "stream") {
    auto reader = stub->GenerateStream(&ctx, MakeRequest(o));
    phalanx::v1::GenerateStreamResponse m;
    phalanx::v1::GenerateStreamResponse last;
    while (reader->Read(&m)) {
      std::fputs(m.prompt_text().c_str(), stdout);
      std::fputs(m.text().c_str(), stdout);
      std::fflush(stdout);
      if (m.finish_reason() != phalanx::v1::FINISH_REASON_UNSPECIFIED) last = m;
    }
    grpc::Status s = reader->Finish();
    std::fputc('\n', stdout);
    if (!s.ok()) return Fail(s);
    std::fprintf(stderr, "[%s] %s prompt %d, completion %d tokens\n", last.request_id().c_str(),
                 phalanx::v1::FinishReason_Name(last.finish_reason()).c_str(),
                 last.usage().prompt_tokens(), last.usage().completion_tokens());
    return 0;
  }
  if (o.mode == "tokenize") {
    phalanx::v1::TokenizeRequest req;
    req.set_text(o.prompt);
    phalanx::v1::TokenizeResponse resp;
    grpc::Status s = stub->Tokenize(&ctx, req, &resp);
    if (!s.ok()) return Fail(s);
    for (int i = 0; i < resp.ids_size(); ++i) std::printf(i ? " %d" : "%d", resp.ids(i));
    std::printf("\n");
    return 0;
  }
  if (o.mode == "info") {
    phalanx::v1::ModelInfo resp;
    grpc::Status s = stub->GetModelInfo(&ctx, phalanx::v1::GetModelInfoRequest(), &resp);
    if (!s.ok()) return Fail(s);
    std::printf("%s\n", resp.DebugString().c_str());
    return 0;
  }
  std::fprintf(stderr, "error: unknown client command %s\n", o.mode.c_str());
  return 2;
}

}  // namespace phx::cli
