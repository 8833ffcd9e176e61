// llama.cpp's per-tensor recipes (runtime/model/quant_mix.h) on hand-checked cases from
// src/llama-quant.cpp; tests/peer/quant_mix_test.sh compares whole files with llama.cpp's own
// llama_model_quantize.
#include "runtime/model/quant_mix.h"

#include <string>

#include "base/strings.h"
#include "gtest/gtest.h"

namespace phx::model {
namespace {

DType TypeOf(std::string_view mix, const MixModel& m, const std::string& name, int64_t ne0 = 2048,
             int n_dims = 2) {
  const auto q = FindQuantMix(mix);
  EXPECT_TRUE(q.has_value()) << mix;
  const auto t = MixTensorType(*q, m, name, n_dims, ne0);
  EXPECT_TRUE(t.has_value()) << mix << " " << name;
  return t.value_or(DType::kI32);
}

std::string Blk(int l, const std::string& what) { return StrCat("blk.", l, ".", what, ".weight"); }

MixModel Llama1B() { return MixModel{"llama", 22, 32, 4, 0, true}; }

TEST(QuantMix, Names) {
  EXPECT_EQ(QuantMixNames().size(), 17u);
  EXPECT_EQ(FindQuantMix("q4_k_m")->file_type, 15u);
  EXPECT_EQ(FindQuantMix("Q2_K_S")->file_type, 21u);
  EXPECT_EQ(FindQuantMix("IQ4_XS")->default_type, DType::kIQ4_XS);
  EXPECT_FALSE(FindQuantMix("Q4_K").has_value());
  EXPECT_FALSE(FindQuantMix("IQ2_XXS").has_value());
  EXPECT_EQ(FileTypeForDType(DType::kQ4_K), 15u);
  EXPECT_EQ(FileTypeForDType(DType::kQ3_K), 12u);
  EXPECT_EQ(FileTypeForDType(DType::kMXFP4), 38u);
}

// Q4_K_M: Q6_K for output, and for attn_v / ffn_down where use_more_bits(i, n): the first and
// last eighth of the layers and every third layer in between.
TEST(QuantMix, Q4_K_M) {
  const MixModel m = Llama1B();
  EXPECT_EQ(TypeOf("Q4_K_M", m, "output.weight"), DType::kQ6_K);
  EXPECT_EQ(TypeOf("Q4_K_M", m, "token_embd.weight"), DType::kQ4_K);
  const std::vector<int> more = {0, 1, 4, 7, 10, 13, 16, 19, 20, 21};  // n/8 = 2, 7n/8 = 19
  for (int l = 0; l < 22; ++l) {
    const bool q6 = std::find(more.begin(), more.end(), l) != more.end();
    EXPECT_EQ(TypeOf("Q4_K_M", m, Blk(l, "attn_v")), q6 ? DType::kQ6_K : DType::kQ4_K) << l;
    EXPECT_EQ(TypeOf("Q4_K_M", m, Blk(l, "ffn_down"), 5632), q6 ? DType::kQ6_K : DType::kQ4_K) << l;
    for (const char* w : {"attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"}) {
      EXPECT_EQ(TypeOf("Q4_K_M", m, Blk(l, w)), DType::kQ4_K) << w << " " << l;
    }
  }
  // Norms and other 1-D tensors are not quantized.
  EXPECT_EQ(TypeOf("Q4_K_M", m, Blk(3, "attn_norm"), 2048, 1), DType::kF32);
  EXPECT_EQ(TypeOf("Q4_K_M", m, "output_norm.weight", 2048, 1), DType::kF32);
}

TEST(QuantMix, TiedOutputQuantizesTheEmbeddingAsTheOutput) {
  MixModel m = Llama1B();
  m.has_output = false;
  EXPECT_EQ(TypeOf("Q4_K_M", m, "token_embd.weight"), DType::kQ6_K);
  EXPECT_EQ(TypeOf("Q4_0", m, "token_embd.weight"), DType::kQ6_K);
  EXPECT_EQ(TypeOf("Q8_0", m, "token_embd.weight"), DType::kQ8_0);
  m.has_output = true;
  EXPECT_EQ(TypeOf("Q4_0", m, "token_embd.weight"), DType::kQ4_0);
  EXPECT_EQ(TypeOf("Q4_0", m, "output.weight"), DType::kQ6_K);
}

TEST(QuantMix, LowBitMixes) {
  MixModel m = Llama1B();  // n_gqa = 8
  EXPECT_EQ(TypeOf("Q2_K", m, Blk(5, "attn_v")), DType::kQ4_K);
  EXPECT_EQ(TypeOf("Q2_K", m, Blk(5, "ffn_down")), DType::kQ3_K);
  EXPECT_EQ(TypeOf("Q2_K", m, Blk(5, "attn_output")), DType::kQ3_K);
  EXPECT_EQ(TypeOf("Q2_K", m, Blk(5, "ffn_up")), DType::kQ2_K);
  EXPECT_EQ(TypeOf("Q2_K_S", m, Blk(1, "ffn_down")), DType::kQ4_K);  // i < n/8
  EXPECT_EQ(TypeOf("Q2_K_S", m, Blk(2, "ffn_down")), DType::kQ2_K);
  EXPECT_EQ(TypeOf("Q3_K_M", m, Blk(1, "attn_v")), DType::kQ5_K);
  EXPECT_EQ(TypeOf("Q3_K_M", m, Blk(2, "attn_v")), DType::kQ4_K);
  EXPECT_EQ(TypeOf("Q3_K_M", m, Blk(0, "ffn_down")), DType::kQ5_K);  // i < n/16 = 1
  EXPECT_EQ(TypeOf("Q3_K_M", m, Blk(1, "ffn_down")), DType::kQ4_K);
  EXPECT_EQ(TypeOf("Q3_K_M", m, Blk(1, "attn_output")), DType::kQ4_K);
  EXPECT_EQ(TypeOf("Q3_K_L", m, Blk(9, "ffn_down")), DType::kQ5_K);
  EXPECT_EQ(TypeOf("Q3_K_S", m, Blk(9, "ffn_down")), DType::kQ3_K);
  EXPECT_EQ(TypeOf("Q4_K_S", m, Blk(3, "attn_v")), DType::kQ5_K);
  EXPECT_EQ(TypeOf("Q4_K_S", m, Blk(4, "attn_v")), DType::kQ4_K);
  EXPECT_EQ(TypeOf("IQ4_XS", m, Blk(4, "attn_v")), DType::kQ5_K);  // n_gqa >= 4
  EXPECT_EQ(TypeOf("IQ4_XS", m, Blk(1, "ffn_down")), DType::kQ5_K);
  EXPECT_EQ(TypeOf("IQ4_XS", m, Blk(9, "ffn_down")), DType::kIQ4_XS);
  m.n_head_kv = 16;  // n_gqa = 2
  EXPECT_EQ(TypeOf("Q2_K", m, Blk(5, "attn_v")), DType::kQ3_K);
  EXPECT_EQ(TypeOf("IQ4_NL", m, Blk(4, "attn_v")), DType::kIQ4_NL);
}

// Rows the type's block does not divide take llama.cpp's fallback type.
TEST(QuantMix, ShapeFallbacks) {
  const MixModel m = Llama1B();
  EXPECT_EQ(TypeOf("Q4_K_M", m, Blk(2, "ffn_down"), 288), DType::kQ5_0);
  EXPECT_EQ(TypeOf("Q4_K_M", m, Blk(0, "ffn_down"), 288), DType::kQ8_0);  // Q6_K -> Q8_0
  EXPECT_EQ(TypeOf("Q5_K_M", m, Blk(2, "ffn_down"), 288), DType::kQ5_1);
  EXPECT_EQ(TypeOf("IQ4_XS", m, Blk(9, "ffn_down"), 288), DType::kIQ4_NL);
  EXPECT_EQ(TypeOf("Q2_K", m, Blk(9, "ffn_up"), 96), DType::kQ4_0);
  EXPECT_EQ(TypeOf("Q4_K_M", m, "output.weight", 96), DType::kQ8_0);
  EXPECT_EQ(TypeOf("Q4_K_M", m, Blk(2, "ffn_up"), 48), DType::kF16);  // even Q5_0 does not fit
  EXPECT_FALSE(MixTensorType(*FindQuantMix("Q4_0"), m, Blk(0, "ffn_up"), 2, 48).has_value());
  EXPECT_EQ(PureTensorType(DType::kQ6_K, Blk(0, "ffn_up"), 2, 288), DType::kQ8_0);
  EXPECT_EQ(PureTensorType(DType::kMXFP4, Blk(0, "ffn_up"), 2, 288), DType::kMXFP4);
  EXPECT_EQ(PureTensorType(DType::kBF16, Blk(0, "ffn_up"), 2, 7), DType::kBF16);
  EXPECT_EQ(PureTensorType(DType::kQ4_K, Blk(0, "attn_norm"), 1, 256), DType::kF32);
  EXPECT_FALSE(PureTensorType(DType::kQ8_0, Blk(0, "ffn_up"), 2, 48).has_value());
}

}  // namespace
}  // namespace phx::model
