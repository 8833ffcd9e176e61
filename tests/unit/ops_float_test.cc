// F32/F16/BF16 weight matmuls on every ISA level and thread count against the float64
// reference (RunCase, ops_matmul_case.h, states the tolerances), and batch invariance: every
// level sums each output in one order whatever the number of rows, the thread split or the
// path (the weights where they lie or PrepareMatmul's copy), so a row's result is bit for bit
// the same alone or batched.
#include <algorithm>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/repack.h"
#include "ops/cpu/repack_formats.h"
#include "ops_matmul_case.h"
#include "ops_test_util.h"

namespace phx::ops::testing {
namespace {

// Shapes: M = 1..5 (decode), 7, 11, 17, 33, 64, 70, 129 (6-row tiles and their remainders); N
// around the 4-row groups and 64-row panels (odd, not a multiple of 64); K odd / not a multiple
// of the vector width, and past one K block of 512 (with a tail).
const Case kFloatCases[] = {
    {2, 3, 0, true},
    {1, 1, 1},
    {1, 5, 7},
    {2, 67, 33, true},
    {7, 64, 100},
    {1, 130, 768},
    {64, 70, 17, true},
    {129, 9, 64, false, true},
    {7, 131, 1100, true, true},
    {3, 4, 513},
    {11, 9, 40},                // 6-row tile then a 5-row remainder
    {17, 6, 130},               // 6 + 6 + 5 rows
    {4, 33, 70},                // the most rows that read F16/BF16 groups without a panel
    {1, 19, 1030, true, true},  // one row, K tail past 2 blocks
    {2, 5, 161, false, true},
    {5, 21, 300},  // the first M that converts a panel
    {33, 131, 1100, true, true},
    {8, 64, 1024},
    {70, 200, 1537, true},
    {65, 129, 1025},
};

TEST(OpsFloatMatmulTest, FloatWeights) {
  auto rng = MakeRng();
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const Case& c : kFloatCases) {
      for (bool prepare : {false, true}) RunCase(t, c, rng, prepare);
    }
  }
}

// The issue's shapes for the float types: M in {1, 2, 3, 4, 5, 7, 16, 17, 33, 65}, odd N.
TEST(OpsFloatMatmulTest, FloatWeightsIssueShapes) {
  auto rng = MakeRng();
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const int64_t M : {1, 2, 3, 4, 5, 7, 16, 17, 33, 65}) {
      for (bool prepare : {false, true}) {
        RunCase(t, Case{M, 37, 768, M % 2 == 1, M == 7}, rng, prepare);
      }
    }
  }
}

// PrepareMatmul's copy of a float matrix is what Matmul reads while it lives (the original
// bytes, changed after the copy, do not show), and the original again once it is released.
TEST(OpsFloatMatmulTest, FloatCopyIsRead) {
  auto rng = MakeRng();
  const int64_t N = 37, K = 300;
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(DTypeName(t));
    for (const int64_t M : {1, 3, 12}) {  // weights read directly and through a panel
      ForEachBackend([&](cpu::CpuBackend& b) {
        cpu::CpuBackend fresh(1, b.isa());
        std::vector<uint8_t> w = RandomWeights(rng, t, N, K);
        const std::vector<uint8_t> first = w, second = RandomWeights(rng, t, N, K);
        const Tensor wt = Tensor::View(w.data(), t, {N, K});
        const Tensor first_t = Tensor::View(first.data(), t, {N, K});
        Buffer x = FromFloats(b, RandomFloats(rng, M * K), {M, K});
        Buffer got = Poisoned(b, DType::kF32, {M, N}), want = Poisoned(b, DType::kF32, {M, N});
        auto p = b.PrepareMatmul(wt);
        ASSERT_TRUE(p.ok()) << p.status();
        ASSERT_NE(*p, nullptr);
        std::memcpy(w.data(), second.data(), w.size());  // the copy still holds `first`
        ASSERT_TRUE(b.Matmul(x.tensor(), wt, nullptr, got.tensor()).ok());
        ASSERT_TRUE(fresh.Matmul(x.tensor(), first_t, nullptr, want.tensor()).ok());
        EXPECT_EQ(ref::ToDouble(got.tensor()), ref::ToDouble(want.tensor()));
        p->reset();  // released: the (changed) original is read again
        const Tensor second_t = Tensor::View(second.data(), t, {N, K});
        ASSERT_TRUE(b.Matmul(x.tensor(), wt, nullptr, got.tensor()).ok());
        ASSERT_TRUE(fresh.Matmul(x.tensor(), second_t, nullptr, want.tensor()).ok());
        EXPECT_EQ(ref::ToDouble(got.tensor()), ref::ToDouble(want.tensor()));
      });
    }
  }
}

