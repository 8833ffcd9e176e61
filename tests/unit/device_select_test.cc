// --device selection rules of server/cli/setup.h that need no GPU: the flag check and what
// --device auto does when a model cannot run on the CUDA backend (CudaFallbackLine).
#include <gtest/gtest.h>

#include <string>

#include "server/cli/setup.h"

namespace phx::cli {
namespace {

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(DeviceSelectTest, AutoFallsBackOnWhatCudaLacks) {
  // Model::Load's error for a tensor whose type the CUDA backend cannot run names both.
  const absl::Status type = absl::UnimplementedError(
      "m.gguf: tensor blk.0.ffn_gate_exps.weight: cuda backend: matmul_experts does not support "
      "q4_K");
  auto line = CudaFallbackLine("auto", type);
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_TRUE(Has(*line, "device: cpu (")) << *line;
  EXPECT_TRUE(Has(*line, "tensor blk.0.ffn_gate_exps.weight")) << *line;
  EXPECT_TRUE(Has(*line, "does not support q4_K")) << *line;
  // An op or an attention shape the kernels lack falls back the same way.
  const absl::Status shape =
      absl::UnimplementedError("cuda backend: attention does not support head_dim 8");
  line = CudaFallbackLine("auto", shape);
  ASSERT_TRUE(line.ok());
  EXPECT_TRUE(Has(*line, "head_dim 8")) << *line;
}

TEST(DeviceSelectTest, CudaKeepsTheError) {
  const absl::Status type = absl::UnimplementedError(
      "m.gguf: tensor blk.0.ffn_gate_exps.weight: cuda backend: matmul_experts does not support "
      "q4_K");
  auto line = CudaFallbackLine("cuda", type);
  ASSERT_FALSE(line.ok());
  EXPECT_EQ(line.status(), type);
}

TEST(DeviceSelectTest, OtherErrorsDoNotFallBack) {
  // Out of device memory, a corrupt file, a CUDA failure: the error, under auto too.
  for (const absl::Status& s :
       {absl::ResourceExhaustedError("weight [32000, 4096]: out of device memory"),
        absl::InvalidArgumentError("m.gguf: tensor data out of range"),
        absl::InternalError("sticky CUDA error")}) {
    auto line = CudaFallbackLine("auto", s);
    ASSERT_FALSE(line.ok()) << s;
    EXPECT_EQ(line.status(), s);
  }
  EXPECT_FALSE(CudaFallbackLine("auto", absl::OkStatus()).ok());
}

TEST(DeviceSelectTest, BadFlag) {
  RuntimeOptions o;
  o.device = "gpu";
  auto b = MakeBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(b.status()));
  EXPECT_TRUE(Has(std::string(b.status().message()), "'gpu'"));
}

}  // namespace
}  // namespace phx::cli
