// Constrained decoding through the engine (runtime/engine + runtime/grammar + runtime/sampler):
// random JSON schemas at temperature 1 on stories260K and on a random-weight model (every
// answer that ends by stop/eos parses and validates: python3-jsonschema), greedy regex and GBNF
// grammars, a lazy grammar that starts at a trigger, the grammar dead-end guard, and the
// sampling fields the engine handles (stop_token_ids, min_tokens, logit_bias).
#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "ops/cpu/cpu_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/grammar/engine.h"
#include "runtime/grammar/json_value.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "tests/support/collect_sink.h"
#include "tests/unit/grammar_schema_gen.h"

namespace phx {
namespace {

using engine::FinishReason;
using testing::Collected;

const std::string kShared = PHX_SHARED_DIR;
const std::string kStories = kShared + "/models/stories260K.gguf";

struct Loaded {
  std::unique_ptr<ops::cpu::CpuBackend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<grammar::GrammarEngine> grammars;
};

Loaded Load(const std::string& path, int32_t max_num_seqs = 16) {
  Loaded l;
  l.backend = std::make_unique<ops::cpu::CpuBackend>(2);
  auto m = model::Model::Load(path, *l.backend);
  EXPECT_TRUE(m.ok()) << m.status();
  l.model = std::move(*m);
  engine::EngineConfig cfg;
  cfg.max_num_seqs = max_num_seqs;
  cfg.max_tokens_per_step = 256;
  cfg.kv_cache_bytes = int64_t{64} << 20;
  auto e = engine::Engine::Create(*l.model, *l.backend, cfg);
  EXPECT_TRUE(e.ok()) << e.status();
  l.engine = std::move(*e);
  l.grammars = grammar::GrammarEngine::FromTokenizer(l.model->tokenizer());
  return l;
}

std::vector<Collected> RunAll(engine::Engine& e, std::vector<engine::GenerateRequest> reqs) {
  auto sink = std::make_shared<testing::CollectSink>();
  std::vector<engine::RequestId> ids;
  for (auto& r : reqs) {
    auto id = e.Submit(std::move(r), sink);
    EXPECT_TRUE(id.ok()) << id.status();
    if (id.ok()) ids.push_back(*id);
  }
  EXPECT_TRUE(e.RunUntilIdle().ok());
  std::vector<Collected> out;
  for (auto id : ids) out.push_back(sink->Get(id));
  return out;
}

engine::GenerateRequest Req(std::vector<int32_t> prompt, float temperature, int32_t max_tokens,
                            grammar::GrammarEngine::Compiled g = nullptr) {
  engine::GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = temperature;
  r.sampling.max_tokens = max_tokens;
  r.constraint.grammar = std::move(g);
  return r;
}

// Validates JSON lines {"schema", "text"} with python3-jsonschema; returns its output.
std::string Validate(const std::string& lines, int* rc) {
  char path[] = "/tmp/phx_engine_constrainXXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  close(fd);
  std::ofstream(path) << lines;
  const std::string cmd = std::string("/usr/bin/python3 ") + PHX_SOURCE_DIR +
                          "/tests/unit/grammar_validate.py " + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  if (p == nullptr) return "popen failed";
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  *rc = pclose(p);
  unlink(path);
  return out;
}

int EnvInt(const char* name, int def) {
  const char* v = getenv(name);
  return v ? atoi(v) : def;
}

// `n` constrained generations at temperature 1 spread over random schemas: none errs (a dead
// end would end with kError), and every one that ends by stop or eos is JSON that validates.
void RandomSchemasValidate(Loaded& l, int n, int per_schema, uint32_t seed, int max_tokens) {
  grammar::testing::SchemaGen gen(seed);
  std::vector<std::string> schemas;
  std::vector<engine::GenerateRequest> reqs;
  const int32_t bos = l.model->tokenizer().bos();
  while (static_cast<int>(reqs.size()) < n) {
    const std::string schema = gen.Schema();
    auto g = l.grammars->CompileJsonSchema(schema);
    if (!g.ok() && absl::StrContains(g.status().message(), "no JSON value satisfies")) continue;
    ASSERT_TRUE(g.ok()) << schema << ": " << g.status();
    for (int k = 0; k < per_schema && static_cast<int>(reqs.size()) < n; ++k) {
      engine::GenerateRequest r = Req({bos}, 1.f, max_tokens, *g);
      r.sampling.seed = seed * 1000 + reqs.size();
      schemas.push_back(schema);
      reqs.push_back(std::move(r));
    }
  }
  const std::vector<Collected> got = RunAll(*l.engine, std::move(reqs));
  ASSERT_EQ(got.size(), schemas.size());
  std::ostringstream cases;
  int ended = 0, length = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const Collected& c = got[i];
    ASSERT_TRUE(c.finished);
    ASSERT_TRUE(c.status.ok()) << schemas[i] << ": " << c.status;
    if (c.reason == FinishReason::kLength) {
      ++length;
      continue;
    }
    ASSERT_TRUE(c.reason == FinishReason::kStop || c.reason == FinishReason::kEos)
        << engine::FinishReasonName(c.reason);
    ++ended;
    std::string quoted;
    grammar::AppendPyJsonString(c.text, &quoted);
    cases << "{\"schema\": " << schemas[i] << ", \"text\": " << quoted << "}\n";
  }
  std::cout << ended << " of " << got.size() << " generations ended (" << length << " by length)\n";
  EXPECT_GE(ended * 2, static_cast<int>(got.size()));  // most end within max_tokens
  int rc = -1;
  const std::string out = Validate(cases.str(), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("validated " + std::to_string(ended)), std::string::npos) << out;
}

TEST(EngineConstrain, RandomSchemasStories260K) {
  Loaded l = Load(kStories, 32);
  RandomSchemasValidate(l, EnvInt("PHX_CONSTRAIN_GENERATIONS", 200), 4, 1234, 256);
}

TEST(EngineConstrain, RandomSchemasRandomWeightModel) {
  const auto dir = std::filesystem::temp_directory_path() / "phx_engine_constrain";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "synth_llama_spm.gguf").string();
  model::SynthOptions o;
  o.vocab_from = kShared + "/vocab/ggml-vocab-llama-spm.gguf";
  o.n_layer = 1;
  o.n_embd = 64;
  o.n_ff = 128;
  o.n_head = 2;
  o.n_head_kv = 1;
  o.context_length = 512;
  o.dtype = DType::kF32;
  o.seed = 26;
  ASSERT_TRUE(model::SynthesizeModel(o, path).ok());
  Loaded l = Load(path, 32);
  RandomSchemasValidate(l, EnvInt("PHX_CONSTRAIN_GENERATIONS", 200), 4, 4321, 256);
}

}  // namespace
}  // namespace phx
