// Host-side parts of the CUDA backend that need no GPU: option checks, the attention shape
// check, the KV memory plan's argument rules, the scratch estimate, the convert/add/fill/softmax
// launchers' argument checks, and when decode steps are recorded as CUDA graphs, replayed or
// run eagerly (ops/cuda/graph_policy.h). (Everything that touches a device runs in tests/gpu.)
#include <gtest/gtest.h>

#include <string>

#include "base/dtype.h"
#include "kernels/convert.h"
#include "kernels/error.h"
#include "ops/cpu/cpu_backend.h"
#include "ops/cuda/graph_policy.h"
#include "ops/cuda/make_cuda_backend.h"

namespace phx {
namespace {

TEST(CudaBackendHostTest, RejectsBadOptionsBeforeTouchingTheDevice) {
  ops::cuda::CudaBackendOptions o;
  o.gpu_memory_utilization = 1.5f;
  auto b = ops::cuda::MakeCudaBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(b.status())) << b.status();
  EXPECT_NE(std::string(b.status().message()).find("gpu_memory_utilization"), std::string::npos);
  o = {};
  o.f32_weight_type = DType::kQ8_0;
  EXPECT_TRUE(absl::IsInvalidArgument(ops::cuda::MakeCudaBackend(o).status()));
}

TEST(CudaBackendHostTest, NoDeviceIsAnErrorNotACrash) {
  if (ops::cuda::CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  auto b = ops::cuda::MakeCudaBackend({});
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(b.status())) << b.status();
}

TEST(CudaBackendHostTest, AttentionShape) {
  EXPECT_TRUE(ops::cuda::CheckCudaAttentionShape(32, 8, 128).ok());
  EXPECT_TRUE(ops::cuda::CheckCudaAttentionShape(4, 4, 64).ok());
  const absl::Status hd = ops::cuda::CheckCudaAttentionShape(8, 4, 8);
  EXPECT_TRUE(absl::IsUnimplemented(hd));
  EXPECT_NE(std::string(hd.message()).find("head_dim 8"), std::string::npos) << hd;
  EXPECT_TRUE(absl::IsUnimplemented(ops::cuda::CheckCudaAttentionShape(6, 4, 64)));
}

// Every type the GGUF reader accepts has a CUDA form: the GEMV types as they are, the rest
// dequantized to f16 at load; only the runtime's i32 has none.
TEST(CudaBackendHostTest, EveryGgufWeightTypeHasACudaForm) {
  using ops::cuda::CudaWeightForm;
  using ops::cuda::CudaWeightFormOf;
  int native = 0, f16 = 0;
  for (uint32_t id = 0; id < 64; ++id) {
    const auto info = GetDTypeInfo(static_cast<DType>(id));
    if (!info.has_value()) continue;
    const CudaWeightForm form = CudaWeightFormOf(info->type);
    EXPECT_NE(form, CudaWeightForm::kNone) << info->name;
    native += form == CudaWeightForm::kNative;
    f16 += form == CudaWeightForm::kF16AtLoad;
  }
  EXPECT_EQ(native, 7);  // f32 f16 bf16 q8_0 q4_K q5_K q6_K
  EXPECT_EQ(f16, 9);     // q4_0 q4_1 q5_0 q5_1 q2_K q3_K iq4_nl iq4_xs mxfp4
  EXPECT_EQ(CudaWeightFormOf(DType::kQ5_K), CudaWeightForm::kNative);
  EXPECT_EQ(CudaWeightFormOf(DType::kQ4_0), CudaWeightForm::kF16AtLoad);
  EXPECT_EQ(CudaWeightFormOf(DType::kI32), CudaWeightForm::kNone);
}

TEST(CudaBackendHostTest, F16AtLoadLine) {
  ops::cuda::CudaF16AtLoad d;
  d.tensors = 3;
  d.file_bytes = 18 * 1024;  // 32768 q4_0 values
  d.device_bytes = 2 * 32768;
  d.types = "q4_0, q5_1";
  EXPECT_EQ(d.extra_bytes(), 65536 - 18432);
  const std::string s = d.ToString();
  EXPECT_NE(s.find("3 tensors (q4_0, q5_1)"), std::string::npos) << s;
  EXPECT_NE(s.find("18432 quantized bytes -> 65536 device bytes (+47104 bytes"), std::string::npos)
      << s;
  ops::cpu::CpuBackend cpu(1);
  EXPECT_TRUE(absl::IsInvalidArgument(ops::cuda::CudaDequantizedAtLoad(cpu).status()));
}

TEST(CudaBackendHostTest, KvPlanNeedsTheCudaBackend) {
  ops::cpu::CpuBackend cpu(1);
  auto plan = ops::cuda::PlanCudaKvCache(cpu, 1 << 20, 16, 0);
  ASSERT_FALSE(plan.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(plan.status())) << plan.status();
}

TEST(CudaBackendHostTest, ScratchEstimateGrowsWithTheStep) {
  const int64_t small = ops::cuda::CudaScratchEstimate(2048, 2048, 512, 8192, 128256, 256, 64);
  const int64_t large = ops::cuda::CudaScratchEstimate(2048, 2048, 512, 8192, 128256, 2048, 256);
  EXPECT_GT(small, int64_t{256} << 20);  // the fixed margin
  EXPECT_GT(large, small);
}

TEST(CudaBackendHostTest, MemoryPlanString) {
  ops::cuda::CudaMemoryPlan p;
  p.device_name = "H100";
  p.total_bytes = int64_t{80} << 30;
  p.free_bytes = int64_t{70} << 30;
  p.weight_bytes = int64_t{2} << 30;
  p.kv_bytes = int64_t{60} << 30;
  p.num_blocks = 1000;
  p.block_size = 16;
  const std::string s = p.ToString(0.9f);
  EXPECT_NE(s.find("weights 2048.0 MiB"), std::string::npos) << s;
  EXPECT_NE(s.find("1000 blocks x 16 = 16000 tokens"), std::string::npos) << s;
  EXPECT_NE(s.find("utilization 0.90"), std::string::npos) << s;
}

TEST(CudaGraphPolicyTest, BucketsPadTheBatch) {
  using ops::cuda::GraphRows;
  EXPECT_EQ(GraphRows(0, 256), 0);
  EXPECT_EQ(GraphRows(1, 256), 1);
  EXPECT_EQ(GraphRows(3, 256), 4);
  EXPECT_EQ(GraphRows(5, 256), 8);
  EXPECT_EQ(GraphRows(8, 256), 8);
  EXPECT_EQ(GraphRows(9, 256), 16);
  EXPECT_EQ(GraphRows(17, 256), 24);
  EXPECT_EQ(GraphRows(64, 256), 64);
  EXPECT_EQ(GraphRows(65, 256), 80);
  EXPECT_EQ(GraphRows(129, 256), 160);
  EXPECT_EQ(GraphRows(256, 256), 256);
  EXPECT_EQ(GraphRows(257, 512), 0);  // beyond the largest bucket: eager
  EXPECT_EQ(GraphRows(60, 32), 0);    // beyond max_rows: eager
  EXPECT_EQ(GraphRows(9, 12), 0);     // bucket 16 > 12
  // Every batch fits its bucket, and buckets never shrink as the batch grows.
  int32_t prev = 0;
  for (int32_t r = 1; r <= 256; ++r) {
    const int32_t b = GraphRows(r, 256);
    EXPECT_GE(b, r);
    EXPECT_GE(b, prev);
    EXPECT_LE(b - r, r <= 8 ? r : 31);
    prev = b;
  }
}

TEST(CudaGraphPolicyTest, WarmUpThenCaptureThenReplay) {
  using ops::cuda::GraphAction;
  ops::cuda::GraphState s;
  uint64_t gen = 5;
  auto step = [&](GraphAction want, bool ok = true) {
    const GraphAction a = ops::cuda::ChooseGraphAction(s, gen);
    EXPECT_EQ(a, want) << ops::cuda::GraphActionName(a) << " instead of "
                       << ops::cuda::GraphActionName(want);
    ops::cuda::RecordGraphAction(s, a, ok, gen);
  };
  step(GraphAction::kEager);    // first use sizes the scratch
  step(GraphAction::kCapture);  // then record
  step(GraphAction::kReplay);
  step(GraphAction::kReplay);
  ++gen;                        // a scratch buffer moved: the graph holds a stale pointer
  step(GraphAction::kCapture);  // recorded again at once (the scratch is warm)
  step(GraphAction::kReplay);
}

TEST(CudaGraphPolicyTest, FailedCapturesFallBackToEagerForGood) {
  using ops::cuda::GraphAction;
  ops::cuda::GraphState s;
  const uint64_t gen = 1;
  ops::cuda::RecordGraphAction(s, ops::cuda::ChooseGraphAction(s, gen), true, gen);  // warm-up
  for (int i = 0; i < ops::cuda::kMaxGraphFailures; ++i) {
    ASSERT_EQ(ops::cuda::ChooseGraphAction(s, gen), GraphAction::kCapture) << i;
    ops::cuda::RecordGraphAction(s, GraphAction::kCapture, /*ok=*/false, gen);
    EXPECT_FALSE(s.captured);
  }
  EXPECT_EQ(ops::cuda::ChooseGraphAction(s, gen), GraphAction::kEager);
  EXPECT_EQ(ops::cuda::ChooseGraphAction(s, gen + 1), GraphAction::kEager);
}

TEST(CudaBackendHostTest, GraphOptionsDefaultOn) {
  const ops::cuda::CudaBackendOptions o;
  EXPECT_TRUE(o.cuda_graphs);
  EXPECT_TRUE(o.fuse_ops);
  EXPECT_EQ(ops::cuda::GraphRows(200, o.max_graph_rows), 224);
}

alignas(16) char g_dev[256];

TEST(CudaBackendHostTest, ConvertAndAddChecks) {
  kernels::ConvertParams c;
  c.in = g_dev;
  c.out = g_dev + 128;
  c.rows = 2;
  c.cols = 8;
  c.in_stride = 8;
  c.out_stride = 8;
  c.out_dtype = DType::kQ8_0;
  EXPECT_EQ(kernels::ValidateConvert(c), cudaErrorInvalidValue);
  EXPECT_NE(std::string(kernels::LastErrorMessage()).find("q8_0"), std::string::npos);
  c.out_dtype = DType::kBF16;
  EXPECT_EQ(kernels::ValidateConvert(c), cudaSuccess);
  c.out_stride = 4;
  EXPECT_EQ(kernels::ValidateConvert(c), cudaErrorInvalidValue);

  kernels::AddParams a;
  a.a = reinterpret_cast<const float*>(g_dev);
  a.b = a.a;
  a.out = reinterpret_cast<float*>(g_dev);
  a.rows = 2;
  a.cols = 8;
  a.a_stride = 8;
  a.b_stride = 0;  // broadcast
  a.out_stride = 8;
  EXPECT_EQ(kernels::ValidateAdd(a), cudaSuccess);
  a.b_stride = 4;
  EXPECT_EQ(kernels::ValidateAdd(a), cudaErrorInvalidValue);

  kernels::FillParams f;
  f.out = g_dev;
  f.rows = 1;
  f.cols = 4;
  f.stride = 4;
  f.dtype = DType::kQ4_K;
  EXPECT_EQ(kernels::ValidateFill(f), cudaErrorInvalidValue);
  f.dtype = DType::kI32;
  EXPECT_EQ(kernels::ValidateFill(f), cudaSuccess);

  kernels::SoftmaxParams s;
  s.x = reinterpret_cast<const float*>(g_dev);
  s.out = reinterpret_cast<float*>(g_dev);
  s.rows = 1;
  s.cols = 8;
  s.x_stride = 8;
  s.out_stride = 8;
  s.inv_temperature = 0.f;
  EXPECT_EQ(kernels::ValidateSoftmax(s), cudaErrorInvalidValue);
  s.inv_temperature = 2.f;
  EXPECT_EQ(kernels::ValidateSoftmax(s), cudaSuccess);
}

}  // namespace
}  // namespace phx
