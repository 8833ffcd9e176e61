// Phalanx's greedy token ids for the peer comparisons: loads a model on the CPU backend (f32 KV
// cache) and prints, per prompt, one line "<prompt ids> | <generated ids> | <margins>"
// (space-separated; a step's margin is log(p1) - log(p2) of its top two tokens).
//   greedy_ids MODEL N PROMPT [PROMPT...]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "server/cli/setup.h"

namespace {

class IdSink : public phx::engine::TokenSink {
 public:
  void OnTokens(phx::engine::RequestId, const std::vector<phx::engine::TokenEvent>& ev) override {
    for (const auto& e : ev) {
      ids.push_back(e.token);
      // log(p1) - log(p2) of the step (top is sorted by probability).
      margins.push_back(e.top.size() >= 2 ? e.top[0].logprob - e.top[1].logprob : 1e9f);
    }
  }
  void OnFinish(phx::engine::RequestId, phx::engine::FinishReason, const absl::Status& s,
                const phx::engine::Usage&, const phx::engine::Timing&, std::string) override {
    status = s;
  }
  std::vector<int32_t> ids;
  std::vector<float> margins;
  absl::Status status;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: greedy_ids MODEL N PROMPT [PROMPT...]\n");
    return 2;
  }
  phx::cli::RuntimeOptions o;
  o.model = argv[1];
  o.device = "cpu";
  o.kv_dtype = "f32";
  o.threads = 2;
  o.max_batch = 1;
  o.quiet = true;
  auto rt = phx::cli::BuildRuntime(o);
  if (!rt.ok()) {
    std::fprintf(stderr, "greedy_ids: %s\n", std::string(rt.status().message()).c_str());
    return 1;
  }
  for (int i = 3; i < argc; ++i) {
    phx::engine::GenerateRequest req;
    req.prompt = rt->model->tokenizer().Encode(argv[i], true, false);
    req.sampling.temperature = 0;
    req.sampling.max_tokens = std::atoi(argv[2]);
    req.sampling.ignore_eos = true;
    req.sampling.logprobs = 2;
    auto sink = std::make_shared<IdSink>();
    if (auto id = rt->engine->Submit(req, sink); !id.ok()) {
      std::fprintf(stderr, "greedy_ids: %s\n", std::string(id.status().message()).c_str());
      return 1;
    }
    const absl::Status s = rt->engine->RunUntilIdle();
    if (!s.ok() || !sink->status.ok()) {
      std::fprintf(stderr, "greedy_ids: %s\n",
                   std::string((s.ok() ? sink->status : s).message()).c_str());
      return 1;
    }
    for (int32_t t : req.prompt) std::printf("%d ", t);
    std::printf("|");
    for (int32_t t : sink->ids) std::printf(" %d", t);
    std::printf(" |");
    for (float m : sink->margins) std::printf(" %.4f", m);
    std::printf("\n");
  }
  return 0;
}
