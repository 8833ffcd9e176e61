// The bert encoder end to end on the CPU backend: synthesized F32 encoders of a few shapes give
// the final hidden states of a float64 reference forward (tests/support/reference_encoder.h)
// at every element, for single inputs and for inputs batched into one step; an encoder refuses
// to generate and positions past its position embeddings.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "base/strings.h"
#include "ops/cpu/cpu_backend.h"
#include "runtime/gguf/gguf.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/model/forward.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "tests/support/reference_encoder.h"
#include "tests/unit/gguf_test_util.h"

namespace phx::model {
namespace {

using ::phx::testing::SharedPath;
using ::phx::testing::TempDir;

struct Shape {
  const char* name;
  int64_t layers, embd, ffn, heads, ctx;
};

SynthOptions BertOptions(const Shape& s) {
  SynthOptions o;
  o.arch = "bert";
  o.vocab_from = SharedPath("vocab/ggml-vocab-bert-bge.gguf");
  o.n_layer = s.layers;
  o.n_embd = s.embd;
  o.n_ff = s.ffn;
  o.n_head = s.heads;
  o.n_head_kv = s.heads;
  o.context_length = s.ctx;
  o.dtype = DType::kF32;
  o.seed = 7;
  return o;
}

// Runs `inputs` (each a whole sequence at positions 0..n-1) in one step and returns every
// row's hidden state.
std::vector<std::vector<float>> RunStep(Forward& fwd, kv::KvCache& cache,
                                        const std::vector<std::vector<int32_t>>& inputs,
                                        int64_t D) {
  std::vector<kv::BlockTable> tables;
  tables.reserve(inputs.size());
  std::vector<kv::StepSeq> seqs;
  std::vector<int32_t> tokens;
  for (const auto& in : inputs) {
    tables.emplace_back(cache.config().block_size);
    EXPECT_TRUE(tables.back().Reserve(cache.allocator(), static_cast<int32_t>(in.size())).ok());
    tokens.insert(tokens.end(), in.begin(), in.end());
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    seqs.push_back({&tables[i], 0, static_cast<int32_t>(inputs[i].size())});
  }
  auto layout = kv::BuildStepLayout(seqs, cache.config().block_size);
  EXPECT_TRUE(layout.ok()) << layout.status();
  std::vector<int32_t> rows(tokens.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int32_t>(i);
  auto hidden = fwd.RunHidden(tokens, *layout, cache, rows);
  EXPECT_TRUE(hidden.ok()) << hidden.status();
  std::vector<std::vector<float>> out;
  if (!hidden.ok()) return out;
  for (size_t r = 0; r < rows.size(); ++r) {
    out.emplace_back(hidden->begin() + r * D, hidden->begin() + (r + 1) * D);
  }
  for (auto& t : tables) t.Release(cache.allocator());
  return out;
}

TEST(BertForward, HiddenStatesMatchTheFloat64Reference) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const Shape shapes[] = {{"bert 2x128 h4", 2, 128, 512, 4, 128},
                          {"bert 3x96 h6 (head dim 16)", 3, 96, 192, 6, 64}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(s.name);
    const std::string path = dir.File(StrCat("bert", s.layers, ".gguf"));
    ASSERT_TRUE(SynthesizeModel(BertOptions(s), path).ok());
    ops::cpu::CpuBackend cpu(2);
    auto m = Model::Load(path, cpu);
    ASSERT_TRUE(m.ok()) << m.status();
    const ModelConfig& c = (*m)->config();
    ASSERT_FALSE(c.causal);
    ASSERT_TRUE(c.post_ln);
    const int64_t D = c.n_embd;
    kv::KvCacheConfig kc{static_cast<int32_t>(c.n_layer),
                         static_cast<int32_t>(c.n_head_kv),
                         static_cast<int32_t>(c.head_dim),
                         64,
                         16,
                         DType::kF32};
    auto cache = kv::KvCache::Create(cpu, kc);
    ASSERT_TRUE(cache.ok());
    auto fwd = Forward::Create(**m, cpu, 256, 8);
    ASSERT_TRUE(fwd.ok()) << fwd.status();
    // Inputs as the tokenizer frames them ([CLS] ... [SEP]) of lengths 1..61, one longer than
    // the model's context is refused below.
    const tok::Tokenizer& tok = (*m)->tokenizer();
    std::vector<std::vector<int32_t>> inputs = {
        tok.Encode("hello world", true, false),
        tok.Encode("", true, false),
        tok.Encode("The quick brown fox jumps over the lazy dog, again and again.", true, false),
        {tok.bos()},
    };
    std::vector<int32_t> longer = tok.Encode(
        "Embeddings of a long input: every token attends to every other one, before and after "
        "it, across several pages of the cache and softmax blocks of the attention kernel.",
        true, false);
    longer.resize(std::min<size_t>(longer.size(), static_cast<size_t>(s.ctx) - 3));
    inputs.push_back(longer);
    auto file = gguf::File::Open(path);
    ASSERT_TRUE(file.ok());
    testing::ReferenceEncoder ref(**file, c);
    // Each input alone, then all of them batched into one step.
    std::vector<std::vector<float>> single;
    for (const auto& in : inputs) {
      for (auto& row : RunStep(**fwd, **cache, {in}, D)) single.push_back(std::move(row));
    }
    const auto batched = RunStep(**fwd, **cache, inputs, D);
    ASSERT_EQ(single.size(), batched.size());
    double worst = 0;
    size_t row = 0;
    for (const auto& in : inputs) {
      const auto want = ref.Hidden(in);
      for (size_t t = 0; t < in.size(); ++t, ++row) {
        // Every block ends in a LayerNorm: entries are O(1); float32 accumulations over a few
        // hundred terms in 2-3 layers stay near 1e-6 (2e-5 allowed).
        for (int64_t i = 0; i < D; ++i) {
          const double e1 = std::fabs(single[row][i] - want[t][i]);
          const double e2 = std::fabs(batched[row][i] - want[t][i]);
          worst = std::max({worst, e1, e2});
          ASSERT_LE(e1, 2e-5) << "input of " << in.size() << " tokens, row " << t << " dim " << i;
          ASSERT_LE(e2, 2e-5) << "batched: input of " << in.size() << " tokens, row " << t;
        }
      }
    }
    std::printf("%s: max |hidden - reference| = %.3g over %zu rows\n", s.name, worst, row);
  }
}

TEST(BertForward, RefusesGenerationAndPositionsPastItsEmbeddings) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string path = dir.File("bert.gguf");
  ASSERT_TRUE(SynthesizeModel(BertOptions({"small", 1, 64, 128, 2, 16}), path).ok());
  ops::cpu::CpuBackend cpu(1);
  auto m = Model::Load(path, cpu);
  ASSERT_TRUE(m.ok()) << m.status();
  const ModelConfig& c = (*m)->config();
  EXPECT_FALSE(c.lm_head);
  kv::KvCacheConfig kc{1, 2, 32, 8, 16, DType::kF32};
  auto cache = kv::KvCache::Create(cpu, kc);
  ASSERT_TRUE(cache.ok());
  auto fwd = Forward::Create(**m, cpu, 32, 4);
  ASSERT_TRUE(fwd.ok());
  kv::BlockTable table(16);
  ASSERT_TRUE(table.Reserve((*cache)->allocator(), 20).ok());
  const std::vector<int32_t> tokens(3, 2000);
  auto layout = kv::BuildStepLayout({{&table, 0, 3}}, 16);
  ASSERT_TRUE(layout.ok());
  const int32_t last[] = {2};
  auto logits = (*fwd)->Run(tokens, *layout, **cache, last);
  ASSERT_FALSE(logits.ok());
  EXPECT_EQ(logits.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(logits.status().message().find("embedding model"), std::string::npos);
  // Positions 16..19 are past the 16 position embeddings.
  const std::vector<int32_t> more(4, 2000);
  auto past = kv::BuildStepLayout({{&table, 16, 4}}, 16);
  ASSERT_TRUE(past.ok());
  const int32_t row0[] = {0};
  auto h = (*fwd)->RunHidden(more, *past, **cache, row0);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(h.status().message().find("position 16"), std::string::npos) << h.status();
}

}  // namespace
}  // namespace phx::model
