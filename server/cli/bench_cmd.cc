// `phalanx bench`: prefill and decode throughput of the engine on synthetic prompts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "nlohmann/json.hpp"
#include "ops/cpu/cpu_backend.h"
#include "server/cli/commands.h"
#include "server/cli/setup.h"

namespace phx::cli {
namespace {

// Records first-token and finish times per request.
class TimingSink : public engine::TokenSink {
 public:
  void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>&) override {}
  void OnFinish(engine::RequestId, engine::FinishReason, const absl::Status& s,
                const engine::Usage& u, const engine::Timing& t, std::string) override {
    if (!s.ok()) status = s;
    timings.push_back(t);
    usages.push_back(u);
  }
  absl::Status status;
  std::vector<engine::Timing> timings;
  std::vector<engine::Usage> usages;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int Bench(const BenchOptions& o) {
  RuntimeOptions ro = o.runtime;
  ro.max_batch = std::max(ro.max_batch, o.batch);
  ro.max_tokens_per_step = std::max(ro.max_tokens_per_step, o.prompt_tokens * o.batch);
  ro.prefix_cache = false;  // every run must compute its prompt
  auto rt = BuildRuntime(ro);
  if (!rt.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(rt.status().message()).c_str());
    return 1;
  }
  const int32_t vocab = rt->model->tokenizer().vocab_size();
  std::vector<double> prefill, decode;
  for (int run = -1; run < o.runs; ++run) {  // run -1 warms up
    std::mt19937 rng(static_cast<uint32_t>(run + 2));
    auto sink = std::make_shared<TimingSink>();
    for (int b = 0; b < o.batch; ++b) {
      engine::GenerateRequest req;
      req.prompt.push_back(rt->model->tokenizer().bos() >= 0 ? rt->model->tokenizer().bos() : 0);
      while (static_cast<int>(req.prompt.size()) < o.prompt_tokens) {
        req.prompt.push_back(static_cast<int32_t>(rng() % vocab));
      }
      req.sampling.temperature = 0;
      req.sampling.ignore_eos = true;
      req.sampling.max_tokens = o.gen_tokens;
      auto id = rt->engine->Submit(req, sink);
      if (!id.ok()) {
        std::fprintf(stderr, "error: %s\n", std::string(id.status().message()).c_str());
        return 1;
      }
    }
    const auto t0 = engine::Clock::now();
    absl::Status s = rt->engine->RunUntilIdle();
    if (!s.ok() || !sink->status.ok()) {
      std::fprintf(stderr, "error: %s\n",
                   std::string((s.ok() ? sink->status : s).message()).c_str());
      return 1;
    }
    // Prefill: all prompts' tokens until the last first token; decode: the remaining tokens.
    engine::Clock::time_point first = t0, last = t0;
    for (const auto& t : sink->timings) {
      first = std::max(first, t.first_token);
      last = std::max(last, t.finished);
    }
    const double pf = std::chrono::duration<double>(first - t0).count();
    const double dc = std::chrono::duration<double>(last - first).count();
    if (run >= 0) {
      prefill.push_back(o.batch * o.prompt_tokens / pf);
      decode.push_back(o.batch * (o.gen_tokens - 1) / dc);
    }
  }
  const double p = Median(prefill), d = Median(decode);
  if (o.json) {
    nlohmann::json j = {{"model", o.runtime.model},
                        {"threads", ro.threads},
                        {"batch", o.batch},
                        {"prompt_tokens", o.prompt_tokens},
                        {"gen_tokens", o.gen_tokens},
                        {"runs", o.runs},
                        {"prefill_tokens_per_s", p},
                        {"decode_tokens_per_s", d},
                        {"prefill_runs", prefill},
                        {"decode_runs", decode},
                        {"backend", std::string(rt->backend->name())}};
    if (auto* cpu = dynamic_cast<ops::cpu::CpuBackend*>(rt->backend.get())) {
      j["kernels"] = cpu->KernelSummary();
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf(
        "model %s threads %d batch %d: prefill %d tokens %.1f tokens/s, decode %d tokens "
        "%.1f tokens/s (median of %d)\n",
        o.runtime.model.c_str(), ro.threads, o.batch, o.prompt_tokens, p, o.gen_tokens, d, o.runs);
  }
  return 0;
}

}  // namespace phx::cli