std::vector<uint32_t> Bits(const Tensor& y) {
  std::vector<uint32_t> out(static_cast<size_t>(y.rows() * y.cols()));
  for (int64_t m = 0; m < y.rows(); ++m) {
    std::memcpy(out.data() + m * y.cols(), y.row_as<float>(m), y.cols() * 4);
  }
  return out;
}

// Batch invariance: on every level, each of rows 0..39 computed alone (M = 1, one thread, the
// weights where they lie) is the reference, and every other way gives the same bits: windows
// of 1..40 rows at several offsets (so a row sits at every position of a tile), 1-3 threads
// (other column and row splits), with and without PrepareMatmul's copy (AVX-512: the 64-row
// groups, read directly up to 4 rows and through converted panels above), and through
// MatmulMany with a second product. N = 131 (two groups and a 3-row tail), K = 1101 (a block of
// 512 twice and an odd tail: BF16's last pair is half padding).
TEST(OpsFloatMatmulTest, FloatRowsAreBatchInvariant) {
  auto rng = MakeRng();
  const int64_t N = 131, K = 1101, M = 40;
  const std::pair<int64_t, int64_t> windows[] = {{0, 40}, {0, 2}, {1, 3},  {2, 4},  {3, 5},
                                                 {5, 7},  {6, 9}, {4, 16}, {7, 17}, {7, 33}};
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    const std::vector<uint8_t> w = RandomWeights(rng, t, N, K);
    const std::vector<uint8_t> w2 = RandomWeights(rng, t, 70, K);
    const Tensor wt = Tensor::View(w.data(), t, {N, K});
    const Tensor wt2 = Tensor::View(w2.data(), t, {70, K});
    const std::vector<float> xs = RandomFloats(rng, static_cast<size_t>(M * K), -2.f, 2.f);
    for (int l = 0; l <= static_cast<int>(cpu::BestIsa()); ++l) {
      const auto isa = static_cast<cpu::IsaLevel>(l);
      SCOPED_TRACE(StrCat(DTypeName(t), " ", cpu::IsaName(isa)));
      std::vector<uint32_t> want;
      {
        cpu::CpuBackend one(1, isa);
        for (int64_t r = 0; r < M; ++r) {
          Buffer x = FromFloats(
              one, std::vector<float>(xs.begin() + r * K, xs.begin() + (r + 1) * K), {1, K});
          Buffer y = Poisoned(one, DType::kF32, {1, N});
          ASSERT_TRUE(one.Matmul(x.tensor(), wt, nullptr, y.tensor()).ok());
          const std::vector<uint32_t> row = Bits(y.tensor());
          want.insert(want.end(), row.begin(), row.end());
        }
      }
      for (const int threads : {1, 2, 3}) {
        for (const bool prepare : {false, true}) {
          SCOPED_TRACE(StrCat(threads, " threads", prepare ? ", prepared" : ""));
          cpu::CpuBackend b(threads, isa);
          std::unique_ptr<PreparedWeight> p, p2;
          if (prepare) {
            auto r = b.PrepareMatmul(wt);
            auto r2 = b.PrepareMatmul(wt2);
            ASSERT_TRUE(r.ok() && r2.ok());
            p = *std::move(r);
            p2 = *std::move(r2);
            ASSERT_NE(p, nullptr);
          }
          for (const auto& [s, m] : windows) {
            SCOPED_TRACE(StrCat("rows ", s, " + ", m));
            Buffer x = FromFloats(
                b, std::vector<float>(xs.begin() + s * K, xs.begin() + (s + m) * K), {m, K});
            Buffer y = Poisoned(b, DType::kF32, {m, N});
            Buffer y2 = Poisoned(b, DType::kF32, {m, 70});
            const std::vector<uint32_t> expect(want.begin() + s * N, want.begin() + (s + m) * N);
            if (m % 2 == 0) {
              ASSERT_TRUE(b.Matmul(x.tensor(), wt, nullptr, y.tensor()).ok());
            } else {
              const Backend::MatmulOut outs[] = {{&wt2, nullptr, &y2.tensor()},
                                                 {&wt, nullptr, &y.tensor()}};
              ASSERT_TRUE(b.MatmulMany(x.tensor(), outs).ok());
            }
            EXPECT_EQ(Bits(y.tensor()), expect);
          }
        }
      }
    }
  }
}

