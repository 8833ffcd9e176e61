// Embeddings: the pooling metadata (ModelConfig::pooling), the final hidden states
// (Forward::RunHidden / RunWithHidden) against the float64 reference, and embedding requests in
// the engine's continuous batching (engine_embed_test.cc).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ops/cpu/cpu_backend.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/config.h"
#include "runtime/model/forward.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "tests/support/reference_model.h"

namespace phx {
namespace {

using ::testing::HasSubstr;

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

std::string TmpPath(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "phx_embed_test";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

model::SynthOptions Small(const char* arch, DType t = DType::kF32) {
  model::SynthOptions o;
  o.arch = arch;
  o.vocab_from = kStories;
  o.n_layer = 2;
  o.n_embd = 128;
  o.n_ff = 256;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.dtype = t;
  o.context_length = 256;
  o.seed = 7;
  return o;
}

TEST(Pooling, ReadFromMetadata) {
  for (const char* p : {"", "none", "mean", "cls", "last"}) {
    SCOPED_TRACE(p);
    model::SynthOptions o = Small("qwen3");
    o.pooling = p;
    const std::string path = TmpPath(std::string("pool_") + p + ".gguf");
    ASSERT_TRUE(model::SynthesizeModel(o, path).ok());
    auto f = gguf::File::Open(path);
    ASSERT_TRUE(f.ok());
    auto c = model::ConfigFromGguf(**f);
    ASSERT_TRUE(c.ok()) << c.status();
    const std::string want = std::string(p).empty() ? "none" : p;
    EXPECT_EQ(model::PoolingName(c->pooling), want);
    EXPECT_EQ(c->FeatureList().find("pooling") != std::string::npos, want != "none");
  }
  model::SynthOptions o = Small("llama");
  o.pooling = "max";
  EXPECT_THAT(model::SynthesizeModel(o, TmpPath("pool_bad.gguf")).message(),
              HasSubstr("--pooling: unknown 'max'"));
}

// Rank (a reranker's head) and values llama.cpp does not know are errors naming the key.
TEST(Pooling, RankAndUnknownValuesNameTheKey) {
  const std::string path = TmpPath("pool_src.gguf");
  ASSERT_TRUE(model::SynthesizeModel(Small("llama"), path).ok());
  auto src = gguf::File::Open(path);
  ASSERT_TRUE(src.ok());
  for (const auto& [value, msg] : std::vector<std::pair<uint32_t, std::string>>{
           {4,
            "llama: rank pooling (a reranker's classification head) (metadata "
            "llama.pooling_type) is not supported"},
           {9,
            "pooling type 9 (known: 0 none, 1 mean, 2 cls, 3 last) (metadata "
            "llama.pooling_type)"}}) {
    gguf::Writer w;
    for (const auto& [k, v] : (*src)->metadata()) w.SetValue(k, v);
    w.SetU32("llama.pooling_type", value);
    const gguf::TensorInfo* t = (*src)->FindTensor("token_embd.weight");  // all config reads
    ASSERT_NE(t, nullptr);
    ASSERT_TRUE(
        w.AddTensor(t->name, t->type, t->dims, std::vector<uint8_t>(t->data, t->data + t->n_bytes))
            .ok());
    const std::vector<uint8_t> bytes = w.Serialize();
    auto f = gguf::File::Parse(bytes.data(), bytes.size());
    ASSERT_TRUE(f.ok()) << f.status();
    auto c = model::ConfigFromGguf(**f);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), absl::StatusCode::kUnimplemented);
    EXPECT_THAT(c.status().message(), HasSubstr(msg));
  }
}

// RunHidden returns the output-normed final hidden states: every element of every row against
// the float64 reference, over a prompt run in two chunks (the second attends to the cached
// first), with more rows than the forward has logits rows.
TEST(RunHidden, MatchesFloat64Reference) {
  for (const char* arch : {"llama", "qwen3", "gemma2"}) {
    SCOPED_TRACE(arch);
    const std::string path = TmpPath(std::string("hidden_") + arch + ".gguf");
    ASSERT_TRUE(model::SynthesizeModel(Small(arch), path).ok());
    ops::cpu::CpuBackend backend(2);
    auto m = model::Model::Load(path, backend);
    ASSERT_TRUE(m.ok()) << m.status();
    const model::ModelConfig& mc = (*m)->config();
    auto file = gguf::File::Open(path);
    ASSERT_TRUE(file.ok());
    const std::vector<int32_t> prompt = {1, 45, 300, 12, 99, 7, 410, 33, 256, 3, 77, 500, 8};
    const auto want = testing::ReferenceModel(**file, mc).Hidden(prompt);
    kv::KvCacheConfig kc{static_cast<int32_t>(mc.n_layer),
                         static_cast<int32_t>(mc.n_head_kv),
                         static_cast<int32_t>(mc.head_dim),
                         8,
                         4,
                         DType::kF32};
    auto cache = kv::KvCache::Create(backend, kc);
    ASSERT_TRUE(cache.ok());
    auto fwd = model::Forward::Create(**m, backend, 16, 2);  // 2 logits rows, 16 tokens
    ASSERT_TRUE(fwd.ok());
    kv::BlockTable table(4);
    ASSERT_TRUE(table.Reserve((*cache)->allocator(), 13).ok());
    const int64_t D = mc.n_embd;
    double worst = 0;
    for (auto [begin, n] : {std::pair{0, 9}, std::pair{9, 4}}) {
      auto layout = kv::BuildStepLayout({{&table, begin, n}}, 4);
      ASSERT_TRUE(layout.ok());
      std::vector<int32_t> rows(n);
      for (int32_t i = 0; i < n; ++i) rows[i] = n - 1 - i;  // any order
      auto h = (*fwd)->RunHidden(std::span(prompt).subspan(begin, n), *layout, **cache, rows);
      ASSERT_TRUE(h.ok()) << h.status();
      ASSERT_EQ(h->size(), static_cast<size_t>(n * D));
      for (int32_t i = 0; i < n; ++i) {
        const auto& w = want[begin + rows[i]];
        for (int64_t j = 0; j < D; ++j) {
          // Normed rows have RMS ~1: an absolute bound (f32 accumulation over K <= 256).
          const double err = std::fabs((*h)[i * D + j] - w[j]);
          worst = std::max(worst, err);
          ASSERT_LE(err, 1e-4) << "position " << begin + rows[i] << " dim " << j;
        }
      }
    }
    std::printf("%-6s max hidden-state error %.3g\n", arch, worst);
  }
}

// Logits and hidden states from one step equal those of Run and RunHidden; rows are checked.
TEST(RunHidden, WithLogitsInOneStepAndRowChecks) {
  const std::string path = TmpPath("hidden_mixed.gguf");
  ASSERT_TRUE(model::SynthesizeModel(Small("llama"), path).ok());
  ops::cpu::CpuBackend backend(2);
  auto m = model::Model::Load(path, backend);
  ASSERT_TRUE(m.ok());
  const model::ModelConfig& mc = (*m)->config();
  kv::KvCacheConfig kc{static_cast<int32_t>(mc.n_layer),
                       static_cast<int32_t>(mc.n_head_kv),
                       static_cast<int32_t>(mc.head_dim),
                       8,
                       4,
                       DType::kF32};
  auto cache = kv::KvCache::Create(backend, kc);
  ASSERT_TRUE(cache.ok());
  auto fwd = model::Forward::Create(**m, backend, 8, 2);
  ASSERT_TRUE(fwd.ok());
  kv::BlockTable table(4);
  ASSERT_TRUE(table.Reserve((*cache)->allocator(), 6).ok());
  const std::vector<int32_t> toks = {1, 20, 30, 40, 50, 60};
  auto layout = kv::BuildStepLayout({{&table, 0, 6}}, 4);
  ASSERT_TRUE(layout.ok());
  const std::vector<int32_t> lrows = {5}, hrows = {0, 5, 2};
  auto both = (*fwd)->RunWithHidden(toks, *layout, **cache, lrows, hrows);
  ASSERT_TRUE(both.ok()) << both.status();
  const std::vector<float> logits(both->logits.begin(), both->logits.end());
  const std::vector<float> hidden(both->hidden.begin(), both->hidden.end());
  auto l = (*fwd)->Run(toks, *layout, **cache, lrows);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(logits, std::vector<float>(l->begin(), l->end()));
  auto h = (*fwd)->RunHidden(toks, *layout, **cache, hrows);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(hidden, std::vector<float>(h->begin(), h->end()));
  // More hidden rows than tokens allowed, a row outside the step, too many tokens.
  const std::vector<int32_t> nine(9, 0), bad = {6};
  EXPECT_FALSE((*fwd)->RunHidden(toks, *layout, **cache, nine).ok());
  EXPECT_EQ((*fwd)->RunHidden(toks, *layout, **cache, bad).status().code(),
            absl::StatusCode::kInternal);
  const std::vector<int32_t> three = {0, 1, 2};
  EXPECT_THAT((*fwd)->RunWithHidden(toks, *layout, **cache, three, {}).status().message(),
              HasSubstr("3 output rows exceed the step limit 2"));
}

}  // namespace
}  // namespace phx
