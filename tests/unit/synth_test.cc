// `phalanx model synth`: determinism, every dtype, option errors and the weight statistics
// documented in runtime/model/synth.cc.
#include "runtime/model/synth.h"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "runtime/model/config.h"
#include "tests/unit/gguf_test_util.h"

namespace phx::model {
namespace {

using ::phx::testing::ReadAll;
using ::phx::testing::SharedPath;
using ::phx::testing::TempDir;
using ::testing::HasSubstr;

SynthOptions Tiny(DType dtype = DType::kF16) {
  SynthOptions o;
  o.vocab_from = SharedPath("models/stories260K.gguf");
  o.n_layer = 1;
  o.n_embd = 64;
  o.n_ff = 64;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.context_length = 128;
  o.dtype = dtype;
  return o;
}

std::vector<float> Dequantize(const gguf::TensorInfo& t) {
  std::vector<float> out(t.n_elements);
  EXPECT_TRUE(DequantizeRow(t.type, t.data, out.data(), static_cast<int64_t>(t.n_elements)));
  return out;
}

TEST(Synth, DeterministicPerSeed) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  SynthOptions o = Tiny();
  ASSERT_TRUE(SynthesizeModel(o, dir.File("a.gguf")).ok());
  ASSERT_TRUE(SynthesizeModel(o, dir.File("b.gguf")).ok());
  o.seed = 2;
  ASSERT_TRUE(SynthesizeModel(o, dir.File("c.gguf")).ok());
  const auto a = ReadAll(dir.File("a.gguf")), b = ReadAll(dir.File("b.gguf")),
             c = ReadAll(dir.File("c.gguf"));
  ASSERT_GT(a.size(), 100000u);
  EXPECT_TRUE(a == b) << "same options and seed must give the same bytes";
  ASSERT_EQ(a.size(), c.size());
  EXPECT_FALSE(a == c) << "another seed must give other weights";
  // Only tensor data differs: the header is identical.
  auto fa = gguf::File::Open(dir.File("a.gguf"));
  ASSERT_TRUE(fa.ok()) << fa.status();
  const size_t header = (*fa)->data_offset();
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + header, c.begin()));
  EXPECT_EQ((*fa)->tensors().back().data + (*fa)->tensors().back().n_bytes,
            (*fa)->mapping()->data() + a.size());
}

TEST(Synth, UniformStream) {
  double sum = 0, sq = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float u = SynthUniform(7, 3, i);
    ASSERT_GE(u, -1.f);
    ASSERT_LT(u, 1.f);
    sum += u;
    sq += u * u;
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(sq / n, 1.0 / 3, 0.01);
  EXPECT_EQ(SynthUniform(7, 3, 5), SynthUniform(7, 3, 5));
  EXPECT_NE(SynthUniform(7, 3, 5), SynthUniform(8, 3, 5));
  EXPECT_NE(SynthUniform(7, 3, 5), SynthUniform(7, 4, 5));
  EXPECT_NE(SynthUniform(7, 3, 5), SynthUniform(7, 3, 6));
}

struct DTypeCase {
  DType dtype;
  uint32_t file_type;
  double max_abs_err;  // against the exact f32 weights of amplitude sqrt(3)
};

class SynthDTypeTest : public ::testing::TestWithParam<DTypeCase> {};

