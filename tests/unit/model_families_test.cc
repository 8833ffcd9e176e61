// The model families as data: every family synthesizes, reads back with the features its
// metadata asks for and loads on the CPU backend; damaged or inconsistent files of each family
// (missing expert tensors, wrong norm shapes, expert counts that do not add up, tensors a family
// does not use, ...) fail at load with an error naming the tensor or key, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/strings.h"
#include "gmock/gmock.h"
#include "ops/cpu/cpu_backend.h"
#include "runtime/gguf/gguf.h"
#include "runtime/gguf/writer.h"
#include "runtime/model/family.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "tests/unit/gguf_test_util.h"

namespace phx::model {
namespace {

using ::phx::testing::SharedPath;
using ::phx::testing::TempDir;
using ::testing::HasSubstr;

SynthOptions FamilyOptions(const std::string& arch) {
  SynthOptions o;
  o.arch = arch;
  o.vocab_from = SharedPath("models/stories260K.gguf");
  o.n_layer = 3;
  o.n_embd = 128;
  o.n_ff = 256;
  o.n_head = 4;
  o.n_head_kv = 2;
  o.context_length = 256;
  o.dtype = DType::kF16;
  if (arch == "mixtral" || arch == "qwen3moe") {
    o.n_expert = 8;
    o.n_expert_used = 2;
  }
  if (arch == "qwen3moe") o.n_ff_expert = 64;
  if (arch == "gemma2" || arch == "gemma3") o.sliding_window = 32;
  if (arch == "bert") {  // no GQA; bge's WordPiece vocabulary
    o.n_head_kv = o.n_head;
    o.vocab_from = SharedPath("vocab/ggml-vocab-bert-bge.gguf");
  }
  return o;
}

absl::StatusOr<std::unique_ptr<Model>> LoadCpu(const std::string& path, ops::Backend& b) {
  return Model::Load(path, b);
}

TEST(ModelFamilies, EveryFamilyIsInTheTable) {
  std::set<std::string> names;
  for (const auto& f : Families()) names.insert(std::string(f.arch));
  EXPECT_EQ(names, (std::set<std::string>{"llama", "qwen2", "qwen3", "qwen3moe", "gemma2", "gemma3",
                                          "phi3", "bert"}));
  EXPECT_EQ(FindFamily("gpt2"), nullptr);
}

TEST(ModelFamilies, SynthesizedFilesReadBackTheirFeatures) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  ops::cpu::CpuBackend cpu(1);
  for (const char* arch :
       {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "mixtral", "qwen3moe"}) {
    SCOPED_TRACE(arch);
    const std::string path = dir.File(std::string(arch) + ".gguf");
    ASSERT_TRUE(SynthesizeModel(FamilyOptions(arch), path).ok());
    auto m = LoadCpu(path, cpu);
    ASSERT_TRUE(m.ok()) << m.status();
    const ModelConfig& c = (*m)->config();
    const std::string a = arch;
    EXPECT_EQ(c.arch, a == "mixtral" ? "llama" : a);
    EXPECT_EQ(c.rope_type, a == "llama" || a == "mixtral" ? RopeType::kNormal : RopeType::kNeox);
    EXPECT_EQ(c.qk_norm, a == "qwen3" || a == "qwen3moe" || a == "gemma3");
    EXPECT_EQ(c.post_norms, a == "gemma2" || a == "gemma3");
    EXPECT_EQ(c.ffn_act, c.post_norms ? FfnAct::kGeGlu : FfnAct::kSwiGlu);
    EXPECT_EQ(c.embd_scale, c.post_norms ? std::sqrt(128.f) : 1.f);
    EXPECT_EQ(c.fused_qkv, a == "phi3");
    EXPECT_EQ(c.fused_gate_up, a == "phi3");
    EXPECT_EQ(c.qkv_bias, a == "qwen2");
    EXPECT_EQ(c.tied_output, c.post_norms);  // Gemma ties by default
    EXPECT_EQ(c.attn_softcap, a == "gemma2" ? 50.f : 0.f);
    EXPECT_EQ(c.final_softcap, a == "gemma2" ? 30.f : 0.f);
    EXPECT_EQ(c.n_expert, c.moe() ? 8 : 0);
    EXPECT_EQ(c.n_ff_expert, a == "qwen3moe" ? 64 : a == "mixtral" ? 256 : 0);
    EXPECT_EQ(c.expert_weights_norm, c.moe());
    EXPECT_FLOAT_EQ(c.attn_scale, 1.f / std::sqrt(32.f));
    // Gemma 2 every other layer local (pattern 2), Gemma 3 5 local : 1 global (here 3 layers:
    // all local), the local ones with the window.
    for (int64_t l = 0; l < c.n_layer; ++l) {
      const bool sliding = a == "gemma2" ? l % 2 == 0 : a == "gemma3";
      EXPECT_EQ(c.layers[l].sliding, sliding) << "layer " << l;
      EXPECT_EQ(c.layers[l].rope_base, a == "gemma3" && sliding ? 10000.f : c.rope_freq_base);
    }
    EXPECT_EQ(c.sliding_window, c.post_norms ? 32 : 0);
    EXPECT_FALSE(c.FeatureList().empty());
  }
}

TEST(ModelFamilies, BertReadsBackAsAnEncoder) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  ops::cpu::CpuBackend cpu(1);
  const std::string path = dir.File("bert.gguf");
  ASSERT_TRUE(SynthesizeModel(FamilyOptions("bert"), path).ok());
  auto m = LoadCpu(path, cpu);
  ASSERT_TRUE(m.ok()) << m.status();
  const ModelConfig& c = (*m)->config();
  EXPECT_EQ(c.arch, "bert");
  EXPECT_FALSE(c.causal);
  EXPECT_EQ(c.rope_type, RopeType::kNone);
  EXPECT_EQ(c.norm, NormType::kLayer);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-12f);
  EXPECT_TRUE(c.post_ln && c.pos_embd && c.embd_norm && c.ffn_bias && c.qkv_bias && c.out_bias);
  EXPECT_EQ(c.n_token_types, 2);
  EXPECT_EQ(c.ffn_act, FfnAct::kGelu);
  EXPECT_FALSE(c.lm_head);
  EXPECT_EQ(c.vocab_size, 30522);
  EXPECT_FLOAT_EQ(c.attn_scale, 1.f / std::sqrt(32.f));
  EXPECT_THAT(c.FeatureList(), HasSubstr("bidirectional attention"));
  EXPECT_THAT(c.FeatureList(), HasSubstr("no output head (embeddings only)"));
  EXPECT_EQ((*m)->tokenizer().kind(), tok::VocabKind::kWpm);
  // The synthesizer writes what llama.cpp's converter writes for BERT: no RoPE or RMSNorm keys.
  EXPECT_FALSE((*m)->file().Has("bert.rope.freq_base"));
  EXPECT_FALSE((*m)->file().Has("bert.attention.layer_norm_rms_epsilon"));
}

