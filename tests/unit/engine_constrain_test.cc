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
#include "runtime/engine/mask_worker.h"
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

// Generations per random-schema test: 200 (issue 26); fewer under TSan, which checks the mask
// thread's overlap with the forward pass and needs no more than a few batches for it.
int Generations() {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
  return EnvInt("PHX_CONSTRAIN_GENERATIONS", 32);
#endif
#endif
  return EnvInt("PHX_CONSTRAIN_GENERATIONS", 200);
}

// `n` constrained generations at temperature 1 spread over random schemas: none errs (a dead
// end would end with kError), and every one that ends by stop or eos is JSON that validates.
void RandomSchemasValidate(Loaded& l, int n, int per_schema, uint32_t seed, int max_tokens) {
  grammar::testing::SchemaGen gen(seed);
  std::vector<std::string> schemas;
  std::vector<engine::GenerateRequest> reqs;
  const int32_t bos = l.model->tokenizer().bos();
  // Tokens that close strings, arrays and objects and the end are favoured and blanks disfavoured
  // (logit_bias) so that most generations end within max_tokens; the mask decides what is
  // allowed either way.
  std::vector<std::pair<int32_t, float>> bias;
  const grammar::TokenVocab& v = *l.grammars->vocab();
  for (int32_t t = 0; t < v.size(); ++t) {
    const std::string_view b = v.bytes(t);
    if (b.find_first_of("\"]}") != std::string_view::npos) bias.push_back({t, 3.f});
    // stories260K favours blanks, which JSON allows (64 in a row) between any two tokens.
    if (!b.empty() && b.find_first_not_of(" \n\t\r") == std::string_view::npos) {
      bias.push_back({t, -10.f});
    }
    // The end, where the grammar allows it (a number may otherwise take digits forever).
    if (v.is_eog(t)) bias.push_back({t, 5.f});
  }
  while (static_cast<int>(reqs.size()) < n) {
    const std::string schema = gen.Schema();
    auto g = l.grammars->CompileJsonSchema(schema);
    if (!g.ok() && absl::StrContains(g.status().message(), "no JSON value satisfies")) continue;
    ASSERT_TRUE(g.ok()) << schema << ": " << g.status();
    for (int k = 0; k < per_schema && static_cast<int>(reqs.size()) < n; ++k) {
      engine::GenerateRequest r = Req({bos}, 1.f, max_tokens, *g);
      r.sampling.seed = seed * 1000 + reqs.size();
      r.sampling.logit_bias = bias;
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
  RandomSchemasValidate(l, Generations(), 4, 1234, 192);
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
  RandomSchemasValidate(l, Generations(), 4, 4321, 192);
}

// Greedy, unconstrained: the reference for the tests below.
std::vector<int32_t> FreeGreedy(Loaded& l, int32_t max_tokens) {
  engine::GenerateRequest r = Req({l.model->tokenizer().bos()}, 0.f, max_tokens);
  r.sampling.ignore_eos = true;
  return RunAll(*l.engine, {std::move(r)})[0].tokens;
}

TEST(EngineConstrain, GreedyRegexEndsWhereTheGrammarEnds) {
  Loaded l = Load(kStories);
  // Fixed length: once "ab-" and three digits are out, only the end is allowed, and the request
  // ends (kStop) without sampling an end-of-generation token; ignore_eos does not keep it going.
  auto g = l.grammars->CompileRegex("ab-[0-9]{3}");
  ASSERT_TRUE(g.ok()) << g.status();
  engine::GenerateRequest r = Req({l.model->tokenizer().bos()}, 0.f, 64, *g);
  r.sampling.ignore_eos = true;
  const Collected c = RunAll(*l.engine, {std::move(r)})[0];
  ASSERT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(c.reason, FinishReason::kStop);
  EXPECT_TRUE(std::regex_match(c.text, std::regex("ab-[0-9]{3}"))) << c.text;
  for (int32_t t : c.tokens) EXPECT_FALSE(l.model->tokenizer().IsEog(t));
  // Stop strings still apply to constrained output.
  r = Req({l.model->tokenizer().bos()}, 0.f, 64, *g);
  r.sampling.stop = {"-"};
  const Collected st = RunAll(*l.engine, {std::move(r)})[0];
  EXPECT_EQ(st.reason, FinishReason::kStop);
  EXPECT_EQ(st.text, "ab");
  // Open-ended: ends by an end-of-generation token where the grammar accepts, or by length.
  g = l.grammars->CompileRegex("(once|the|a)( [a-z]+){1,12}[.!]");
  ASSERT_TRUE(g.ok()) << g.status();
  const Collected d = RunAll(*l.engine, {Req({l.model->tokenizer().bos()}, 0.f, 48, *g)})[0];
  ASSERT_TRUE(d.status.ok()) << d.status;
  EXPECT_TRUE(d.reason == FinishReason::kStop || d.reason == FinishReason::kEos)
      << engine::FinishReasonName(d.reason);
  EXPECT_TRUE(std::regex_match(d.text, std::regex("(once|the|a)( [a-z]+){1,12}[.!]"))) << d.text;
}

TEST(EngineConstrain, GreedyGbnf) {
  Loaded l = Load(kStories);
  const char* gbnf =
      "root ::= \"The \" animal \" is \" [0-9] [0-9] \".\"\n"
      "animal ::= \"cat\" | \"dog\" | \"big \" animal\n";
  auto g = l.grammars->CompileGbnf(gbnf);
  ASSERT_TRUE(g.ok()) << g.status();
  const Collected c = RunAll(*l.engine, {Req({l.model->tokenizer().bos()}, 0.f, 64, *g)})[0];
  ASSERT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(c.reason, FinishReason::kStop);
  EXPECT_TRUE(std::regex_match(c.text, std::regex("The (big )*(cat|dog) is [0-9]{2}\\.")))
      << c.text;
  // One mask per constrained token (on the mask worker), and one more where the grammar
  // accepted (the check that ended the request).
  const engine::EngineStats st = l.engine->stats();
  EXPECT_EQ(st.grammar_masks, c.tokens.size() + 1);
  EXPECT_GT(st.grammar_mask_seconds, 0.0);
}

// Runs a lazy grammar "<trigger> = dd;" whose trigger ends with token k of the free greedy text
// (and is first seen there): the tokens up to k are the free ones, the rest follow the grammar.
void ExpectLazy(Loaded& l, const std::vector<int32_t>& free, size_t k, const std::string& trigger) {
  SCOPED_TRACE("trigger '" + trigger + "'");
  auto g = l.grammars->CompileGbnf("root ::= \"" + trigger + "\" \" = \" [0-9] [0-9] \";\"\n");
  ASSERT_TRUE(g.ok()) << g.status();
  engine::GenerateRequest r = Req({l.model->tokenizer().bos()}, 0.f, 64, *g);
  r.constraint.triggers = {"never-seen", trigger};
  const Collected c = RunAll(*l.engine, {std::move(r)})[0];
  ASSERT_TRUE(c.status.ok()) << c.status;
  EXPECT_EQ(c.reason, FinishReason::kStop);
  ASSERT_GT(c.tokens.size(), k + 1);
  EXPECT_EQ(std::vector<int32_t>(c.tokens.begin(), c.tokens.begin() + k + 1),
            std::vector<int32_t>(free.begin(), free.begin() + k + 1));
  const std::string prefix = l.model->tokenizer().Decode(
      std::vector<int32_t>(free.begin(), free.begin() + k + 1), false, true);
  ASSERT_EQ(c.text.substr(0, prefix.size()), prefix) << c.text;
  EXPECT_TRUE(std::regex_match(c.text.substr(prefix.size()), std::regex(" = [0-9]{2};"))) << c.text;
}

TEST(EngineConstrain, LazyGrammarStartsAtTheTrigger) {
  Loaded l = Load(kStories);
  const std::vector<int32_t> free = FreeGreedy(l, 40);
  const grammar::TokenVocab& v = *l.grammars->vocab();
  // Triggers: a word the free text produces as one token (leading space dropped), and the end
  // of one token with the whole next one (a trigger across tokens); each first seen there.
  std::string raw;
  bool one = false, two = false;
  for (size_t k = 0; k < free.size() && !(one && two); ++k) {
    const std::string prev = raw;
    const std::string piece(v.bytes(free[k]));
    raw += piece;
    if (k < 3 || piece.size() < 3) continue;
    if (!one && piece[0] == ' ' && piece.size() >= 4) {
      const std::string trigger = piece.substr(1);
      if (raw.find(trigger) == raw.size() - trigger.size()) {
        ExpectLazy(l, free, k, trigger);
        one = true;
        continue;
      }
    }
    const std::string last(v.bytes(free[k - 1]));
    if (!two && last.size() >= 3 && piece.find_first_of("\"\\") == std::string::npos &&
        last.find_first_of("\"\\") == std::string::npos) {
      const std::string trigger = last.substr(last.size() - 2) + piece;
      if (raw.find(trigger) == raw.size() - trigger.size()) {
        ExpectLazy(l, free, k, trigger);
        two = true;
      }
    }
  }
  EXPECT_TRUE(one && two) << "no trigger in the free text";
  // A trigger whose text does not fit the grammar: generation stays free.
  auto g = l.grammars->CompileGbnf("root ::= \"zzz\"\n");
  ASSERT_TRUE(g.ok()) << g.status();
  engine::GenerateRequest r = Req({l.model->tokenizer().bos()}, 0.f, 40, *g);
  r.sampling.ignore_eos = true;
  r.constraint.triggers = {std::string(v.bytes(free[2]))};
  const Collected c = RunAll(*l.engine, {std::move(r)})[0];
  EXPECT_EQ(c.reason, FinishReason::kLength);
  EXPECT_EQ(c.tokens, free);
}

TEST(EngineConstrain, ADeadEndIsAnErrorNotAHang) {
  // A vocabulary (the model's size) where only "a" has bytes: after "a", the regex "ab" allows
  // nothing (and does not accept), which a grammar for the real vocabulary never does.
  Loaded l = Load(kStories);
  const tok::Tokenizer& tok = l.model->tokenizer();
  std::vector<std::string> pieces(static_cast<size_t>(tok.vocab_size()));
  pieces[100] = "a";
  grammar::GrammarEngine tiny(grammar::TokenVocab::FromPieces(pieces, {tok.eos()}));
  auto g = tiny.CompileRegex("ab");
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<engine::GenerateRequest> reqs;
  reqs.push_back(Req({tok.bos()}, 1.f, 16, *g));
  reqs.push_back(Req({tok.bos()}, 0.f, 4));  // a neighbour in the same batch
  const std::vector<Collected> c = RunAll(*l.engine, std::move(reqs));
  EXPECT_EQ(c[0].reason, FinishReason::kError);
  EXPECT_EQ(c[0].status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(c[0].status.message(), "grammar dead end");
  EXPECT_EQ(c[0].tokens, std::vector<int32_t>{100});
  EXPECT_EQ(c[1].reason, FinishReason::kLength);
  EXPECT_EQ(c[1].tokens.size(), 4u);
}

TEST(EngineSampling, StopTokenIdsEndWithoutTheirText) {
  Loaded l = Load(kStories);
  const std::vector<int32_t> free = FreeGreedy(l, 16);
  size_t k = 3;  // the first token not seen before
  while (k < free.size() && std::find(free.begin(), free.begin() + k, free[k]) != free.begin() + k)
    ++k;
  ASSERT_LT(k, free.size());
  engine::GenerateRequest r = Req({l.model->tokenizer().bos()}, 0.f, 16);
  r.sampling.stop_token_ids = {free[k]};
  const Collected c = RunAll(*l.engine, {std::move(r)})[0];
  EXPECT_EQ(c.reason, FinishReason::kStop);
  EXPECT_EQ(c.tokens, std::vector<int32_t>(free.begin(), free.begin() + k + 1));
  EXPECT_EQ(c.text, l.model->tokenizer().Decode(
                        std::vector<int32_t>(free.begin(), free.begin() + k), false, true));
}

TEST(EngineSampling, LogitBiasAndMinTokens) {
  Loaded l = Load(kStories);
  const tok::Tokenizer& tok = l.model->tokenizer();
  // +100 on end-of-sequence: the first token ends the request ...
  engine::GenerateRequest r = Req({tok.bos()}, 0.f, 16);
  r.sampling.logit_bias = {{tok.eos(), 100.f}};
  Collected c = RunAll(*l.engine, {r})[0];
  EXPECT_EQ(c.reason, FinishReason::kEos);
  EXPECT_EQ(c.tokens, std::vector<int32_t>{tok.eos()});
  // ... unless min_tokens holds it back for 5 tokens.
  r.sampling.min_tokens = 5;
  c = RunAll(*l.engine, {r})[0];
  EXPECT_EQ(c.reason, FinishReason::kEos);
  ASSERT_EQ(c.tokens.size(), 6u);
  EXPECT_EQ(c.tokens.back(), tok.eos());
  EXPECT_FALSE(c.text.empty());
  // The same for a stop token.
  const int32_t stop = FreeGreedy(l, 1)[0] + 1;
  r = Req({tok.bos()}, 0.f, 16);
  r.sampling.logit_bias = {{stop, 100.f}};
  r.sampling.stop_token_ids = {stop};
  r.sampling.min_tokens = 3;
  c = RunAll(*l.engine, {r})[0];
  EXPECT_EQ(c.reason, FinishReason::kStop);
  ASSERT_EQ(c.tokens.size(), 4u);
  EXPECT_EQ(c.tokens.back(), stop);
  for (int i = 0; i < 3; ++i) EXPECT_NE(c.tokens[i], stop);
  // Stop strings do not match text generated before min_tokens.
  const std::vector<int32_t> free = FreeGreedy(l, 8);
  const std::string word(l.grammars->vocab()->bytes(free[1]));
  ASSERT_FALSE(word.empty());
  r = Req({tok.bos()}, 0.f, 8);
  r.sampling.ignore_eos = true;
  r.sampling.stop = {word};
  c = RunAll(*l.engine, {r})[0];
  EXPECT_EQ(c.reason, FinishReason::kStop);
  r.sampling.min_tokens = 8;
  c = RunAll(*l.engine, {r})[0];
  EXPECT_EQ(c.reason, FinishReason::kLength);
  EXPECT_EQ(c.tokens, free);
  // Out-of-vocabulary ids are refused, naming the field.
  r.sampling.logit_bias = {{tok.vocab_size(), 1.f}};
  auto id = l.engine->Submit(r, std::make_shared<testing::CollectSink>());
  ASSERT_FALSE(id.ok());
  EXPECT_TRUE(absl::StrContains(id.status().message(), "logit_bias")) << id.status();
  r.sampling.logit_bias.clear();
  r.sampling.stop_token_ids = {-1};
  id = l.engine->Submit(r, std::make_shared<testing::CollectSink>());
  ASSERT_FALSE(id.ok());
  EXPECT_TRUE(absl::StrContains(id.status().message(), "stop_token_ids")) << id.status();
}

TEST(MaskWorker, RunsEachJobOnceAndWaitSeesItsWrites) {
  { engine::MaskWorker unused; }  // never started: nothing to join
  engine::MaskWorker w;
  w.Wait();  // no job: returns at once
  int64_t x = 0;
  for (int i = 0; i < 2000; ++i) {
    w.Run([&x] { ++x; });
    w.Wait();
    ASSERT_EQ(x, i + 1);
  }
}

}  // namespace
}  // namespace phx