TEST_P(SynthDTypeTest, WeightsAreTheQuantizedStream) {
  const DTypeCase& p = GetParam();
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  SynthOptions o = Tiny(p.dtype);
  o.n_embd = 256;
  o.n_ff = 256;
  o.n_head = 2;
  o.n_head_kv = 1;
  o.seed = 11;
  ASSERT_TRUE(SynthesizeModel(o, dir.File("m.gguf")).ok());
  auto f = gguf::File::Open(dir.File("m.gguf"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*(*f)->GetInt("general.file_type"), p.file_type);
  for (const auto& t : (*f)->tensors()) {
    EXPECT_EQ(t.type, t.dims.size() == 2 ? p.dtype : DType::kF32) << t.name;
    EXPECT_EQ(FirstInvalidBlock(t.type, t.data, t.n_bytes / GetDTypeInfo(t.type)->block_bytes), -1)
        << t.name;
  }
  auto c = ConfigFromGguf(**f);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->weight_type, p.dtype);
  EXPECT_EQ(c->head_dim, 128);

  // token_embd is tensor 0 with amplitude sqrt(3).
  const gguf::TensorInfo* emb = (*f)->FindTensor("token_embd.weight");
  ASSERT_NE(emb, nullptr);
  const std::vector<float> got = Dequantize(*emb);
  double max_err = 0, sq_err = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const float want = std::sqrt(3.f) * SynthUniform(11, 0, i);
    max_err = std::max(max_err, static_cast<double>(std::fabs(got[i] - want)));
    sq_err += (got[i] - want) * (got[i] - want);
  }
  EXPECT_LE(max_err, p.max_abs_err) << DTypeName(p.dtype);
  if (p.dtype != DType::kF32) {
    EXPECT_GT(max_err, 0) << "quantization must change something";
  }
  EXPECT_LE(std::sqrt(sq_err / got.size()), p.max_abs_err / 1.5) << DTypeName(p.dtype);
  // Norm weights stay f32 and exact.
  const gguf::TensorInfo* norm = (*f)->FindTensor("blk.0.attn_norm.weight");
  ASSERT_NE(norm, nullptr);
  const std::vector<float> nw = Dequantize(*norm);
  for (size_t i = 0; i < nw.size(); ++i) {
    ASSERT_EQ(nw[i], 1.f + 0.1f * SynthUniform(11, 1, i)) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllDTypes, SynthDTypeTest,
    // Bounds on |w - dequant(quant(w))| for weights uniform in [-1.74, 1.74): half a step for
    // the rounding types, a whole step where the largest value clamps (Q4_0, Q5_0) or where
    // llama.cpp's quantizer trades the worst element for a smaller weighted error (K-quants,
    // IQ4: see quant_layout_test for the bounds of each type).
    ::testing::Values(DTypeCase{DType::kF32, 0, 0.0},
                      DTypeCase{DType::kF16, 1, 1e-3},               // 2^-11 relative, |w| < 1.74
                      DTypeCase{DType::kBF16, 32, 7e-3},             // 2^-8 relative
                      DTypeCase{DType::kQ8_0, 7, 1.74 / 127 * 0.6},  // half a step (+ f16 scale)
                      DTypeCase{DType::kQ4_0, 2, 1.74 / 8 * 1.01},   // one step at the clamp
                      DTypeCase{DType::kQ4_1, 3, 3.5 / 15 * 0.6},    // half a step
                      DTypeCase{DType::kQ5_0, 8, 1.74 / 16 * 1.01},  // one step at the clamp
                      DTypeCase{DType::kQ5_1, 9, 3.5 / 31 * 0.6},
                      DTypeCase{DType::kQ2_K, 10, 3.5 / 3 * 0.75},
                      DTypeCase{DType::kQ3_K, 12, 1.74 / 4 * 1.01},
                      DTypeCase{DType::kQ4_K, 15, 3.5 / 15}, DTypeCase{DType::kQ5_K, 17, 3.5 / 31},
                      DTypeCase{DType::kQ6_K, 18, 1.74 / 32 * 1.01},
                      DTypeCase{DType::kIQ4_NL, 25, 1.74 * 24 / 127},  // the widest gap
                      DTypeCase{DType::kIQ4_XS, 30, 1.74 * 24 / 127},
                      DTypeCase{DType::kMXFP4, 38, 1.74 / 4 * 1.01}),  // FP4's widest gap, 2^-2
    [](const auto& info) { return std::string(DTypeName(info.param.dtype)); });

struct Stats {
  double mean = 0, std = 0, min = 1e30, max = -1e30;
};
Stats TensorStats(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  EXPECT_NE(t, nullptr) << name;
  Stats s;
  if (t == nullptr) return s;
  const std::vector<float> v = Dequantize(*t);
  double sum = 0, sq = 0;
  for (float x : v) {
    sum += x;
    sq += static_cast<double>(x) * x;
    s.min = std::min<double>(s.min, x);
    s.max = std::max<double>(s.max, x);
  }
  s.mean = sum / v.size();
  s.std = std::sqrt(sq / v.size() - s.mean * s.mean);
  return s;
}

