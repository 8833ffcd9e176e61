// Phalanx's side of the embeddings peer test: loads a GGUF on the CPU backend and prints, as
// JSON, the engine's pooled embedding (not normalized) of each input, all submitted together so
// they share steps (continuous batching); a causal model gets a small step budget, so its long
// inputs are pooled over several chunks.
//
//   phx_embed_vectors MODEL POOLING INPUTS.json [TEXTS.json]
//
// POOLING: "model" (the file's pooling_type), or none | mean | cls | last as the server's
// --embeddings [--pooling X] chooses ("none": --embeddings alone). INPUTS.json: [[token ids],
// ...]. Output: {"pooling": name, "vectors": [[floats], ...]}, and with TEXTS.json (["text",
// ...]) "tokens": [[token ids], ...], each text as Phalanx tokenizes an embedding input (special
// tokens added: bert's [CLS] ... [SEP]; special-token text stays text).
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "ops/cpu/cpu_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"

namespace {

class Collect : public phx::engine::TokenSink {
 public:
  void OnTokens(phx::engine::RequestId, const std::vector<phx::engine::TokenEvent>&) override {}
  void OnEmbedding(phx::engine::RequestId id, std::vector<float> v) override {
    vectors[id] = std::move(v);
  }
  void OnFinish(phx::engine::RequestId id, phx::engine::FinishReason, const absl::Status& s,
                const phx::engine::Usage&, const phx::engine::Timing&, std::string) override {
    if (!s.ok()) errors[id] = std::string(s.message());
  }
  std::map<phx::engine::RequestId, std::vector<float>> vectors;
  std::map<phx::engine::RequestId, std::string> errors;
};

int Fail(const std::string& what) {
  std::fprintf(stderr, "phx_embed_vectors: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    return Fail("usage: phx_embed_vectors MODEL POOLING INPUTS.json [TEXTS.json]");
  }
  const std::string pooling = argv[2];
  std::ifstream in(argv[3]);
  const nlohmann::json inputs = nlohmann::json::parse(in, nullptr, false);
  if (!inputs.is_array()) return Fail("INPUTS.json must be an array of token-id arrays");
  phx::ops::cpu::CpuBackend backend(1);
  auto model = phx::model::Model::Load(argv[1], backend);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  phx::engine::EngineConfig cfg;
  cfg.max_num_seqs = 4;
  // A causal model's inputs longer than 32 tokens are pooled over chunks; a non-causal one
  // (bert) embeds each input in one step, so its budget holds the longest.
  cfg.max_tokens_per_step = (*model)->config().causal ? 32 : 1024;
  if (pooling != "model") {
    cfg.embeddings = true;
    const std::map<std::string, phx::model::Pooling> names = {{"none", phx::model::Pooling::kNone},
                                                              {"mean", phx::model::Pooling::kMean},
                                                              {"cls", phx::model::Pooling::kCls},
                                                              {"last", phx::model::Pooling::kLast}};
    auto it = names.find(pooling);
    if (it == names.end()) return Fail("POOLING must be model, none, mean, cls or last");
    cfg.pooling = it->second;
  }
  auto engine = phx::engine::Engine::Create(**model, backend, cfg);
  if (!engine.ok()) return Fail(std::string(engine.status().message()));
  auto sink = std::make_shared<Collect>();
  std::vector<phx::engine::RequestId> ids;
  for (const auto& toks : inputs) {
    phx::engine::GenerateRequest r;
    r.embed = true;
    r.prompt = toks.get<std::vector<int32_t>>();
    auto id = (*engine)->Submit(std::move(r), sink);
    if (!id.ok()) return Fail(std::string(id.status().message()));
    ids.push_back(*id);
  }
  if (auto s = (*engine)->RunUntilIdle(); !s.ok()) return Fail(std::string(s.message()));
  nlohmann::json out = {{"pooling", phx::model::PoolingName((*engine)->embedding_pooling())},
                        {"vectors", nlohmann::json::array()}};
  for (auto id : ids) {
    if (sink->errors.count(id)) return Fail(sink->errors[id]);
    if (!sink->vectors.count(id)) return Fail("an input ended without a vector");
    out["vectors"].push_back(sink->vectors[id]);
  }
  if (argc == 5) {
    std::ifstream tin(argv[4]);
    const nlohmann::json texts = nlohmann::json::parse(tin, nullptr, false);
    if (!texts.is_array()) return Fail("TEXTS.json must be an array of strings");
    out["tokens"] = nlohmann::json::array();
    for (const auto& text : texts) {
      if (!text.is_string()) return Fail("TEXTS.json must be an array of strings");
      out["tokens"].push_back((*model)->tokenizer().Encode(text.get<std::string>(),
                                                           /*add_special=*/true,
                                                           /*parse_special=*/false));
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
