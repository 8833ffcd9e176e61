// Embedding requests in the engine's continuous batching, driven by Step() on the test thread:
// each pooling against the float64 reference (inputs longer than a step are chunked), batch
// invariance next to other embeddings and generation, cancellation, and the errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ops/cpu/cpu_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/synth.h"
#include "tests/support/collect_sink.h"
#include "tests/support/reference_encoder.h"
#include "tests/support/reference_model.h"
#include "tests/support/tiny_synth.h"

namespace phx {
namespace {

using ::testing::HasSubstr;

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

class EmbedSink : public testing::CollectSink {
 public:
  void OnEmbedding(engine::RequestId id, std::vector<float> v) override {
    std::lock_guard<std::mutex> l(mu_);
    vectors_[id].push_back(std::move(v));
  }
  std::vector<std::vector<float>> Vectors(engine::RequestId id) {
    std::lock_guard<std::mutex> l(mu_);
    return vectors_[id];
  }

 private:
  std::mutex mu_;
  std::map<engine::RequestId, std::vector<std::vector<float>>> vectors_;
};

std::string Synth(const std::string& name, const char* arch, const std::string& pooling = "") {
  model::SynthOptions o =
      testing::TinySynth(arch, kStories, 128, {.n_layer = 2, .n_embd = 128, .n_head = 4});
  o.seed = 5;
  o.pooling = pooling;
  const auto dir = std::filesystem::temp_directory_path() / "phx_embed_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  EXPECT_TRUE(model::SynthesizeModel(o, path).ok());
  return path;
}

struct Loaded {
  std::unique_ptr<ops::cpu::CpuBackend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
};

Loaded Load(const std::string& path, engine::EngineConfig cfg) {
  Loaded l;
  l.backend = std::make_unique<ops::cpu::CpuBackend>(2);
  auto m = model::Model::Load(path, *l.backend);
  EXPECT_TRUE(m.ok()) << m.status();
  l.model = std::move(*m);
  auto e = engine::Engine::Create(*l.model, *l.backend, cfg);
  EXPECT_TRUE(e.ok()) << e.status();
  if (e.ok()) l.engine = std::move(*e);
  return l;
}

engine::EngineConfig Cfg(int32_t step_tokens, bool embeddings,
                         model::Pooling pooling = model::Pooling::kNone) {
  engine::EngineConfig c;
  c.kv_dtype = DType::kF32;
  c.max_tokens_per_step = step_tokens;
  c.max_num_seqs = 8;
  c.embeddings = embeddings;
  c.pooling = pooling;
  return c;
}

engine::GenerateRequest Embed(std::vector<int32_t> input) {
  engine::GenerateRequest r;
  r.prompt = std::move(input);
  r.embed = true;
  return r;
}

std::vector<int32_t> Input(int n, int salt) {
  std::vector<int32_t> v = {1};
  for (int j = 1; j < n; ++j) v.push_back(3 + (salt * 131 + j * 17) % 500);
  return v;
}

std::vector<double> Pool(const std::vector<std::vector<double>>& h, model::Pooling p) {
  if (p == model::Pooling::kCls) return h.front();
  if (p == model::Pooling::kLast) return h.back();
  std::vector<double> m(h[0].size(), 0.0);
  for (const auto& r : h) {
    for (size_t j = 0; j < r.size(); ++j) m[j] += r[j] / static_cast<double>(h.size());
  }
  return m;
}

// Each pooling, chosen by metadata or by EngineConfig (--embeddings / --pooling), against the
// float64 reference's hidden states, element by element; inputs of 1 to 40 tokens with a
// 16-token step budget, so the long ones are pooled over 2-3 chunks.
TEST(EngineEmbed, PoolingMatchesFloat64Reference) {
  struct Case {
    const char* name;
    const char* arch;
    std::string meta;  // pooling_type written into the file
    engine::EngineConfig cfg;
    model::Pooling want;
  };
  const Case cases[] = {
      {"llama --embeddings (last)", "llama", "", Cfg(16, true), model::Pooling::kLast},
      {"llama --pooling mean", "llama", "", Cfg(16, true, model::Pooling::kMean),
       model::Pooling::kMean},
      {"qwen3 --pooling cls", "qwen3", "", Cfg(16, true, model::Pooling::kCls),
       model::Pooling::kCls},
      {"qwen3 metadata mean", "qwen3", "mean", Cfg(16, false), model::Pooling::kMean},
      {"llama metadata last", "llama", "last", Cfg(16, false), model::Pooling::kLast},
      {"metadata cls, --pooling mean overrides", "llama", "cls",
       Cfg(16, false, model::Pooling::kMean), model::Pooling::kMean},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = Synth(
        std::string(c.arch) + "_" + (c.meta.empty() ? "none" : c.meta) + ".gguf", c.arch, c.meta);
    Loaded l = Load(path, c.cfg);
    ASSERT_NE(l.engine, nullptr);
    EXPECT_EQ(l.engine->embedding_pooling(), c.want);
    auto file = gguf::File::Open(path);
    ASSERT_TRUE(file.ok());
    testing::ReferenceModel ref(**file, l.model->config());
    auto sink = std::make_shared<EmbedSink>();
    std::vector<std::vector<int32_t>> inputs;
    std::vector<engine::RequestId> ids;
    for (int n : {1, 5, 16, 17, 40}) {
      inputs.push_back(Input(n, n));
      auto id = l.engine->Submit(Embed(inputs.back()), sink);
      ASSERT_TRUE(id.ok()) << id.status();
      ids.push_back(*id);
    }
    ASSERT_TRUE(l.engine->RunUntilIdle().ok());
    double worst = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      const auto got = sink->Vectors(ids[i]);
      const auto done = sink->Get(ids[i]);
      ASSERT_TRUE(done.finished);
      EXPECT_EQ(done.reason, engine::FinishReason::kStop);
      EXPECT_TRUE(done.tokens.empty());  // nothing sampled
      EXPECT_EQ(done.usage.prompt_tokens, static_cast<int32_t>(inputs[i].size()));
      ASSERT_EQ(got.size(), 1u);
      const std::vector<double> want = Pool(ref.Hidden(inputs[i]), c.want);
      ASSERT_EQ(got[0].size(), want.size());
      for (size_t j = 0; j < want.size(); ++j) {
        // Output-normed rows have RMS ~1: absolute, f32 accumulation over K <= 256.
        const double err = std::fabs(got[0][j] - want[j]);
        worst = std::max(worst, err);
        ASSERT_LE(err, 1e-4) << "input " << i << " dim " << j;
      }
    }
    const engine::EngineStats st = l.engine->stats();
    EXPECT_EQ(st.embeddings, ids.size());
    EXPECT_EQ(st.embedding_tokens, 1u + 5 + 16 + 17 + 40);
    EXPECT_EQ(st.prompt_tokens, 0u);  // counted apart from generation
    EXPECT_EQ(st.blocks_used, 0);     // every block freed at once
    std::printf("%-40s max error %.3g\n", c.name, worst);
  }
}

// An input's vector does not depend on its batch neighbours: embedded alone and embedded in
// steps shared with other embeddings and with generation (prefill chunks and decodes) gives the
// same vector. Each row's matmuls, norms and activations are computed per row and attention
// reads only the sequence's own cache; what may change with the batch is how the CPU matmul
// kernels block rows, i.e. only the order of f32 sums over K <= 256. Bound: 1e-5 absolute on
// components of magnitude ~1 (a few ulps of f32 summation noise times the depth of 2 layers);
// the generation next to them must keep its tokens exactly.
TEST(EngineEmbed, BatchInvariance) {
  const std::string path = Synth("inv_mean.gguf", "llama");
  Loaded l = Load(path, Cfg(24, true, model::Pooling::kMean));
  ASSERT_NE(l.engine, nullptr);
  auto run = [&](const std::vector<std::vector<int32_t>>& embeds, bool with_generation) {
    auto sink = std::make_shared<EmbedSink>();
    std::vector<engine::RequestId> ids, gen;
    if (with_generation) {
      for (int i = 0; i < 3; ++i) {
        engine::GenerateRequest g;
        g.prompt = Input(9 + 11 * i, 50 + i);
        g.sampling.temperature = 0;
        g.sampling.max_tokens = 12;
        g.sampling.ignore_eos = true;
        gen.push_back(*l.engine->Submit(g, sink));
      }
    }
    for (const auto& e : embeds) ids.push_back(*l.engine->Submit(Embed(e), sink));
    EXPECT_TRUE(l.engine->RunUntilIdle().ok());
    std::vector<std::vector<float>> out;
    for (auto id : ids) {
      auto v = sink->Vectors(id);
      EXPECT_EQ(v.size(), 1u);
      out.push_back(v.empty() ? std::vector<float>() : v[0]);
    }
    std::vector<std::vector<int32_t>> tokens;
    for (auto id : gen) tokens.push_back(sink->Get(id).tokens);
    return std::pair(out, tokens);
  };
  std::vector<std::vector<int32_t>> inputs;
  for (int i = 0; i < 6; ++i) inputs.push_back(Input(3 + 9 * i, i));
  const auto [together, gen_with] = run(inputs, true);
  const auto [no_embeds, gen_alone] = run({}, true);
  EXPECT_EQ(gen_with, gen_alone);
  double worst = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto [alone, unused] = run({inputs[i]}, false);
    ASSERT_EQ(alone[0].size(), together[i].size());
    for (size_t j = 0; j < alone[0].size(); ++j) {
      const double d = std::fabs(alone[0][j] - together[i][j]);
      worst = std::max(worst, d);
      ASSERT_LE(d, 1e-5) << "input " << i << " dim " << j;
    }
  }
  std::printf("max difference alone vs batched: %.3g\n", worst);
}