// synth.cc: matrices uniform with std 1/sqrt(fan_in); attn_output and ffn_down scaled by
// 1/sqrt(2 * layers); embedding std 1; norms 1 +- 0.1; output std 2/sqrt(fan_in); qwen2
// biases +- 0.2.
TEST(Synth, WeightStatisticsAsDocumented) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  SynthOptions o = Tiny(DType::kF32);
  o.arch = "qwen2";
  o.n_layer = 2;
  o.n_embd = 256;
  o.n_ff = 512;
  o.n_head = 4;
  o.n_head_kv = 2;
  ASSERT_TRUE(SynthesizeModel(o, dir.File("s.gguf")).ok());
  auto f = gguf::File::Open(dir.File("s.gguf"));
  ASSERT_TRUE(f.ok()) << f.status();
  const double resid = 1 / std::sqrt(4.0);
  struct Want {
    std::string name;
    double std;
  };
  const std::vector<Want> matrices = {
      {"token_embd.weight", 1.0},
      {"blk.0.attn_q.weight", 1 / std::sqrt(256.0)},
      {"blk.1.attn_k.weight", 1 / std::sqrt(256.0)},
      {"blk.0.attn_v.weight", 1 / std::sqrt(256.0)},
      {"blk.1.attn_output.weight", resid / std::sqrt(256.0)},
      {"blk.0.ffn_gate.weight", 1 / std::sqrt(256.0)},
      {"blk.1.ffn_up.weight", 1 / std::sqrt(256.0)},
      {"blk.0.ffn_down.weight", resid / std::sqrt(512.0)},
      {"output.weight", 2 / std::sqrt(256.0)},
  };
  for (const Want& w : matrices) {
    SCOPED_TRACE(w.name);
    const Stats s = TensorStats(**f, w.name);
    EXPECT_NEAR(s.std, w.std, 0.03 * w.std);
    EXPECT_NEAR(s.mean, 0, 0.03 * w.std);
    const double amp = w.std * std::sqrt(3.0);  // uniform on [-amp, amp)
    EXPECT_GE(s.min, -amp * (1 + 1e-6));
    EXPECT_LE(s.max, amp * (1 + 1e-6));
    EXPECT_GT(s.max, 0.95 * amp);
  }
  for (const std::string name :
       {"blk.0.attn_norm.weight", "blk.1.ffn_norm.weight", "output_norm.weight"}) {
    const Stats s = TensorStats(**f, name);
    EXPECT_NEAR(s.mean, 1.0, 0.02) << name;
    EXPECT_GE(s.min, 0.9 - 1e-6) << name;
    EXPECT_LE(s.max, 1.1 + 1e-6) << name;
  }
  for (const std::string name : {"blk.0.attn_q.bias", "blk.1.attn_k.bias", "blk.0.attn_v.bias"}) {
    const Stats s = TensorStats(**f, name);
    EXPECT_NEAR(s.mean, 0.0, 0.05) << name;
    EXPECT_GE(s.min, -0.2 - 1e-6) << name;
    EXPECT_LE(s.max, 0.2 + 1e-6) << name;
    EXPECT_GT(s.std, 0.2 / std::sqrt(3.0) * 0.8) << name;
  }
}

TEST(Synth, CopiesTheTokenizer) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  SynthOptions o = Tiny();
  ASSERT_TRUE(SynthesizeModel(o, dir.File("t.gguf")).ok());
  auto src = gguf::File::Open(o.vocab_from);
  auto dst = gguf::File::Open(dir.File("t.gguf"));
  ASSERT_TRUE(src.ok() && dst.ok());
  int copied = 0;
  for (const auto& [key, v] : (*src)->metadata()) {
    if (key.rfind("tokenizer.", 0) != 0) continue;
    const gguf::Value* got = (*dst)->Find(key);
    ASSERT_NE(got, nullptr) << key;
    EXPECT_EQ(got->type, v.type) << key;
    EXPECT_EQ(got->ToString(SIZE_MAX), v.ToString(SIZE_MAX)) << key;
    ++copied;
  }
  EXPECT_EQ(copied, 9);
  EXPECT_EQ(*(*dst)->GetInt("llama.vocab_size"), 512);
  EXPECT_EQ(*(*dst)->GetString("general.name"), "phalanx-synth");
}