// BF16 weights on an AVX-512 CPU without AVX-512 BF16 take the f32 kernels (converted as they
// are read): the kernel table's gemm_float (from the rows) and gemm_float_groups (from the
// 64-row group copy, BF16 pairs split in registers), called directly since a backend on a CPU
// with AVX-512 BF16 picks vdpbf16ps. Several panels, K blocks and row tiles with bias, y
// poisoned: each against the float64 reference, and every row bit for bit the same on both
// paths and for every M.
TEST(OpsFloatMatmulTest, Avx512FloatKernelsReadBf16) {
  if (cpu::BestIsa() < cpu::IsaLevel::kAvx512) GTEST_SKIP() << "no AVX-512";
  auto rng = MakeRng();
  const int64_t Mmax = 13, N = 131, K = 1101;
  const std::vector<uint8_t> wbytes = RandomWeights(rng, DType::kBF16, N, K);
  std::vector<uint8_t> groups(static_cast<size_t>(cpu::FloatGroupedBytes(DType::kBF16, N, K)) + 64,
                              0xAB);
  cpu::RepackFloatGroups(DType::kBF16, wbytes.data(), K * 2, N, K, 0,
                         (N + cpu::kFloatGroupRows - 1) / cpu::kFloatGroupRows, groups.data());
  const std::vector<double> wd = ref::ToDouble(Tensor::View(wbytes.data(), DType::kBF16, {N, K}));
  const std::vector<float> x = RandomFloats(rng, static_cast<size_t>(Mmax * K), -2.f, 2.f);
  const std::vector<float> bias = RandomFloats(rng, static_cast<size_t>(N));
  const cpu::KernelTable kt = cpu::KernelsFor(cpu::IsaLevel::kAvx512);
  std::vector<uint8_t> scratch(cpu::kGemmScratchBytes + 64);
  uint8_t* s = scratch.data() + (64 - reinterpret_cast<uintptr_t>(scratch.data()) % 64) % 64;
  std::vector<float> first;  // the Mmax-row product from the rows: every other run's bits
  for (const bool from_groups : {false, true}) {
    for (const int64_t M : {Mmax, int64_t{1}, int64_t{3}, int64_t{4}, int64_t{5}}) {
      SCOPED_TRACE(StrCat(from_groups ? "groups" : "rows", " M=", M));
      std::vector<float> y(static_cast<size_t>(M * N), std::nanf(""));
      cpu::GemmArgs a;
      a.act = reinterpret_cast<const uint8_t*>(x.data());
      a.act_pitch = K * 4;
      a.w = from_groups ? groups.data() : wbytes.data();
      a.w_pitch = from_groups ? cpu::FloatGroupBytes(DType::kBF16, K) : K * 2;
      a.wtype = DType::kBF16;
      a.bias = bias.data();
      a.y = y.data();
      a.y_pitch = N;
      a.M = M;
      a.N = N;
      a.K = K;
      (from_groups ? kt.gemm_float_groups : kt.gemm_float)(a, 0, N, 0, M, s);
      if (first.empty()) {
        first = y;
        const std::vector<double> want = ref::Matmul(ToDoubles(x), wd, ToDoubles(bias), M, N, K);
        std::vector<double> tol(want.size());
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t n = 0; n < N; ++n) {
            double sum = std::fabs(bias[n]);
            for (int64_t k = 0; k < K; ++k) sum += std::fabs(x[m * K + k] * wd[n * K + k]);
            tol[m * N + n] = (512 + K / 512.0 + 17) * kU * sum;
          }
        }
        ExpectNear(
            std::vector<double>(y.begin(), y.end()), want, [&](size_t i) { return tol[i]; },
            "avx512 f32 kernels, bf16 weights");
      }
      EXPECT_EQ(0, std::memcmp(y.data(), first.data(), y.size() * 4));
    }
  }
}

}  // namespace
}  // namespace phx::ops::testing