// Copies a GGUF with edits: keys dropped or set, tensors dropped, reshaped (zero data of the
// new size) or added.
struct Edit {
  std::set<std::string> drop_keys, drop_tensors;
  std::function<void(gguf::Writer&)> set_keys;
  std::map<std::string, std::vector<int64_t>> reshape;
  std::vector<std::pair<std::string, std::vector<int64_t>>> add_f32;
};

absl::Status Rewrite(const std::string& src, const std::string& dst, const Edit& e) {
  auto f = gguf::File::Open(src);
  if (!f.ok()) return f.status();
  gguf::Writer w;
  for (const auto& [k, v] : (*f)->metadata()) {
    if (!e.drop_keys.count(k)) w.SetValue(k, v);
  }
  if (e.set_keys) e.set_keys(w);
  for (const auto& t : (*f)->tensors()) {
    if (e.drop_tensors.count(t.name)) continue;
    auto it = e.reshape.find(t.name);
    if (it != e.reshape.end()) {
      uint64_t n = 1;
      for (int64_t d : it->second) n *= static_cast<uint64_t>(d);
      const uint64_t bytes = *RowBytes(t.type, n);
      PHX_RETURN_IF_ERROR(w.AddTensor(t.name, t.type, it->second, std::vector<uint8_t>(bytes)));
      continue;
    }
    PHX_RETURN_IF_ERROR(
        w.AddTensor(t.name, t.type, t.dims, std::vector<uint8_t>(t.data, t.data + t.n_bytes)));
  }
  for (const auto& [name, dims] : e.add_f32) {
    uint64_t n = 1;
    for (int64_t d : dims) n *= static_cast<uint64_t>(d);
    PHX_RETURN_IF_ERROR(w.AddTensor(name, DType::kF32, dims, std::vector<uint8_t>(n * 4)));
  }
  return w.WriteFile(dst);
}