TEST(Synth, OptionErrors) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  struct Case {
    std::function<void(SynthOptions&)> edit;
    absl::StatusCode code;
    std::string message;
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  const std::vector<Case> cases = {
      {[](SynthOptions& o) { o.dtype = DType::kQ8_0, o.n_ff = 48; }, kInvalid,
       "blk.0.ffn_down.weight: rows of 48 values are not a multiple of the q8_0 block size 32 "
       "(llama.cpp has no fallback type for q8_0)"},
      {[](SynthOptions& o) {
         o.dtype = DType::kQ4_0, o.n_head = 2, o.n_head_kv = 1, o.head_dim = 24;
       },
       kInvalid, "blk.0.attn_output.weight: rows of 48 values are not a multiple of the q4_0"},
      {[](SynthOptions& o) { o.mix = "Q5_0", o.n_ff = 48; }, kInvalid,
       "blk.0.ffn_down.weight: rows of 48 values are not a multiple of the q5_0 block size 32"},
      {[](SynthOptions& o) { o.dtype = DType::kI32; }, kInvalid, "cannot synthesize i32"},
      {[](SynthOptions& o) { o.mix = "Q4_K"; }, kInvalid,
       "--mix: unknown llama.cpp file type 'Q4_K' (Q2_K Q2_K_S"},
      {[](SynthOptions& o) { o.arch = "gpt2"; }, kInvalid, "unsupported architecture 'gpt2'"},
      {[](SynthOptions& o) { o.n_head_kv = 3; }, kInvalid,
       "--heads 4 is not a multiple of --kv-heads 3"},
      {[](SynthOptions& o) { o.head_dim = 7; }, kInvalid, "head dim 7 must be even"},
      {[](SynthOptions& o) { o.n_head = 6, o.n_head_kv = 6; }, kInvalid,
       "must be even and divide the embedding"},
      {[](SynthOptions& o) { o.n_layer = 0; }, kInvalid, "must be positive"},
      {[](SynthOptions& o) { o.context_length = 0; }, kInvalid, "must be positive"},
      {[](SynthOptions& o) { o.arch = "qwen2", o.head_dim = 32; }, kInvalid,
       "qwen2 needs heads x head dim (128) == --embd (64)"},
      {[](SynthOptions& o) { o.vocab_from = "/nonexistent.gguf"; }, absl::StatusCode::kNotFound,
       "/nonexistent.gguf"},
      // Family options: each where its family is, and consistent.
      {[](SynthOptions& o) { o.arch = "mixtral"; }, kInvalid,
       "--arch mixtral needs --experts N > 0 and --experts-used K in 1..N (got 0, 0)"},
      {[](SynthOptions& o) { o.arch = "qwen3moe", o.n_expert = 4, o.n_expert_used = 5; }, kInvalid,
       "--experts-used K in 1..N (got 4, 5)"},
      {[](SynthOptions& o) { o.n_expert = 2, o.n_expert_used = 1; }, kInvalid,
       "--experts/--experts-used/--expert-ffn does not apply to --arch llama"},
      {[](SynthOptions& o) {
         o.arch = "mixtral", o.n_expert = 2, o.n_expert_used = 1, o.n_ff_expert = 32;
       },
       kInvalid, "--expert-ffn (mixtral experts are --ffn wide) does not apply to --arch mixtral"},
      {[](SynthOptions& o) { o.sliding_window = 8; }, kInvalid,
       "--sliding-window/--swa-pattern does not apply to --arch llama"},
      {[](SynthOptions& o) { o.arch = "gemma3", o.attn_softcap = 5; }, kInvalid,
       "--attn-softcap does not apply to --arch gemma3"},
      {[](SynthOptions& o) { o.arch = "qwen3", o.final_softcap = 5; }, kInvalid,
       "--final-softcap does not apply to --arch qwen3"},
      {[](SynthOptions& o) { o.arch = "qwen3", o.rope_scaling = "llama3"; }, kInvalid,
       "--rope-scaling llama3 (rope_freqs.weight is read by the llama family) does not apply"},
      {[](SynthOptions& o) { o.rope_scaling = "longrope"; }, kInvalid,
       "--rope-scaling longrope (Phi-3's long/short factors) does not apply to --arch llama"},
      {[](SynthOptions& o) { o.rope_scaling = "dynamic"; }, kInvalid,
       "--rope-scaling: unknown 'dynamic'"},
      {[](SynthOptions& o) { o.rope_scaling = "yarn", o.rope_scaling_factor = 0.5f; }, kInvalid,
       "--rope-scaling-factor 0.5 must be >= 1"},
      {[](SynthOptions& o) { o.arch = "gemma2", o.untied_output = true; }, kInvalid,
       "--untied: gemma2 always ties its output to token_embd"},
      {[](SynthOptions& o) { o.arch = "phi3", o.head_dim = 32; }, kInvalid,
       "phi3 needs heads x head dim (128) == --embd (64)"},
      {[](SynthOptions& o) { o.n_rot = 8; }, kInvalid, "--rope-dims 8: partial rotary is for phi3"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    SynthOptions o = Tiny();
    c.edit(o);
    const absl::Status s = SynthesizeModel(o, dir.File("e.gguf"));
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_THAT(s.message(), HasSubstr(c.message));
  }
}

// --dtype: rows a K-quant's 256-block does not divide take llama.cpp's fallback (here every
// tensor of a 64-wide model: Q4_K -> Q5_0, Q6_K -> Q8_0).
TEST(Synth, ShapeFallback) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  for (const auto& [dtype, want] :
       {std::pair{DType::kQ4_K, DType::kQ5_0}, std::pair{DType::kQ6_K, DType::kQ8_0},
        std::pair{DType::kIQ4_XS, DType::kIQ4_NL}}) {
    SynthOptions o = Tiny(dtype);
    ASSERT_TRUE(SynthesizeModel(o, dir.File("f.gguf")).ok());
    auto f = gguf::File::Open(dir.File("f.gguf"));
    ASSERT_TRUE(f.ok()) << f.status();
    for (const auto& t : (*f)->tensors()) {
      EXPECT_EQ(t.type, t.dims.size() == 2 ? want : DType::kF32) << t.name;
    }
  }
}

