// Decode (M = 1..4) through the repacked quantized kernels (Q8x16, Q32x16, Kx16): a row's result
// must not depend on how many rows are batched with it (the engine relies on it: a sequence
// gives the same tokens alone and in a batch), bit for bit, for every repacked type, with N
// not a multiple of the 16-row groups and K with an odd number of 32-blocks. The values
// themselves are checked against the float64 reference by ops_test (every type, M = 1 included).
#include <cmath>
#include <utility>
#include <vector>

#include "ops_test_util.h"

namespace phx::ops {
namespace {

using testing::FromFloats;
using testing::MakeRng;
using testing::Poisoned;
using testing::RandomFloats;

constexpr DType kRepacked[] = {DType::kQ8_0,  DType::kQ4_0,   DType::kQ4_1,  DType::kQ5_0,
                               DType::kQ5_1,  DType::kIQ4_NL, DType::kMXFP4, DType::kQ2_K,
                               DType::kQ3_K,  DType::kQ4_K,   DType::kQ5_K,  DType::kQ6_K,
                               DType::kIQ4_XS};

// Rows of random floats quantized to t (as `phalanx model synth` writes them).
std::vector<uint8_t> QuantizedWeights(std::mt19937_64& rng, DType t, int64_t N, int64_t K) {
  const size_t rb = static_cast<size_t>(*RowBytes(t, static_cast<uint64_t>(K)));
  std::vector<uint8_t> w(rb * N);
  for (int64_t n = 0; n < N; ++n) {
    const std::vector<float> row = RandomFloats(rng, static_cast<size_t>(K));
    EXPECT_TRUE(QuantizeRow(t, row.data(), w.data() + n * rb, K));
  }
  return w;
}

TEST(OpsQuantDecodeTest, RepackedRowsAreBatchInvariant) {
  if (cpu::BestIsa() < cpu::IsaLevel::kAvx512) GTEST_SKIP() << "the repacked kernels: AVX-512";
  auto rng = MakeRng();
  constexpr int64_t kBatch = 40;
  for (DType t : kRepacked) {
    const bool k256 = GetDTypeInfo(t)->block_elems == 256;
    // N: one partial group, and several groups with a partial last one; K: several
    // super-blocks, or an odd number of 32-blocks.
    for (const auto& [N, K] : {std::pair<int64_t, int64_t>{5, k256 ? 512 : 96},
                               std::pair<int64_t, int64_t>{53, k256 ? 1280 : 1312}}) {
      SCOPED_TRACE(StrCat(DTypeName(t), " N=", N, " K=", K));
      const std::vector<uint8_t> w = QuantizedWeights(rng, t, N, K);
      const Tensor wt = Tensor::View(w.data(), t, {N, K});
      const std::vector<float> xs = RandomFloats(rng, static_cast<size_t>(kBatch * K), -2.f, 2.f);
      for (const int threads : {1, 3}) {
        SCOPED_TRACE(StrCat(threads, " threads"));
        cpu::CpuBackend b(threads);
        auto p = b.PrepareMatmul(wt);
        ASSERT_TRUE(p.ok()) << p.status();
        ASSERT_NE(*p, nullptr) << "the repacked path must run, or this test proves nothing";
        Buffer x = FromFloats(b, xs, {kBatch, K});
        Buffer all = Poisoned(b, DType::kF32, {kBatch, N});
        ASSERT_TRUE(b.Matmul(x.tensor(), wt, nullptr, all.tensor()).ok());
        const std::vector<double> want = ref::ToDouble(all.tensor());
        for (const double v : want) ASSERT_FALSE(std::isnan(v));
        // The first m rows as a batch of m (decode of 1..4 sequences, panel and tile edges).
        for (const int64_t m : {1, 2, 3, 4, 7, 8, 9, 16, 17, 33}) {
          SCOPED_TRACE(StrCat("first ", m, " rows"));
          Buffer xm = FromFloats(b, std::vector<float>(xs.begin(), xs.begin() + m * K), {m, K});
          Buffer got = Poisoned(b, DType::kF32, {m, N});
          ASSERT_TRUE(b.Matmul(xm.tensor(), wt, nullptr, got.tensor()).ok());
          EXPECT_EQ(ref::ToDouble(got.tensor()),
                    std::vector<double>(want.begin(), want.begin() + m * N));
        }
        // Rows from the middle and the end of the batch alone (M = 1).
        for (const int64_t r : {int64_t{5}, int64_t{22}, kBatch - 1}) {
          SCOPED_TRACE(StrCat("row ", r, " alone"));
          Buffer xr = FromFloats(
              b, std::vector<float>(xs.begin() + r * K, xs.begin() + (r + 1) * K), {1, K});
          Buffer got = Poisoned(b, DType::kF32, {1, N});
          ASSERT_TRUE(b.Matmul(xr.tensor(), wt, nullptr, got.tensor()).ok());
          EXPECT_EQ(ref::ToDouble(got.tensor()),
                    std::vector<double>(want.begin() + r * N, want.begin() + (r + 1) * N));
        }
      }
    }
  }
}

}  // namespace
}  // namespace phx::ops
