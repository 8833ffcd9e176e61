// phalanx.v1.Generation client for the load tool: GenerateStream (or Generate) with per-token
// arrival times.
#include <atomic>

#include "bench/load/load.h"
#include "grpcpp/grpcpp.h"
#include "phalanx/v1/generate.grpc.pb.h"

namespace phx::bench {
namespace {

std::string CodeName(grpc::StatusCode c) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int i = static_cast<int>(c);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

class GrpcClient final : public Client {
 public:
  explicit GrpcClient(const std::string& target) {
    // Several connections so one HTTP/2 connection's stream limit is never the bottleneck.
    for (int i = 0; i < 8; ++i) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      args.SetInt("phx.channel_index", i);
      channels_.push_back(
          grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
      stubs_.push_back(phalanx::v1::Generation::NewStub(channels_.back()));
    }
  }

  bool Connect(double timeout_s) override {
    const auto deadline = std::chrono::system_clock::now() +
                          std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
    bool all = true;
    for (auto& ch : channels_) all = ch->WaitForConnected(deadline) && all;
    return all;
  }

  std::vector<double> FloorRoundTrips(int n, const RequestOptions& o) override {
    std::vector<double> out;
    for (int i = 0; i < n; ++i) {
      grpc::ClientContext ctx;
      if (!o.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + o.api_key);
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      phalanx::v1::ModelInfo info;
      const Clock::time_point t = Clock::now();
      if (!stubs_[i % stubs_.size()]->GetModelInfo(&ctx, {}, &info).ok()) return {};
      out.push_back(std::chrono::duration<double>(Clock::now() - t).count());
    }
    return out;
  }

  Sample Send(const Prompt& p, const RequestOptions& o, Clock::time_point t0) override {
    phalanx::v1::GenerateRequest req;
    if (!p.ids.empty()) {
      req.mutable_token_ids()->mutable_ids()->Add(p.ids.begin(), p.ids.end());
    } else {
      req.set_text(p.text);
    }
    req.set_max_tokens(p.max_tokens);
    req.set_ignore_eos(o.ignore_eos);
    req.mutable_sampling()->set_temperature(o.temperature);
    grpc::ClientContext ctx;
    if (!o.api_key.empty()) ctx.AddMetadata("authorization", "Bearer " + o.api_key);
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000)));
    auto& stub = *stubs_[next_++ % stubs_.size()];
    Sample s;
    const Clock::time_point start = Clock::now();
    s.start = std::chrono::duration<double>(start - t0).count();
    auto since = [&](Clock::time_point t) {
      return std::chrono::duration<double>(t - start).count();
    };
    if (!o.stream) {
      phalanx::v1::GenerateResponse resp;
      grpc::Status st = stub.Generate(&ctx, req, &resp);
      s.e2e = since(Clock::now());
      s.ok = st.ok();
      s.code = CodeName(st.error_code());
      s.ttft = s.e2e;
      s.output_tokens = resp.usage().completion_tokens();
      s.prompt_tokens = resp.usage().prompt_tokens();
      s.server_total = resp.timing().total_seconds();
      return s;
    }
    auto reader = stub.GenerateStream(&ctx, req);
    phalanx::v1::GenerateStreamResponse m;
    Clock::time_point prev{};
    bool finished = false;
    while (reader->Read(&m)) {
      const Clock::time_point now = Clock::now();
      for (int i = 0; i < m.tokens_size(); ++i) {
        if (s.output_tokens == 0) {
          s.ttft = since(now);
        } else {
          s.itl.push_back(std::chrono::duration<double>(now - prev).count());
        }
        prev = now;
        ++s.output_tokens;
      }
      if (m.finish_reason() != phalanx::v1::FINISH_REASON_UNSPECIFIED) {
        finished = true;
        s.prompt_tokens = m.usage().prompt_tokens();
        s.server_total = m.timing().total_seconds();
        s.server_ttft = m.timing().time_to_first_token_seconds();
      }
    }
    grpc::Status st = reader->Finish();
    s.e2e = since(Clock::now());
    s.ok = st.ok() && finished;
    s.code = st.ok() ? (finished ? "OK" : "STREAM_BROKEN") : CodeName(st.error_code());
    s.stream_broken = s.output_tokens > 0 && !finished;
    return s;
  }

 private:
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<phalanx::v1::Generation::Stub>> stubs_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Client> MakeGrpcClient(const std::string& target) {
  return std::make_unique<GrpcClient>(target);
}

}  // namespace phx::bench
