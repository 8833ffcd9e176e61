// ModelConfig from GGUF metadata: the real stories260K model, synthesized llama and qwen2
// files, and malformed metadata.
#include "runtime/model/config.h"

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "runtime/model/synth.h"
#include "tests/unit/gguf_test_util.h"

namespace phx::model {
namespace {

using ::phx::testing::SharedPath;
using ::testing::HasSubstr;

const char kStories[] = "models/stories260K.gguf";

TEST(ConfigFromGguf, Stories260K) {
  auto f = gguf::File::Open(SharedPath(kStories));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->version(), 3u);
  EXPECT_EQ((*f)->tensors().size(), 48u);
  auto c = ConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->arch, "llama");
  EXPECT_EQ(c->name, "stories260K");
  EXPECT_EQ(c->context_length, 512);
  EXPECT_EQ(c->n_embd, 64);
  EXPECT_EQ(c->n_ff, 172);
  EXPECT_EQ(c->n_layer, 5);
  EXPECT_EQ(c->n_head, 8);
  EXPECT_EQ(c->n_head_kv, 4);
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->n_rot, 8);
  EXPECT_EQ(c->q_dim(), 64);
  EXPECT_EQ(c->kv_dim(), 32);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_FLOAT_EQ(c->rms_eps, 1e-5f);
  EXPECT_EQ(c->rope_freq_base, 10000.f);
  EXPECT_EQ(c->rope_type, RopeType::kNormal);
  EXPECT_EQ(c->rope_scaling, RopeScaling::kNone);
  EXPECT_FALSE(c->tied_output);
  EXPECT_FALSE(c->qkv_bias);
  EXPECT_FALSE(c->has_rope_freq_factors);
  EXPECT_EQ(c->weight_type, DType::kF32);
  // 2 x 512 x 64 (embedding, output) + 5 layers x 45440 + 64 (final norm).
  EXPECT_EQ(c->n_params, 292800u);
  EXPECT_THAT(c->Summary(), HasSubstr("arch=llama layers=5 embd=64"));
}

struct Shape {
  std::string arch;
  int64_t layers, embd, ff, heads, kv_heads, head_dim;
  bool tied;
  DType dtype;
};

uint64_t ExpectedParams(const Shape& s, int64_t hd, int64_t vocab) {
  const int64_t q = s.heads * hd, kv = s.kv_heads * hd;
  int64_t layer = 2 * s.embd + s.embd * q + 2 * s.embd * kv + q * s.embd + 3 * s.embd * s.ff;
  if (s.arch == "qwen2") layer += q + 2 * kv;
  return static_cast<uint64_t>(vocab * s.embd * (s.tied ? 1 : 2) + s.layers * layer + s.embd);
}

class SynthConfigTest : public ::testing::TestWithParam<Shape> {};