// A cancelled embedding mid-input (chunked) ends kCancelled with no vector, its blocks freed;
// the one next to it is unaffected.
TEST(EngineEmbed, Cancellation) {
  const std::string path = Synth("cancel.gguf", "llama");
  Loaded l = Load(path, Cfg(8, true, model::Pooling::kMean));
  ASSERT_NE(l.engine, nullptr);
  auto sink = std::make_shared<EmbedSink>();
  auto a = l.engine->Submit(Embed(Input(60, 1)), sink);
  auto b = l.engine->Submit(Embed(Input(20, 2)), sink);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(l.engine->Step().ok());
  ASSERT_TRUE(l.engine->Step().ok());
  EXPECT_FALSE(sink->Get(*a).finished);
  EXPECT_GT(l.engine->stats().blocks_used, 0);
  l.engine->Cancel(*a);
  ASSERT_TRUE(l.engine->RunUntilIdle().ok());
  EXPECT_EQ(sink->Get(*a).reason, engine::FinishReason::kCancelled);
  EXPECT_TRUE(sink->Vectors(*a).empty());
  EXPECT_EQ(sink->Get(*b).reason, engine::FinishReason::kStop);
  EXPECT_EQ(sink->Vectors(*b).size(), 1u);
  EXPECT_EQ(l.engine->stats().blocks_used, 0);
}