// --mix follows llama.cpp's recipe (quant_mix_test.cc has the rules; tests/peer compares whole
// files with llama.cpp's llama_model_quantize): Q4_K_M on 8 layers gives Q6_K to output,
// attn_v and ffn_down of layers 0, 3 (8/8 = 1; (3 - 1) % 3 == 2), 6 and 7 (>= 7 * 8 / 8).
TEST(Synth, MixRecipe) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  SynthOptions o = Tiny();
  o.n_layer = 8;
  o.n_embd = 256;
  o.n_ff = 512;
  o.mix = "q4_k_m";
  ASSERT_TRUE(SynthesizeModel(o, dir.File("m.gguf")).ok());
  auto f = gguf::File::Open(dir.File("m.gguf"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(*(*f)->GetInt("general.file_type"), 15);
  EXPECT_EQ(*(*f)->GetInt("general.quantization_version"), 2);
  EXPECT_EQ((*f)->FindTensor("output.weight")->type, DType::kQ6_K);
  EXPECT_EQ((*f)->FindTensor("token_embd.weight")->type, DType::kQ4_K);
  for (int l = 0; l < 8; ++l) {
    const bool more = l == 0 || l == 3 || l == 6 || l == 7;
    const std::string p = "blk." + std::to_string(l) + ".";
    EXPECT_EQ((*f)->FindTensor(p + "attn_v.weight")->type, more ? DType::kQ6_K : DType::kQ4_K);
    EXPECT_EQ((*f)->FindTensor(p + "ffn_down.weight")->type, more ? DType::kQ6_K : DType::kQ4_K);
    EXPECT_EQ((*f)->FindTensor(p + "attn_q.weight")->type, DType::kQ4_K);
    EXPECT_EQ((*f)->FindTensor(p + "ffn_norm.weight")->type, DType::kF32);
  }
}

TEST(Synth, VocabWithoutTokensIsAnError) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  gguf::Writer w;
  w.SetString("general.architecture", "llama");
  ASSERT_TRUE(w.WriteFile(dir.File("novocab.gguf")).ok());
  SynthOptions o = Tiny();
  o.vocab_from = dir.File("novocab.gguf");
  const absl::Status s = SynthesizeModel(o, dir.File("out.gguf"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("has no tokenizer.ggml.tokens"));
}

}  // namespace
}  // namespace phx::model