TEST_P(SynthConfigTest, ReadsBackWhatWasSynthesized) {
  const Shape& s = GetParam();
  phx::testing::TempDir dir;
  ASSERT_TRUE(dir.ok());
  SynthOptions o;
  o.arch = s.arch;
  o.name = "cfg-" + s.arch;
  o.vocab_from = SharedPath(kStories);
  o.n_layer = s.layers;
  o.n_embd = s.embd;
  o.n_ff = s.ff;
  o.n_head = s.heads;
  o.n_head_kv = s.kv_heads;
  o.head_dim = s.head_dim;
  o.context_length = 4096;
  o.dtype = s.dtype;
  o.tied_output = s.tied;
  o.rope_freq_base = 1e6f;
  o.rms_eps = 1e-6f;
  const std::string path = dir.File("m.gguf");
  ASSERT_TRUE(SynthesizeModel(o, path).ok());
  auto f = gguf::File::Open(path);
  ASSERT_TRUE(f.ok()) << f.status();
  auto c = ConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  const int64_t hd = s.head_dim > 0 ? s.head_dim : s.embd / s.heads;
  EXPECT_EQ(c->arch, s.arch);
  EXPECT_EQ(c->name, "cfg-" + s.arch);
  EXPECT_EQ(c->context_length, 4096);
  EXPECT_EQ(c->n_layer, s.layers);
  EXPECT_EQ(c->n_embd, s.embd);
  EXPECT_EQ(c->n_ff, s.ff);
  EXPECT_EQ(c->n_head, s.heads);
  EXPECT_EQ(c->n_head_kv, s.kv_heads);
  EXPECT_EQ(c->head_dim, hd);
  EXPECT_EQ(c->n_rot, hd);
  EXPECT_EQ(c->q_dim(), s.heads * hd);
  EXPECT_EQ(c->kv_dim(), s.kv_heads * hd);
  EXPECT_EQ(c->vocab_size, 512);
  EXPECT_FLOAT_EQ(c->rms_eps, 1e-6f);
  EXPECT_EQ(c->rope_freq_base, 1e6f);
  EXPECT_EQ(c->rope_type, s.arch == "qwen2" ? RopeType::kNeox : RopeType::kNormal);
  EXPECT_EQ(c->qkv_bias, s.arch == "qwen2");
  EXPECT_EQ(c->tied_output, s.tied);
  EXPECT_EQ((*f)->FindTensor("output.weight") == nullptr, s.tied);
  EXPECT_EQ(c->weight_type, s.dtype);
  EXPECT_EQ(c->n_params, ExpectedParams(s, hd, 512));
  const gguf::TensorInfo* k = (*f)->FindTensor("blk.0.attn_k.weight");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->dims, (std::vector<int64_t>{s.embd, s.kv_heads * hd}));
  EXPECT_EQ((*f)->FindTensor("blk.0.attn_q.bias") != nullptr, s.arch == "qwen2");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SynthConfigTest,
    ::testing::Values(Shape{"llama", 2, 64, 96, 8, 2, 0, false, DType::kF16},
                      Shape{"llama", 1, 64, 64, 4, 2, 128, false, DType::kQ8_0},
                      Shape{"llama", 3, 64, 160, 4, 4, 0, true, DType::kF32},
                      Shape{"qwen2", 2, 64, 96, 4, 1, 0, false, DType::kBF16},
                      Shape{"qwen2", 1, 256, 64, 2, 2, 128, true, DType::kQ4_0}),
    [](const auto& info) {
      const Shape& s = info.param;
      return s.arch + "_kv" + std::to_string(s.kv_heads) + "_hd" + std::to_string(s.head_dim) +
             (s.tied ? "_tied" : "") + "_" + std::string(DTypeName(s.dtype));
    });

// A minimal llama file; `omit` drops a key, `u32` overrides or adds u32 keys.
std::vector<uint8_t> LlamaFile(const std::string& arch, const std::string& omit = "",
                               const std::map<std::string, uint32_t>& u32 = {},
                               bool with_embd = true) {
  std::map<std::string, uint32_t> keys = {
      {"context_length", 256}, {"embedding_length", 32},    {"feed_forward_length", 64},
      {"block_count", 1},      {"attention.head_count", 4}, {"attention.head_count_kv", 2}};
  for (const auto& [k, v] : u32) keys[k] = v;
  gguf::Writer w;
  w.SetString("general.architecture", arch);
  for (const auto& [k, v] : keys) {
    if (k != omit) w.SetU32(arch + "." + k, v);
  }
  if (omit != "attention.layer_norm_rms_epsilon") {
    w.SetF32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
  }
  if (with_embd) {
    EXPECT_TRUE(
        w.AddTensor("token_embd.weight", DType::kF32, {32, 10}, std::vector<uint8_t>(32 * 10 * 4))
            .ok());
  }
  return w.Serialize();
}

absl::Status ConfigStatus(const std::vector<uint8_t>& bytes) {
  auto f = phx::testing::ParseBytes(bytes);
  if (!f.ok()) return f.status();
  return ConfigFromGguf(**f).status();
}

TEST(ConfigFromGguf, MinimalFileLoads) {
  const auto bytes = LlamaFile("llama");
  auto f = phx::testing::ParseBytes(bytes);
  ASSERT_TRUE(f.ok()) << f.status();
  auto c = ConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->head_dim, 8);
  EXPECT_EQ(c->vocab_size, 10);
  EXPECT_TRUE(c->tied_output);
}