TEST(ModelFamilies, DamagedFilesFailWithClearErrors) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  ops::cpu::CpuBackend cpu(1);
  struct Case {
    const char* arch;
    Edit edit;
    absl::StatusCode code;
    std::string message;
  };
  using C = absl::StatusCode;
  auto u32 = [](std::string key, uint32_t v) {
    return [key, v](gguf::Writer& w) { w.SetU32(key, v); };
  };
  const std::vector<Case> cases = {
      {"qwen3moe",
       {.drop_tensors = {"blk.1.ffn_up_exps.weight"}},
       C::kNotFound,
       "tensor blk.1.ffn_up_exps.weight is missing"},
      {"qwen3moe",
       {.reshape = {{"blk.0.ffn_down_exps.weight", {64, 128, 7}}}},
       C::kInvalidArgument,
       "tensor blk.0.ffn_down_exps.weight has shape [64, 128, 7], expected [64, 128, 8]"},
      {"qwen3moe",
       {.drop_keys = {"qwen3moe.expert_count"}, .set_keys = u32("qwen3moe.expert_count", 0)},
       C::kInvalidArgument,
       "metadata qwen3moe.expert_used_count = 2 but qwen3moe.expert_count is 0"},
      {"qwen3moe",
       {.drop_keys = {"qwen3moe.expert_count", "qwen3moe.expert_used_count"}},
       C::kInvalidArgument,
       "qwen3moe: metadata qwen3moe.expert_count must be positive"},
      {"qwen3moe",
       {.drop_keys = {"qwen3moe.expert_used_count"},
        .set_keys = u32("qwen3moe.expert_used_count", 9)},
       C::kInvalidArgument,
       "qwen3moe.expert_used_count = 9 exceeds expert_count 8"},
      {"mixtral",
       {.drop_tensors = {"blk.2.ffn_gate_inp.weight"}},
       C::kNotFound,
       "tensor blk.2.ffn_gate_inp.weight is missing"},
      {"mixtral",
       {.drop_keys = {"llama.expert_count", "llama.expert_used_count"}},
       C::kNotFound,
       "tensor blk.0.ffn_gate.weight is missing"},
      {"qwen3",
       {.reshape = {{"blk.0.attn_q_norm.weight", {128}}}},
       C::kInvalidArgument,
       "tensor blk.0.attn_q_norm.weight has shape [128], expected [32]"},
      {"qwen3",
       {.drop_tensors = {"blk.0.attn_k_norm.weight"}},
       C::kNotFound,
       "tensor blk.0.attn_k_norm.weight is missing"},
      {"gemma2",
       {.add_f32 = {{"output.weight", {128, 512}}}},
       C::kInvalidArgument,
       "gemma2: tensor output.weight is not used (gemma2 ties the output to token_embd)"},
      {"gemma3",
       {.drop_tensors = {"blk.1.post_ffw_norm.weight"}},
       C::kNotFound,
       "tensor blk.1.post_ffw_norm.weight is missing"},
      {"gemma3",
       {.reshape = {{"blk.2.post_attention_norm.weight", {64}}}},
       C::kInvalidArgument,
       "tensor blk.2.post_attention_norm.weight has shape [64], expected [128]"},
      {"phi3",
       {.drop_tensors = {"blk.0.attn_qkv.weight"}},
       C::kNotFound,
       "tensor blk.0.attn_q.weight is missing"},
      {"phi3",
       {.reshape = {{"blk.1.ffn_up.weight", {128, 256}}}},
       C::kInvalidArgument,
       "tensor blk.1.ffn_up.weight has shape [128, 256], expected [128, 512]"},
      {"phi3",
       {.add_f32 = {{"rope_factors_long.weight", {16}}}},
       C::kNotFound,
       "tensor rope_factors_short.weight is missing (longrope needs both)"},
      {"llama",
       {.add_f32 = {{"rope_freqs.weight", {7}}}},
       C::kInvalidArgument,
       "tensor rope_freqs.weight has shape [7], expected [16]"},
      {"llama",
       {.add_f32 = {{"blk.0.ffn_up.bias", {256}}}},
       C::kInvalidArgument,
       "tensor blk.0.ffn_up.bias is not used by the llama family"},
      {"qwen3",
       {.add_f32 = {{"rope_freqs.weight", {16}}}},
       C::kInvalidArgument,
       "tensor rope_freqs.weight is not used by the qwen3 family"},
      {"qwen2",
       {.drop_tensors = {"blk.0.attn_q.bias"}},
       C::kNotFound,
       "qwen2: tensor blk.0.attn_q.bias is missing"},
      {"qwen2",
       {.drop_tensors = {"blk.1.attn_v.bias"}},
       C::kNotFound,
       "tensor blk.1.attn_v.bias is missing"},
      {"bert",
       {.drop_tensors = {"position_embd.weight"}},
       C::kNotFound,
       "bert: tensor position_embd.weight is missing (bert's absolute positions)"},
      {"bert",
       {.reshape = {{"position_embd.weight", {128, 100}}}},
       C::kInvalidArgument,
       "tensor position_embd.weight has shape [128, 100], expected [128, 256]"},
      {"bert",
       {.reshape = {{"blk.1.attn_output_norm.weight", {64}}}},
       C::kInvalidArgument,
       "tensor blk.1.attn_output_norm.weight has shape [64], expected [128]"},
      {"bert",
       {.drop_tensors = {"blk.2.layer_output_norm.bias"}},
       C::kNotFound,
       "tensor blk.2.layer_output_norm.bias is missing"},
      {"bert",
       {.drop_tensors = {"token_embd_norm.weight"}},
       C::kNotFound,
       "tensor token_embd_norm.weight is missing"},
      {"bert",
       {.drop_tensors = {"blk.0.attn_q.bias"}},
       C::kNotFound,
       "bert: tensor blk.0.attn_q.bias is missing (bert has q/k/v biases)"},
      {"bert",
       {.reshape = {{"token_types.weight", {64, 2}}}},
       C::kInvalidArgument,
       "tensor token_types.weight has shape [64, 2], expected [128, types]"},
      {"bert",
       {.drop_keys = {"bert.attention.causal"}},
       C::kNotFound,
       "metadata bert.attention.causal is missing"},
      {"bert",
       {.drop_keys = {"bert.attention.layer_norm_epsilon"}},
       C::kNotFound,
       "metadata bert.attention.layer_norm_epsilon is missing"},
      {"bert",
       {.add_f32 = {{"output_norm.weight", {128}}}},
       C::kInvalidArgument,
       "tensor output_norm.weight is not used by the bert family"},
      {"bert",
       {.add_f32 = {{"cls.output.weight", {128, 2}}}},
       C::kInvalidArgument,
       "tensor cls.output.weight is not used by the bert family"},
  };
  int i = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(StrCat(c.arch, ": ", c.message));
    const std::string good = dir.File(StrCat(c.arch, ".gguf"));
    if (!std::filesystem::exists(good))
      ASSERT_TRUE(SynthesizeModel(FamilyOptions(c.arch), good).ok());
    const std::string bad = dir.File(StrCat("bad", i++, ".gguf"));
    ASSERT_TRUE(Rewrite(good, bad, c.edit).ok());
    auto m = LoadCpu(bad, cpu);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), c.code) << m.status();
    EXPECT_THAT(std::string(m.status().message()), HasSubstr(c.message));
  }
}

}  // namespace
}  // namespace phx::model
