// Host-side code of kernels/ (no GPU): dtype/head-dim dispatch, the launchers' argument checks,
// the Q8_0 planar repacking, the GEMM path choice and the sampler's Philox generator.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/dtype.h"
#include "kernels/attention.h"
#include "kernels/dispatch.h"
#include "kernels/elementwise.h"
#include "kernels/error.h"
#include "kernels/gemm.h"
#include "kernels/philox.h"
#include "kernels/quant_layout.h"
#include "kernels/sampling.h"

namespace phx::kernels {
namespace {

bool MessageHas(const char* s) {
  return std::string(LastErrorMessage()).find(s) != std::string::npos;
}

alignas(16) char g_dev[4096];  // stands in for device pointers (never dereferenced)
void* Ptr(int i = 0) { return g_dev + 16 * i; }

TEST(KernelDispatchTest, HeadDim) {
  int seen = 0;
  EXPECT_EQ(DispatchHeadDim(128,
                            [&](auto hd) {
                              seen = decltype(hd)::value;
                              return cudaSuccess;
                            }),
            cudaSuccess);
  EXPECT_EQ(seen, 128);
  EXPECT_EQ(DispatchHeadDim(96, [&](auto) { return cudaSuccess; }), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("head_dim 96")) << LastErrorMessage();
}

TEST(KernelDispatchTest, KvType) {
  DType seen = DType::kF32;
  EXPECT_EQ(DispatchKvType(DType::kBF16,
                           [&](auto t) {
                             seen = decltype(t)::value;
                             return cudaSuccess;
                           }),
            cudaSuccess);
  EXPECT_EQ(seen, DType::kBF16);
  EXPECT_EQ(DispatchKvType(DType::kQ4_0, [&](auto) { return cudaSuccess; }), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q4_0")) << LastErrorMessage();
  const cudaError_t e =
      PHX_DISPATCH_HEAD_DIM(64, kHd, { return kHd == 64 ? cudaSuccess : cudaErrorUnknown; });
  EXPECT_EQ(e, cudaSuccess);
}

PagedDecodeParams GoodDecode() {
  PagedDecodeParams p;
  p.q = p.out = Ptr(0);
  p.kv.k = Ptr(1);
  p.kv.v = Ptr(2);
  p.kv.n_kv_heads = 2;
  p.kv.head_dim = 64;
  p.n_heads = 8;
  p.q_stride = p.out_stride = 8 * 64;
  p.kv_indptr = p.kv_indices = static_cast<const int32_t*>(Ptr(3));
  return p;
}

TEST(KernelValidateTest, PagedDecode) {
  EXPECT_EQ(ValidatePagedDecode(GoodDecode()), cudaSuccess);
  PagedDecodeParams p = GoodDecode();
  p.kv.head_dim = 96;
  EXPECT_EQ(ValidatePagedDecode(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("96"));
  p = GoodDecode();
  p.kv.dtype = DType::kQ4_0;
  EXPECT_EQ(ValidatePagedDecode(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q4_0"));
  p = GoodDecode();
  p.q_stride = 100;
  EXPECT_EQ(ValidatePagedDecode(p), cudaErrorInvalidValue);
  p = GoodDecode();
  p.q = g_dev + 2;
  EXPECT_EQ(ValidatePagedDecode(p), cudaErrorInvalidValue);
  p = GoodDecode();
  p.num_merge = 3;
  p.merge = static_cast<const DecodeMergeItem*>(Ptr(4));
  EXPECT_EQ(ValidatePagedDecode(p), cudaErrorInvalidValue);  // no partials
}

TEST(KernelValidateTest, Gemm) {
  GemmParams p;
  p.x = Ptr(0);
  p.w = Ptr(1);
  p.y = Ptr(2);
  p.m = 4, p.n = 16, p.k = 64;
  p.ldx = p.ldw = 64;
  p.ldy = 16;
  EXPECT_EQ(ValidateGemm(p, "t"), cudaSuccess);
  p.k = 60;
  EXPECT_EQ(ValidateGemm(p, "t"), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("k 60"));
  p.k = 64;
  p.dtype = DType::kQ8_0;
  EXPECT_EQ(ValidateGemm(p, "t"), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q8_0"));
}

TEST(KernelValidateTest, WeightGemvAndDequantize) {
  WeightGemvParams p;
  p.x = Ptr(0);
  p.w = Ptr(1);
  p.y = Ptr(2);
  p.m = 1, p.n = 32, p.k = 512, p.ldx = 512, p.ldy = 32;
  p.w_dtype = DType::kQ4_K;
  EXPECT_EQ(ValidateWeightGemv(p), cudaSuccess);
  p.k = p.ldx = 288;  // a multiple of 32, not of 256
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("k 288"));
  p.w_dtype = DType::kQ8_0;
  EXPECT_EQ(ValidateWeightGemv(p), cudaSuccess);
  p.w_dtype = DType::kQ6_K;  // blocks of 256, like q4_K
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q6_K k 288"));
  p.w_dtype = DType::kQ5_K;  // blocks of 256 too
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q5_K k 288"));
  p.k = p.ldx = 512;
  EXPECT_EQ(ValidateWeightGemv(p), cudaSuccess);
  p.w_dtype = DType::kQ6_K;
  EXPECT_EQ(ValidateWeightGemv(p), cudaSuccess);
  p.w_dtype = DType::kBF16;  // dense weights must match 16-bit activations (f16)
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  p.w_dtype = DType::kQ4_0;
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q4_0"));

  // f32 activations: any weight type, f32 output only; a bias needs f32 output.
  p.act_dtype = DType::kF32;
  p.w_dtype = DType::kBF16;
  p.y_dtype = DType::kF32;
  EXPECT_EQ(ValidateWeightGemv(p), cudaSuccess);
  p.y_dtype = DType::kBF16;
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("f32 only"));
  p.y_dtype = DType::kF32;
  p.bias = reinterpret_cast<const float*>(Ptr(3));
  EXPECT_EQ(ValidateWeightGemv(p), cudaSuccess);
  p.act_dtype = DType::kF16;
  p.w_dtype = DType::kF16;
  p.y_dtype = DType::kF16;
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("bias needs f32"));
  p.bias = nullptr;

  // Extra outputs of the same x (q/k/v, gate/up).
  p.num_extra = 2;
  p.extra[0] = {Ptr(4), Ptr(5), 8, nullptr, 8};
  p.extra[1] = {Ptr(6), Ptr(7), 8, nullptr, 8};
  EXPECT_EQ(ValidateWeightGemv(p), cudaSuccess);
  p.extra[1].w = nullptr;
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("extra output 1"));
  p.num_extra = 3;
  EXPECT_EQ(ValidateWeightGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("3 extra outputs"));

  DequantizeParams d;
  d.w = Ptr(0);
  d.out = Ptr(1);
  d.rows = 4, d.cols = 256;
  d.w_dtype = DType::kQ4_K;
  EXPECT_EQ(ValidateDequantize(d), cudaSuccess);
  d.w_dtype = DType::kQ6_K;
  EXPECT_EQ(ValidateDequantize(d), cudaSuccess);
  d.w_dtype = DType::kQ5_K;
  EXPECT_EQ(ValidateDequantize(d), cudaSuccess);
  d.w_dtype = DType::kQ5_0;  // dequantized at load (LaunchDequantizeBlocks), not here
  EXPECT_EQ(ValidateDequantize(d), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q5_0"));
  d.w_dtype = DType::kQ5_K;
  d.cols = 100;
  EXPECT_EQ(ValidateDequantize(d), cudaErrorInvalidValue);
}

// The load-time dequantizer: the nine types without a GEMV, whole blocks, f16/bf16 output.
TEST(KernelValidateTest, DequantizeBlocks) {
  const DType ok32[] = {DType::kQ4_0, DType::kQ4_1,   DType::kQ5_0,
                        DType::kQ5_1, DType::kIQ4_NL, DType::kMXFP4};
  const DType ok256[] = {DType::kQ2_K, DType::kQ3_K, DType::kIQ4_XS};
  DequantizeBlocksParams p;
  p.src = Ptr(0);
  p.out = Ptr(1);
  for (DType t : ok32) {
    p.src_dtype = t;
    p.n = 96;
    EXPECT_TRUE(DequantizeBlocksSupports(t)) << KernelTypeName(t);
    EXPECT_EQ(ValidateDequantizeBlocks(p), cudaSuccess) << KernelTypeName(t);
    p.n = 80;
    EXPECT_EQ(ValidateDequantizeBlocks(p), cudaErrorInvalidValue) << KernelTypeName(t);
  }
  for (DType t : ok256) {
    p.src_dtype = t;
    p.n = 512;
    EXPECT_TRUE(DequantizeBlocksSupports(t)) << KernelTypeName(t);
    EXPECT_EQ(ValidateDequantizeBlocks(p), cudaSuccess) << KernelTypeName(t);
    p.n = 96;  // whole 32s, not whole 256-element blocks
    EXPECT_EQ(ValidateDequantizeBlocks(p), cudaErrorInvalidValue) << KernelTypeName(t);
    EXPECT_TRUE(MessageHas("multiple of the block (256)"));
  }
  p.n = 512;
  for (DType t : {DType::kF16, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    p.src_dtype = t;  // the types the GEMV reads as they are
    EXPECT_FALSE(DequantizeBlocksSupports(t)) << KernelTypeName(t);
    EXPECT_EQ(ValidateDequantizeBlocks(p), cudaErrorInvalidValue) << KernelTypeName(t);
  }
  p.src_dtype = DType::kQ2_K;
  p.out_dtype = DType::kF32;
  EXPECT_EQ(ValidateDequantizeBlocks(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("output dtype f32"));
  p.out_dtype = DType::kBF16;
  EXPECT_EQ(ValidateDequantizeBlocks(p), cudaSuccess);
  p.out = reinterpret_cast<char*>(Ptr(1)) + 2;
  EXPECT_EQ(ValidateDequantizeBlocks(p), cudaErrorInvalidValue);
  p.out = nullptr;
  p.n = 0;  // nothing to do: no pointer needed
  EXPECT_EQ(ValidateDequantizeBlocks(p), cudaSuccess);
}

TEST(KernelValidateTest, Elementwise) {
  RmsNormParams n;
  n.x = n.w = Ptr(0);
  n.y = Ptr(1);
  n.rows = 2, n.dim = 64, n.x_stride = n.y_stride = 64;
  EXPECT_EQ(ValidateRmsNorm(n), cudaSuccess);
  n.dtype = DType::kQ8_0;
  EXPECT_EQ(ValidateRmsNorm(n), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q8_0"));
  n.dtype = DType::kF16;
  n.residual = Ptr(2);
  n.residual_stride = 32;
  EXPECT_EQ(ValidateRmsNorm(n), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("residual stride 32"));

  SwiGluParams s;
  s.gate = s.up = s.out = Ptr(0);
  s.rows = 3, s.dim = 10, s.gate_stride = s.up_stride = s.out_stride = 10;
  EXPECT_EQ(ValidateSwiGlu(s), cudaSuccess);
  s.dim = -1;
  EXPECT_EQ(ValidateSwiGlu(s), cudaErrorInvalidValue);

  EmbeddingParams e;
  e.table = e.out = Ptr(0);
  e.ids = static_cast<const int32_t*>(Ptr(1));
  e.vocab = 100, e.num_tokens = 2, e.dim = 64, e.out_stride = 64;
  e.table_dtype = DType::kQ8_0;
  EXPECT_EQ(ValidateEmbedding(e), cudaSuccess);
  e.dim = e.out_stride = 48;  // not a multiple of 32
  EXPECT_EQ(ValidateEmbedding(e), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("dim 48"));
  e.table_dtype = DType::kQ4_0;
  EXPECT_EQ(ValidateEmbedding(e), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q4_0"));
}

TEST(KernelValidateTest, Sampling) {
  SamplingParams p;
  p.logits = static_cast<const float*>(Ptr(0));
  p.row_params = static_cast<const SamplingRow*>(Ptr(1));
  p.tokens = static_cast<int32_t*>(Ptr(2));
  p.rows = 2, p.vocab = 1000, p.logits_stride = 1000;
  EXPECT_EQ(ValidateSampling(p), cudaSuccess);
  p.logits_stride = 999;
  EXPECT_EQ(ValidateSampling(p), cudaErrorInvalidValue);
  p.vocab = 0;
  EXPECT_EQ(ValidateSampling(p), cudaErrorInvalidValue);
}

TEST(QuantLayoutTest, Q8_0PlanarRoundTripsAndDequantizes) {
  const int64_t rows = 5, cols = 96;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.f, 2.f);
  std::vector<float> x(rows * cols);
  for (float& v : x) v = nd(rng);
  std::vector<uint8_t> blocks(rows * cols / 32 * sizeof(BlockQ8_0));
  for (int64_t r = 0; r < rows; ++r) {
    ASSERT_TRUE(QuantizeRow(DType::kQ8_0, x.data() + r * cols,
                            blocks.data() + r * (cols / 32) * sizeof(BlockQ8_0), cols));
  }
  std::vector<uint8_t> planar(DeviceMatrixBytes(DType::kQ8_0, rows, cols));
  ASSERT_EQ(planar.size(), Q8_0PlanarBytes(rows, cols));
  EXPECT_EQ(Q8_0PlanarScaleOffset(rows, cols) % 256, 0u);
  RepackQ8_0ToPlanar(blocks.data(), rows, cols, planar.data());
  std::vector<uint8_t> back(blocks.size());
  PlanarToQ8_0(planar.data(), rows, cols, back.data());
  EXPECT_EQ(back, blocks);

  // The planar values (quant times its block's scale) are base/dtype's dequantization.
  std::vector<float> ref(rows * cols);
  ASSERT_TRUE(DequantizeRow(DType::kQ8_0, blocks.data(), ref.data(), rows * cols));
  const auto* qs = reinterpret_cast<const int8_t*>(planar.data());
  const uint8_t* scales = planar.data() + Q8_0PlanarScaleOffset(rows, cols);
  for (int64_t i = 0; i < rows * cols; ++i) {
    uint16_t d;
    std::memcpy(&d, scales + 2 * (i / 32), 2);
    ASSERT_EQ(qs[i] * F16ToF32(d), ref[i]) << i;
  }
}

// The planar Q6_K layout keeps every byte of GGUF's blocks (round trip), each section starts at
// a multiple of 256 bytes, and a block's fields sit where the device unit reads them.
TEST(QuantLayoutTest, Q6KPlanarRoundTrips) {
  const int64_t rows = 3, cols = 768;
  std::mt19937 rng(5);
  std::vector<uint8_t> blocks(rows * cols / kQK_K * sizeof(BlockQ6_K));
  for (uint8_t& b : blocks) b = static_cast<uint8_t>(rng());
  const Q6KPlanarLayout l = Q6KPlanar(rows, cols);
  EXPECT_EQ(l.qh % 256, 0u);
  EXPECT_EQ(l.scales % 256, 0u);
  EXPECT_EQ(l.d % 256, 0u);
  EXPECT_GE(l.qh, static_cast<size_t>(rows * cols / 2));
  EXPECT_EQ(DeviceMatrixBytes(DType::kQ6_K, rows, cols), l.bytes);
  std::vector<uint8_t> planar(l.bytes, 0xAB);
  RepackQ6_KToPlanar(blocks.data(), rows, cols, planar.data());
  std::vector<uint8_t> back(blocks.size());
  PlanarToQ6_K(planar.data(), rows, cols, back.data());
  EXPECT_EQ(back, blocks);
  // Block 4 (row 1, block 1): its ql at 4 * 128, qh at qh + 4 * 64, scales at scales + 4 * 16.
  BlockQ6_K b4;
  std::memcpy(&b4, blocks.data() + 4 * sizeof(BlockQ6_K), sizeof(b4));
  EXPECT_EQ(std::memcmp(planar.data() + 4 * 128, b4.ql, 128), 0);
  EXPECT_EQ(std::memcmp(planar.data() + l.qh + 4 * 64, b4.qh, 64), 0);
  EXPECT_EQ(std::memcmp(planar.data() + l.scales + 4 * 16, b4.scales, 16), 0);
  EXPECT_EQ(std::memcmp(planar.data() + l.d + 4 * 2, &b4.d, 2), 0);
}

TEST(QuantLayoutTest, DeviceMatrixBytes) {
  EXPECT_EQ(DeviceMatrixBytes(DType::kQ4_K, 3, 512), 3u * 2 * 144);
  EXPECT_EQ(DeviceMatrixBytes(DType::kQ4_K, 3, 500), 0u);
  EXPECT_EQ(DeviceMatrixBytes(DType::kQ6_K, 3, 500), 0u);
  EXPECT_EQ(DeviceMatrixBytes(DType::kQ5_K, 3, 512), 3u * 2 * 176);
  EXPECT_EQ(DeviceMatrixBytes(DType::kQ5_K, 3, 500), 0u);
  EXPECT_EQ(DeviceMatrixBytes(DType::kBF16, 3, 10), 60u);
  EXPECT_EQ(DeviceMatrixBytes(DType::kQ4_0, 3, 32), 0u);
}

TEST(GemmPathTest, Choice) {
  EXPECT_EQ(ChooseGemmPath(DType::kQ8_0, 1, true, false), GemmPath::kGemv);
  EXPECT_EQ(ChooseGemmPath(DType::kQ4_K, 64, true, false), GemmPath::kDequantThenGemm);
  EXPECT_EQ(ChooseGemmPath(DType::kQ6_K, 64, true, false), GemmPath::kDequantThenGemm);
  EXPECT_EQ(ChooseGemmPath(DType::kQ6_K, 8, true, false), GemmPath::kGemv);
  EXPECT_EQ(ChooseGemmPath(DType::kQ5_K, 9, true, false), GemmPath::kDequantThenGemm);
  EXPECT_EQ(ChooseGemmPath(DType::kQ5_K, 8, true, false), GemmPath::kGemv);
  EXPECT_EQ(ChooseGemmPath(DType::kF16, 64, true, false), GemmPath::kWgmma);
  EXPECT_EQ(ChooseGemmPath(DType::kF16, 64, false, false), GemmPath::kMma);
  EXPECT_EQ(ChooseGemmPath(DType::kBF16, 64, true, true), GemmPath::kCublas);
  EXPECT_STREQ(GemmPathName(GemmPath::kDequantThenGemm), "dequant+gemm");
}

// Known-answer vectors of Random123's philox4x32_10.
TEST(PhiloxTest, KnownAnswers) {
  Philox4x32Out o = Philox4x32_10(0, 0, 0);
  EXPECT_EQ(o.v[0], 0x6627e8d5u);
  EXPECT_EQ(o.v[1], 0xe169c58du);
  EXPECT_EQ(o.v[2], 0xbc57ac4cu);
  EXPECT_EQ(o.v[3], 0x9b00dbd8u);
  o = Philox4x32_10(~0ull, ~0ull, ~0ull);
  EXPECT_EQ(o.v[0], 0x408f276du);
  EXPECT_EQ(o.v[1], 0x41c83b0eu);
  EXPECT_EQ(o.v[2], 0xa20bc7c6u);
  EXPECT_EQ(o.v[3], 0x6d5451fdu);
  o = Philox4x32_10(0x85a308d3243f6a88ull, 0x0370734413198a2eull, 0x299f31d0a4093822ull);
  EXPECT_EQ(o.v[0], 0xd16cfe09u);
  EXPECT_EQ(o.v[1], 0x94fdccebu);
  EXPECT_EQ(o.v[2], 0x5001e420u);
  EXPECT_EQ(o.v[3], 0x24126ea1u);
}

TEST(PhiloxTest, ScaleToRange) {
  EXPECT_EQ(ScaleToRange(0, 1000), 0u);
  EXPECT_EQ(ScaleToRange(~0ull, 1000), 999u);
  EXPECT_EQ(ScaleToRange(1ull << 63, 1000), 500u);
  EXPECT_NE(PhiloxBits64(1, 0), PhiloxBits64(1, 1));
  EXPECT_EQ(PhiloxBits64(42, 7), PhiloxBits64(42, 7));
}

}  // namespace
}  // namespace phx::kernels