TEST(EngineEmbed, Errors) {
  const std::string plain = Synth("plain.gguf", "llama");
  {  // a model without pooling, served without --embeddings
    Loaded l = Load(plain, Cfg(16, false));
    ASSERT_NE(l.engine, nullptr);
    EXPECT_EQ(l.engine->embedding_pooling(), model::Pooling::kNone);
    auto s = l.engine->Submit(Embed({1, 2, 3}), std::make_shared<EmbedSink>());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.status().message(), HasSubstr("--embeddings"));
    EXPECT_THAT(s.status().message(), HasSubstr("llama.pooling_type"));
  }
  {  // --pooling alone on such a model
    ops::cpu::CpuBackend b(1);
    auto m = model::Model::Load(plain, b);
    ASSERT_TRUE(m.ok());
    auto e = engine::Engine::Create(**m, b, Cfg(16, false, model::Pooling::kMean));
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.status().message(), HasSubstr("--pooling mean needs --embeddings"));
  }
  Loaded l = Load(plain, Cfg(16, true));
  ASSERT_NE(l.engine, nullptr);
  auto sink = std::make_shared<EmbedSink>();
  auto empty = l.engine->Submit(Embed({}), sink);
  EXPECT_THAT(empty.status().message(), HasSubstr("input must not be empty"));
  auto vocab = l.engine->Submit(Embed({1, 100000}), sink);
  EXPECT_EQ(vocab.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(vocab.status().message(), HasSubstr("input token id 100000"));
  // The whole context is allowed (nothing is generated after it); one more is not.
  EXPECT_EQ(l.engine->max_embedding_tokens(), 128);
  EXPECT_TRUE(l.engine->Submit(Embed(Input(128, 3)), sink).ok());
  auto longer = l.engine->Submit(Embed(Input(129, 3)), sink);
  EXPECT_EQ(longer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(longer.status().message(),
              HasSubstr("input has 129 tokens; the longest embedding input is 128"));
  ASSERT_TRUE(l.engine->RunUntilIdle().ok());
}

// A bert encoder in the engine: its pooling (cls and mean, from the file) against the float64
// reference encoder for inputs of several lengths batched together; an input must fit one step
// (bidirectional attention needs every token at once), so a longer one is refused; generation is
// refused at Submit, and an encoder without a pooling type needs --pooling.
TEST(EngineEmbed, BertEncoder) {
  for (const char* pooling : {"cls", "mean"}) {
    SCOPED_TRACE(pooling);
    model::SynthOptions o;
    o.arch = "bert";
    o.vocab_from = std::string(PHX_SHARED_DIR) + "/vocab/ggml-vocab-bert-bge.gguf";
    o.n_layer = 2;
    o.n_embd = 64;
    o.n_ff = 128;
    o.n_head = 4;
    o.n_head_kv = 4;
    o.dtype = DType::kF32;
    o.context_length = 64;
    o.seed = 9;
    o.pooling = pooling;
    const auto dir = std::filesystem::temp_directory_path() / "phx_embed_test";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / (std::string("bert_") + pooling + ".gguf")).string();
    ASSERT_TRUE(model::SynthesizeModel(o, path).ok());
    Loaded l = Load(path, Cfg(32, false));
    ASSERT_NE(l.engine, nullptr);
    const model::Pooling p =
        std::string(pooling) == "cls" ? model::Pooling::kCls : model::Pooling::kMean;
    EXPECT_EQ(l.engine->embedding_pooling(), p);
    auto gen = l.engine->Submit(engine::GenerateRequest{.prompt = {101, 2000, 102}},
                                std::make_shared<EmbedSink>());
    EXPECT_EQ(gen.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(gen.status().message(), HasSubstr("embedding model"));
    auto file = gguf::File::Open(path);
    ASSERT_TRUE(file.ok());
    testing::ReferenceEncoder ref(**file, l.model->config());
    const tok::Tokenizer& tok = l.model->tokenizer();
    const std::vector<std::vector<int32_t>> inputs = {
        tok.Encode("hello", true, false),
        tok.Encode("a longer input of about twenty tokens, which runs whole in one step next to "
                   "the others",
                   true, false),
        tok.Encode("the quick brown fox", true, false)};
    auto sink = std::make_shared<EmbedSink>();
    std::vector<engine::RequestId> ids;
    for (const auto& in : inputs) {
      auto id = l.engine->Submit(Embed(in), sink);
      ASSERT_TRUE(id.ok()) << id.status();
      ids.push_back(*id);
    }
    auto too_long = l.engine->Submit(Embed(std::vector<int32_t>(33, 2000)), sink);
    EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(too_long.status().message(), HasSubstr("non-causal"));
    ASSERT_TRUE(l.engine->RunUntilIdle().ok());
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto got = sink->Vectors(ids[i]);
      ASSERT_EQ(got.size(), 1u) << "input " << i;
      const std::vector<double> want = Pool(ref.Hidden(inputs[i]), p);
      ASSERT_EQ(got[0].size(), want.size());
      for (size_t j = 0; j < want.size(); ++j) {
        ASSERT_NEAR(got[0][j], want[j], 2e-5)
            << "input " << i << " (" << inputs[i].size() << " tokens) dim " << j;
      }
    }
  }
  {  // no pooling_type in the file: the engine needs --pooling
    model::SynthOptions o;
    o.arch = "bert";
    o.vocab_from = std::string(PHX_SHARED_DIR) + "/vocab/ggml-vocab-bert-bge.gguf";
    o.n_layer = 1;
    o.n_embd = 64;
    o.n_ff = 128;
    o.n_head = 2;
    o.n_head_kv = 2;
    o.context_length = 32;
    const std::string path =
        (std::filesystem::temp_directory_path() / "phx_embed_test" / "bert_nopool.gguf").string();
    ASSERT_TRUE(model::SynthesizeModel(o, path).ok());
    ops::cpu::CpuBackend b(1);
    auto m = model::Model::Load(path, b);
    ASSERT_TRUE(m.ok()) << m.status();
    auto e = engine::Engine::Create(**m, b, Cfg(16, false));
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(e.status().message(), HasSubstr("bert.pooling_type"));
    EXPECT_TRUE(engine::Engine::Create(**m, b, Cfg(16, false, model::Pooling::kMean)).ok());
  }
}

}  // namespace
}  // namespace phx
