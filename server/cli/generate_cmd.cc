// `phalanx generate`: streams a completion of one prompt to stdout.
#include <cstdio>
#include <mutex>

#include "server/cli/commands.h"
#include "server/cli/setup.h"

namespace phx::cli {
namespace {

class StdoutSink : public engine::TokenSink {
 public:
  void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) override {
    for (const auto& e : events) {
      std::fwrite(e.text.data(), 1, e.text.size(), stdout);
      ++tokens;
    }
    std::fflush(stdout);
  }
  void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                const engine::Usage& u, const engine::Timing& t, std::string tail) override {
    std::fwrite(tail.data(), 1, tail.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    reason = r;
    status = s;
    usage = u;
    timing = t;
  }
  int tokens = 0;
  engine::FinishReason reason = engine::FinishReason::kNone;
  absl::Status status;
  engine::Usage usage;
  engine::Timing timing;
};

}  // namespace

int Generate(const GenerateOptions& o) {
  auto rt = BuildRuntime(o.runtime);
  if (!rt.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(rt.status().message()).c_str());
    return 1;
  }
  engine::GenerateRequest req;
  req.prompt = rt->model->tokenizer().Encode(o.prompt, true, o.parse_special);
  req.sampling = o.sampling;
  auto sink = std::make_shared<StdoutSink>();
  auto id = rt->engine->Submit(req, sink);
  if (!id.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(id.status().message()).c_str());
    return 2;
  }
  if (o.echo) std::fputs(o.prompt.c_str(), stdout);
  absl::Status s = rt->engine->RunUntilIdle();
  if (!s.ok() || !sink->status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string((s.ok() ? sink->status : s).message()).c_str());
    return 1;
  }
  const double gen_secs = sink->timing.total_seconds() - sink->timing.ttft_seconds();
  std::fprintf(stderr,
               "[%s] prompt %d tokens, %d generated; time to first token %.1f ms, %.1f "
               "tokens/s after it\n",
               engine::FinishReasonName(sink->reason), sink->usage.prompt_tokens,
               sink->usage.completion_tokens, sink->timing.ttft_seconds() * 1e3,
               gen_secs > 0 ? (sink->usage.completion_tokens - 1) / gen_secs : 0.0);
  return 0;
}

}  // namespace phx::cli