TEST(ConfigFromGguf, Errors) {
  struct Case {
    std::vector<uint8_t> bytes;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {LlamaFile("gpt2"), absl::StatusCode::kUnimplemented,
       "unsupported model architecture 'gpt2' (supported: llama, qwen2, qwen3, qwen3moe, gemma2, "
       "gemma3, phi3, bert)"},
      {LlamaFile("llama", "block_count"), absl::StatusCode::kNotFound,
       "metadata key llama.block_count is missing"},
      {LlamaFile("qwen2", "embedding_length"), absl::StatusCode::kNotFound,
       "metadata key qwen2.embedding_length is missing"},
      {LlamaFile("llama", "attention.layer_norm_rms_epsilon"), absl::StatusCode::kNotFound,
       "llama.attention.layer_norm_rms_epsilon is missing"},
      {LlamaFile("llama", "", {{"attention.head_count", 6}, {"attention.head_count_kv", 4}}),
       absl::StatusCode::kInvalidArgument,
       "attention.head_count 6 is not a multiple of head_count_kv 4"},
      {LlamaFile("llama", "", {{"attention.head_count", 0}}), absl::StatusCode::kInvalidArgument,
       "metadata llama.attention.head_count = 0 is outside [1, 65536]"},
      {LlamaFile("llama", "", {{"embedding_length", 64}}), absl::StatusCode::kInvalidArgument,
       "token_embd.weight has shape [32, 10], expected [64, vocab]"},
      {LlamaFile("llama", "", {{"rope.dimension_count", 4}}), absl::StatusCode::kUnimplemented,
       "llama: partial rotary (4 of 8 dims) (metadata llama.rope.dimension_count) is not "
       "supported"},
      {LlamaFile("llama", "", {{"attention.key_length", 8}, {"attention.value_length", 16}}),
       absl::StatusCode::kUnimplemented, "value heads of 16 != key heads of 8"},
      {LlamaFile("qwen3moe"), absl::StatusCode::kInvalidArgument,
       "qwen3moe: metadata qwen3moe.expert_count must be positive"},
      {LlamaFile("qwen3moe", "", {{"expert_count", 4}}), absl::StatusCode::kInvalidArgument,
       "metadata qwen3moe.expert_used_count = 0 must be in 1..4 (expert_count)"},
      {LlamaFile("llama", "", {{"expert_count", 4}, {"expert_used_count", 5}}),
       absl::StatusCode::kInvalidArgument, "llama.expert_used_count = 5 exceeds expert_count 4"},
      {LlamaFile("llama", "", {{"expert_used_count", 2}}), absl::StatusCode::kInvalidArgument,
       "metadata llama.expert_used_count = 2 but llama.expert_count is 0"},
      {LlamaFile("qwen3moe", "",
                 {{"expert_count", 4}, {"expert_used_count", 2}, {"expert_shared_count", 1}}),
       absl::StatusCode::kUnimplemented,
       "qwen3moe: shared experts (metadata qwen3moe.expert_shared_count) is not supported"},
      {LlamaFile("phi3", "", {{"attention.key_length", 16}}), absl::StatusCode::kInvalidArgument,
       "phi3: heads x head dim (64) must equal embedding_length (32)"},
      // Found by gguf_fuzz: experts with no feed-forward width; experts in a dense family.
      {LlamaFile("llama", "feed_forward_length", {{"expert_count", 4}, {"expert_used_count", 2}}),
       absl::StatusCode::kNotFound,
       "metadata llama.expert_feed_forward_length (or llama.feed_forward_length) is missing or "
       "zero for a model with experts"},
      {LlamaFile("qwen2", "", {{"expert_count", 4}, {"expert_used_count", 2}}),
       absl::StatusCode::kUnimplemented, "qwen2: experts (Qwen2-MoE)"},
      {LlamaFile("qwen3", "", {{"expert_count", 2}, {"expert_used_count", 1}}),
       absl::StatusCode::kUnimplemented, "qwen3: experts in the dense family"},
      {LlamaFile("gemma2", "", {{"attention.sliding_window", 0}}),
       absl::StatusCode::kInvalidArgument, "gemma2.attention.sliding_window = 0 is outside"},
      {LlamaFile("llama", "", {}, false), absl::StatusCode::kNotFound,
       "tensor token_embd.weight is missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    const absl::Status s = ConfigStatus(c.bytes);
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

// Metadata a family cannot express: each an UnimplementedError naming the feature and the key.
TEST(ConfigFromGguf, UnsupportedFeaturesNameTheKey) {
  struct Case {
    std::string arch;
    std::function<void(gguf::Writer&)> add;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"llama", [](gguf::Writer& w) { w.SetString("llama.rope.scaling.type", "dynamic"); },
       absl::StatusCode::kUnimplemented,
       "llama: RoPE scaling type 'dynamic' (metadata llama.rope.scaling.type) is not supported"},
      {"qwen3", [](gguf::Writer& w) { w.SetBool("qwen3.attention.causal", false); },
       absl::StatusCode::kUnimplemented, "non-causal attention (metadata qwen3.attention.causal)"},
      {"gemma3",
       [](gguf::Writer& w) {
         w.SetU32("gemma3.attention.sliding_window", 4);
         w.SetI32Array("gemma3.attention.sliding_window_pattern", {1, 0, 1});
       },
       absl::StatusCode::kUnimplemented,
       "gemma3: per-layer values (an array) (metadata gemma3.attention.sliding_window_pattern)"},
      {"qwen3moe",
       [](gguf::Writer& w) {
         w.SetU32("qwen3moe.expert_count", 8);
         w.SetU32("qwen3moe.expert_used_count", 2);
         w.SetU32("qwen3moe.expert_gating_func", 2);
       },
       absl::StatusCode::kUnimplemented,
       "a router other than softmax (metadata qwen3moe.expert_gating_func)"},
      {"llama", [](gguf::Writer& w) { w.SetF32("llama.rope.scaling.factor", -2.f); },
       absl::StatusCode::kInvalidArgument, "llama.rope.scaling.factor = -2 is negative"},
      {"gemma2", [](gguf::Writer& w) { w.SetF32("gemma2.attn_logit_softcapping", 0.f); },
       absl::StatusCode::kInvalidArgument, "gemma2: soft-caps must be positive"},
      // bert: the keys llama.cpp requires, then its tensors (checked by the family).
      {"bert", [](gguf::Writer&) {}, absl::StatusCode::kNotFound,
       "metadata bert.attention.causal is missing"},
      {"bert", [](gguf::Writer& w) { w.SetBool("bert.attention.causal", false); },
       absl::StatusCode::kNotFound, "metadata bert.attention.layer_norm_epsilon is missing"},
      {"bert",
       [](gguf::Writer& w) {
         w.SetBool("bert.attention.causal", false);
         w.SetF32("bert.attention.layer_norm_epsilon", -1.f);
       },
       absl::StatusCode::kInvalidArgument,
       "metadata bert.attention.layer_norm_epsilon = -1 must be positive"},
      {"bert",
       [](gguf::Writer& w) {
         w.SetBool("bert.attention.causal", false);
         w.SetF32("bert.attention.layer_norm_epsilon", 1e-12f);
       },
       absl::StatusCode::kNotFound, "bert: tensor blk.0.attn_q.bias is missing"},
      {"bert",
       [](gguf::Writer& w) {
         w.SetU32("bert.expert_count", 4);
         w.SetU32("bert.expert_used_count", 2);
       },
       absl::StatusCode::kUnimplemented,
       "bert: experts (nomic-bert-moe) (metadata bert.expert_count) is not supported"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    const std::vector<uint8_t> src_bytes = LlamaFile(c.arch);
    auto src = phx::testing::ParseBytes(src_bytes);
    ASSERT_TRUE(src.ok());
    gguf::Writer w;
    for (const auto& [k, v] : (*src)->metadata()) w.SetValue(k, v);
    c.add(w);
    ASSERT_TRUE(
        w.AddTensor("token_embd.weight", DType::kF32, {32, 10}, std::vector<uint8_t>(1280)).ok());
    const absl::Status s = ConfigStatus(w.Serialize());
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

TEST(ConfigFromGguf, TokenCountMustMatchEmbedding) {
  gguf::Writer w;
  const std::vector<uint8_t> src_bytes = LlamaFile("llama");  // outlives `src`'s views
  auto src = phx::testing::ParseBytes(src_bytes);
  ASSERT_TRUE(src.ok());
  for (const auto& [k, v] : (*src)->metadata()) w.SetValue(k, v);
  w.SetStringArray("tokenizer.ggml.tokens", {"a", "b", "c"});
  ASSERT_TRUE(
      w.AddTensor("token_embd.weight", DType::kF32, {32, 10}, std::vector<uint8_t>(1280)).ok());
  const absl::Status s = ConfigStatus(w.Serialize());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("tokenizer has 3 tokens but token_embd.weight has 10 rows"));
}

}  // namespace
}  // namespace phx::model
