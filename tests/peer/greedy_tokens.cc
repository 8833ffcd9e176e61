// Phalanx's side of the family peer tests: loads a GGUF on the CPU backend (f32 KV cache) and
// prints, as JSON, per prompt its token ids (with BOS as the vocabulary says), the greedy tokens
// and each step's top1 - top2 log-probability margin.
//
//   phx_greedy_tokens MODEL CTX N_GEN PROMPT_FILE...
//
// CTX is the serving context (the peer's context size: Phi-3 longrope picks its factors by it).
// Each PROMPT_FILE holds one prompt's text.
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "ops/cpu/cpu_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"

namespace {

class Collect : public phx::engine::TokenSink {
 public:
  void OnTokens(phx::engine::RequestId, const std::vector<phx::engine::TokenEvent>& ev) override {
    for (const auto& e : ev) {
      tokens.push_back(e.token);
      margins.push_back(e.top.size() >= 2 ? e.top[0].logprob - e.top[1].logprob : 0.0);
    }
  }
  void OnFinish(phx::engine::RequestId, phx::engine::FinishReason, const absl::Status& s,
                const phx::engine::Usage&, const phx::engine::Timing&, std::string) override {
    status = s;
  }
  std::vector<int32_t> tokens;
  std::vector<double> margins;
  absl::Status status;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "phx_greedy_tokens: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return Fail("usage: phx_greedy_tokens MODEL CTX N_GEN PROMPT_FILE...");
  const std::string path = argv[1];
  const int32_t ctx = std::atoi(argv[2]), n_gen = std::atoi(argv[3]);
  phx::ops::cpu::CpuBackend backend(1);  // small models: one thread is fastest
  auto model = phx::model::Model::Load(path, backend);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  phx::engine::EngineConfig cfg;
  cfg.kv_dtype = phx::DType::kF32;
  cfg.max_model_len = ctx;
  cfg.max_num_seqs = 1;
  cfg.max_tokens_per_step = 512;
  auto engine = phx::engine::Engine::Create(**model, backend, cfg);
  if (!engine.ok()) return Fail(std::string(engine.status().message()));
  nlohmann::json out = nlohmann::json::array();
  for (int i = 4; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    phx::engine::GenerateRequest req;
    req.prompt = (*model)->tokenizer().Encode(ss.str(), true, false);
    req.sampling.temperature = 0;
    req.sampling.max_tokens = n_gen;
    req.sampling.ignore_eos = true;
    req.sampling.logprobs = 2;
    auto sink = std::make_shared<Collect>();
    auto id = (*engine)->Submit(req, sink);
    if (!id.ok()) return Fail(std::string(id.status().message()));
    if (absl::Status s = (*engine)->RunUntilIdle(); !s.ok()) return Fail(std::string(s.message()));
    if (!sink->status.ok()) return Fail(std::string(sink->status.message()));
    out.push_back({{"prompt_token_ids", req.prompt},
                   {"generated_token_ids", sink->tokens},
                   {"margins", sink->margins}});
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
