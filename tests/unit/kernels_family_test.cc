// Host-side code of the model-family kernels (no GPU): the argument checks of the MoE launchers,
// the soft-cap pass, the RMSNorm group/post-add forms and the attention options; the decode
// plans' kv_len (the sliding window's anchor); RoPE's YaRN correction dims.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/attention.h"
#include "kernels/attention_plan.h"
#include "kernels/elementwise.h"
#include "kernels/error.h"
#include "kernels/moe.h"

namespace phx::kernels {
namespace {

bool MessageHas(const char* s) {
  return std::string(LastErrorMessage()).find(s) != std::string::npos;
}

alignas(16) char g_dev[4096];  // stands in for device pointers (never dereferenced)
void* Ptr(int i = 0) { return g_dev + 16 * i; }

MoeRouteParams GoodRoute() {
  MoeRouteParams p;
  p.logits = static_cast<const float*>(Ptr(0));
  p.logits_stride = 128;
  p.weights = static_cast<float*>(Ptr(1));
  p.weights_stride = 8;
  p.ids = static_cast<int32_t*>(Ptr(2));
  p.rows = 3, p.n_experts = 128, p.k = 8;
  return p;
}

TEST(KernelFamilyValidateTest, MoeRoute) {
  EXPECT_EQ(ValidateMoeRoute(GoodRoute()), cudaSuccess);
  MoeRouteParams p = GoodRoute();
  p.k = 129;
  EXPECT_EQ(ValidateMoeRoute(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("k 129")) << LastErrorMessage();
  p = GoodRoute();
  p.n_experts = p.logits_stride = kMaxRouteExperts + 1;
  EXPECT_EQ(ValidateMoeRoute(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("n_experts 1025")) << LastErrorMessage();
  p = GoodRoute();
  p.weights_stride = 4;
  EXPECT_EQ(ValidateMoeRoute(p), cudaErrorInvalidValue);
  p = GoodRoute();
  p.ids = nullptr;
  EXPECT_EQ(ValidateMoeRoute(p), cudaErrorInvalidValue);
  p.rows = 0;  // nothing to do: no pointers needed
  EXPECT_EQ(ValidateMoeRoute(p), cudaSuccess);
}

ExpertGemvParams GoodExperts() {
  ExpertGemvParams p;
  p.x = static_cast<const float*>(Ptr(0));
  p.ldx = 256;
  p.ids = static_cast<const int32_t*>(Ptr(1));
  p.tokens = 4, p.top_k = 2, p.n_experts = 9, p.k = 256, p.w_dtype = DType::kQ4_K;
  p.out[0].w = Ptr(2), p.out[0].y = static_cast<float*>(Ptr(3)), p.out[0].ldy = 101;
  p.out[0].n = 101;
  p.num_outputs = 1;
  p.workspace = Ptr(4);
  return p;
}

TEST(KernelFamilyValidateTest, ExpertGemv) {
  EXPECT_EQ(ValidateExpertGemv(GoodExperts()), cudaSuccess);
  ExpertGemvParams p = GoodExperts();
  p.k = 512 + 32;  // not whole Q4_K blocks
  p.ldx = p.k;
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("multiple of 256")) << LastErrorMessage();
  p = GoodExperts();
  p.w_dtype = DType::kQ4_0;
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("q4_0")) << LastErrorMessage();
  p = GoodExperts();
  p.x = reinterpret_cast<const float*>(g_dev + 4);  // not 16-byte aligned
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  p = GoodExperts();
  p.ldx = 258;  // not a multiple of 4
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  p = GoodExperts();
  p.num_outputs = kMaxExpertOutputs + 1;
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  p = GoodExperts();
  p.out[0].ldy = 100;
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  p = GoodExperts();
  p.workspace = nullptr;
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  p = GoodExperts();
  p.n_experts = 0;
  EXPECT_EQ(ValidateExpertGemv(p), cudaErrorInvalidValue);
  EXPECT_EQ(ExpertWorkspaceBytes(9, 8), (9u + 2 + 8) * 4);
}

TEST(KernelFamilyValidateTest, MoeCombineAndSoftcap) {
  MoeCombineParams c;
  c.y = static_cast<const float*>(Ptr(0)), c.y_stride = 64;
  c.weights = static_cast<const float*>(Ptr(1)), c.weights_stride = 2;
  c.residual = static_cast<const float*>(Ptr(2)), c.residual_stride = 64;
  c.out = static_cast<float*>(Ptr(2)), c.out_stride = 64;
  c.rows = 3, c.k = 2, c.dim = 64;
  EXPECT_EQ(ValidateMoeCombine(c), cudaSuccess);
  c.weights_stride = 1;
  EXPECT_EQ(ValidateMoeCombine(c), cudaErrorInvalidValue);
  c.weights_stride = 2, c.k = 0;
  EXPECT_EQ(ValidateMoeCombine(c), cudaErrorInvalidValue);

  SoftcapParams s;
  s.y = static_cast<float*>(Ptr(0)), s.stride = 100, s.rows = 2, s.cols = 100, s.cap = 30.f;
  EXPECT_EQ(ValidateSoftcap(s), cudaSuccess);
  s.cap = 0.f;
  EXPECT_EQ(ValidateSoftcap(s), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("cap 0")) << LastErrorMessage();
  s.cap = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ValidateSoftcap(s), cudaErrorInvalidValue);
  s.cap = 5.f, s.stride = 99;
  EXPECT_EQ(ValidateSoftcap(s), cudaErrorInvalidValue);
}

TEST(KernelFamilyValidateTest, RmsNormGroupsAndPostAdd) {
  RmsNormParams p;
  p.x = p.y = Ptr(0), p.w = Ptr(1), p.dtype = DType::kF32;
  p.x_stride = p.y_stride = 512, p.rows = 2, p.dim = 512, p.group = 128;
  EXPECT_EQ(ValidateRmsNorm(p), cudaSuccess);
  p.group = 96;  // does not divide 512
  EXPECT_EQ(ValidateRmsNorm(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("group 96")) << LastErrorMessage();
  p.group = 0;
  p.post_add = Ptr(2), p.post_add_stride = 512;
  EXPECT_EQ(ValidateRmsNorm(p), cudaSuccess);
  p.residual = Ptr(3), p.residual_stride = 512;  // post_add and residual are exclusive
  EXPECT_EQ(ValidateRmsNorm(p), cudaErrorInvalidValue);
  p.residual = nullptr, p.post_add_stride = 100;
  EXPECT_EQ(ValidateRmsNorm(p), cudaErrorInvalidValue);
}

PagedPrefillParams GoodPrefill() {
  PagedPrefillParams p;
  p.q = p.out = Ptr(0);
  p.kv.k = Ptr(1);
  p.kv.v = Ptr(2);
  p.kv.n_kv_heads = 2;
  p.kv.head_dim = 128;
  p.n_heads = 8;
  p.q_stride = p.out_stride = 8 * 128;
  p.kv_indptr = p.kv_indices = static_cast<const int32_t*>(Ptr(3));
  return p;
}

TEST(KernelFamilyValidateTest, AttentionOptions) {
  PagedPrefillParams p = GoodPrefill();
  p.softcap = 50.f, p.window = 4096;
  EXPECT_EQ(ValidatePagedPrefill(p), cudaSuccess);
  p.softcap = -1.f;
  EXPECT_EQ(ValidatePagedPrefill(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("softcap -1")) << LastErrorMessage();
  p.softcap = std::nanf("");
  EXPECT_EQ(ValidatePagedPrefill(p), cudaErrorInvalidValue);
  p.softcap = 0.f, p.window = -3;
  EXPECT_EQ(ValidatePagedPrefill(p), cudaErrorInvalidValue);
  EXPECT_TRUE(MessageHas("window -3")) << LastErrorMessage();
  PagedDecodeParams d;
  d.q = d.out = Ptr(0);
  d.kv.k = Ptr(1), d.kv.v = Ptr(2), d.kv.n_kv_heads = 2, d.kv.head_dim = 64;
  d.n_heads = 8, d.q_stride = d.out_stride = 8 * 64;
  d.kv_indptr = d.kv_indices = static_cast<const int32_t*>(Ptr(3));
  d.window = -1;
  EXPECT_EQ(ValidatePagedDecode(d), cudaErrorInvalidValue);
  d.window = 1, d.softcap = 5.f;
  EXPECT_EQ(ValidatePagedDecode(d), cudaSuccess);
}

// Every decode work item carries its sequence's length (the window's anchor), in both plans.
TEST(KernelFamilyPlanTest, DecodeItemsCarryTheSequenceLength) {
  const std::vector<int32_t> q_indptr{0, 1, 2}, kv_indptr{0, 1, 63}, last{5, 16};
  std::vector<int32_t> indices(63);
  for (int32_t i = 0; i < 63; ++i) indices[i] = i;
  BatchView b;
  b.q_indptr = q_indptr.data(), b.kv_indptr = kv_indptr.data(), b.kv_indices = indices.data();
  b.kv_last_page_len = last.data(), b.num_seqs = 2, b.block_size = 16;
  AttentionShape shape;
  shape.n_heads = 32, shape.n_kv_heads = 8, shape.head_dim = 128, shape.num_blocks = 63;
  const int32_t len[2] = {5, 62 * 16};
  DecodePlan plan;
  ASSERT_EQ(PlanDecode(b, shape, {}, &plan), cudaSuccess);
  ASSERT_GT(plan.work.size(), 2u);  // the long sequence splits
  for (const DecodeWorkItem& w : plan.work) EXPECT_EQ(w.kv_len, len[w.seq]);
  DecodePlan fixed;
  ASSERT_EQ(PlanDecodeFixed(b, shape, 4, 3, &fixed), cudaSuccess);
  for (const DecodeWorkItem& w : fixed.work) EXPECT_EQ(w.kv_len, w.seq < 2 ? len[w.seq] : 0);
}

}  // namespace
}  // namespace phx::kernels
