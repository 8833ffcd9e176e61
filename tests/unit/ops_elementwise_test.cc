// rms_norm, rope, swiglu, add, embedding, softmax and penalties against the float64 reference
// on every backend configuration, plus argument errors. Tolerances are stated per op.
#include <cstring>

#include "ops/logits.h"
#include "ops_test_util.h"

namespace phx::ops::testing {
namespace {

constexpr double kU = 1.0 / (1 << 24);

TEST(OpsElementwiseTest, RmsNorm) {
  auto rng = MakeRng();
  struct S {
    int64_t M, D;
    bool alias;
  };
  for (const S s :
       {S{1, 1, false}, S{1, 7, false}, S{7, 64, true}, S{64, 768, false}, S{3, 1001, true}}) {
    SCOPED_TRACE(StrCat("M=", s.M, " D=", s.D));
    const auto x = RandomFloats(rng, s.M * s.D, -3.f, 3.f), w = RandomFloats(rng, s.D);
    const auto want = ref::RmsNorm(ToDoubles(x), ToDoubles(w), s.M, s.D, 1e-5);
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer xb = FromFloats(b, x, {s.M, s.D}), wb = FromFloats(b, w, {s.D});
      Buffer yb = Poisoned(b, DType::kF32, {s.M, s.D});
      const Tensor& y = s.alias ? xb.tensor() : yb.tensor();
      ASSERT_TRUE(b.RmsNorm(xb.tensor(), wb.tensor(), 1e-5f, y).ok());
      // The sum of squares is exact to ~1e-16 (double); sqrt, the division and the two products
      // are single f32 roundings: at most 6 ulp of the result.
      ExpectNear(
          ref::ToDouble(y), want, [&](size_t i) { return 6 * kU * std::fabs(want[i]) + 1e-30; },
          "rms_norm");
    });
  }
}

TEST(OpsElementwiseTest, Rope) {
  auto rng = MakeRng();
  std::vector<float> factors(64);
  for (auto& f : factors) f = std::uniform_real_distribution<float>(1.f, 8.f)(rng);
  struct S {
    RopeMode mode;
    int32_t head_dim, n_rot, heads;
    float base, fscale;
    bool ff;
  };
  for (const S s : {S{RopeMode::kNormal, 64, 64, 4, 10000.f, 1.f, false},
                    S{RopeMode::kNeox, 64, 64, 3, 1000000.f, 1.f, false},
                    S{RopeMode::kNormal, 128, 64, 2, 500000.f, 0.25f, true},
                    S{RopeMode::kNeox, 128, 96, 2, 10000.f, 0.5f, true},
                    S{RopeMode::kNeox, 8, 8, 5, 10000.f, 1.f, false}}) {
    SCOPED_TRACE(StrCat(s.mode == RopeMode::kNeox ? "neox" : "normal", " hd=", s.head_dim,
                        " n_rot=", s.n_rot));
    const int64_t T = 9, W = static_cast<int64_t>(s.heads) * s.head_dim;
    const auto x = RandomFloats(rng, T * W);
    std::vector<int32_t> pos = {0, 1, 2, 17, 5, 1000, 4095, 31999, 7};
    RopeParams p{s.mode, s.n_rot, s.base, s.fscale, s.ff ? factors.data() : nullptr};
    std::vector<double> want = ToDoubles(x);
    ref::Rope(want, T, s.head_dim, pos, p);
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer xb = FromFloats(b, x, {T, W});
      ASSERT_TRUE(
          b.Rope(xb.tensor(), s.head_dim, Tensor::View(pos.data(), DType::kI32, {T}), p).ok());
      // Same f32 angles as the reference; cosf/sinf (<= 1 ulp) and 2 products + 1 sum in f32:
      // |err| <= 4 ulp of |x0| + |x1| <= 8u for inputs in [-1, 1].
      ExpectNear(
          ref::ToDouble(xb.tensor()), want, [&](size_t) { return 8 * kU; }, "rope");
    });
  }
}

TEST(OpsElementwiseTest, SwiGluAndAdd) {
  auto rng = MakeRng();
  for (int64_t n : {1, 7, 64, 1000, 70000}) {
    SCOPED_TRACE(StrCat("n=", n));
    const int64_t M = n > 1000 ? 2 : 1, F = n / M;
    const auto g = RandomFloats(rng, M * F, -20.f, 20.f), u = RandomFloats(rng, M * F);
    const auto want_s = ref::SwiGlu(ToDoubles(g), ToDoubles(u));
    const auto want_a = ref::Add(ToDoubles(g), ToDoubles(u));
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer gb = FromFloats(b, g, {M, F}), ub = FromFloats(b, u, {M, F});
      Buffer ob = Poisoned(b, DType::kF32, {M, F});
      ASSERT_TRUE(b.Add(gb.tensor(), ub.tensor(), ob.tensor()).ok());
      // One f32 rounding of the exact sum.
      ExpectNear(
          ref::ToDouble(ob.tensor()), want_a, [&](size_t i) { return kU * std::fabs(want_a[i]); },
          "add");
      ASSERT_TRUE(b.SwiGlu(gb.tensor(), ub.tensor(), gb.tensor()).ok());  // out aliases gate
      // exp within ~2 ulp, then a sum, a division and a product: <= 8 ulp of the result.
      ExpectNear(
          ref::ToDouble(gb.tensor()), want_s,
          [&](size_t i) { return 8 * kU * std::fabs(want_s[i]) + 1e-37; }, "swiglu");
    });
  }
}

TEST(OpsElementwiseTest, Embedding) {
  auto rng = MakeRng();
  for (DType t :
       {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K}) {
    const int64_t V = 11, D = 512;
    std::vector<uint8_t> table(*RowBytes(t, D) * V);
    for (int64_t v = 0; v < V; ++v) {
      const auto row = RandomFloats(rng, D);
      ASSERT_TRUE(QuantizeRow(t, row.data(), table.data() + v * *RowBytes(t, D), D));
    }
    const Tensor tt = Tensor::View(table.data(), t, {V, D});
    std::vector<int32_t> ids = {3, 0, 10, 3, 7};
    const auto want = ref::Embedding(ref::ToDouble(tt), D, ids);
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer ob = Poisoned(b, DType::kF32, {5, D});
      ASSERT_TRUE(b.Embedding(tt, Tensor::View(ids.data(), DType::kI32, {5}), ob.tensor()).ok());
      // Dequantization is exact in f32.
      ExpectNear(
          ref::ToDouble(ob.tensor()), want, [](size_t) { return 0.0; },
          StrCat("embedding ", DTypeName(t)));
    });
  }
}

TEST(OpsElementwiseTest, SoftmaxAndPenalties) {
  auto rng = MakeRng();
  const int64_t M = 3, V = 1000;
  auto x = RandomFloats(rng, M * V, -10.f, 10.f);
  x[5] = -INFINITY;  // a masked logit gets probability 0
  const std::vector<int32_t> tok0 = {1, 5, 999}, cnt0 = {2, 1, 1}, tok2 = {0, 7}, cnt2 = {3, 0};
  std::vector<PenaltyRow> rows(M);
  rows[0] = {tok0, cnt0, 1.3f, 0.5f, 0.25f};
  rows[2] = {tok2, cnt2, 0.8f, 0.f, 1.f};
  std::vector<double> want_p = ToDoubles(x);
  ref::ApplyPenalties(want_p, M, V, rows);
  ForEachBackend([&](cpu::CpuBackend& b) {
    Buffer lb = FromFloats(b, x, {M, V});
    ASSERT_TRUE(b.ApplyPenalties(lb.tensor(), rows).ok());
    const auto got_p = ref::ToDouble(lb.tensor());
    // A division or product and a subtraction in f32: <= 3 ulp (exact for untouched logits).
    ExpectNear(
        got_p, want_p, [&](size_t i) { return 3 * kU * (std::fabs(want_p[i]) + 1); }, "penalties");
    for (float temp : {1.0f, 0.7f, 2.5f}) {
      const auto want = ref::Softmax(got_p, M, V, temp);
      Buffer ob = Poisoned(b, DType::kF32, {M, V});
      ASSERT_TRUE(b.Softmax(lb.tensor(), temp, ob.tensor()).ok());
      // The exp argument (x - max) * (1/T) carries 2 roundings (4u relative, with 1/T's), which
      // exp turns into an absolute error of 4u |x - max| / T in its logarithm; plus exp's and
      // the normalization's few ulp: |err| <= (4 |x - max| / T + 8) u p.
      std::vector<double> row_max(M, -INFINITY);
      for (int64_t i = 0; i < M * V; ++i) row_max[i / V] = std::max(row_max[i / V], got_p[i]);
      ExpectNear(
          ref::ToDouble(ob.tensor()), want,
          [&](size_t i) {
            const double arg =
                std::isinf(got_p[i]) ? 0 : std::fabs(got_p[i] - row_max[i / V]) / temp;
            return (4 * arg + 8) * kU * want[i] + 1e-30;
          },
          "softmax");
    }
  });
}

// A row whose every logit is -inf (a grammar or stop mask leaving nothing) has no probability
// mass: the reference, the row helper and the CPU backend all give 0 everywhere, never NaN.
TEST(OpsElementwiseTest, SoftmaxOfAFullyMaskedRowIsZero) {
  const int64_t M = 2, V = 37;
  std::vector<float> x(M * V, -INFINITY);
  for (int64_t i = 0; i < V; ++i) x[V + i] = static_cast<float>(i % 5);  // row 1: ordinary
  const std::vector<double> want = ref::Softmax(ToDoubles(x), M, V, 0.7);
  for (int64_t i = 0; i < V; ++i) EXPECT_EQ(want[i], 0.0) << i;
  double sum = 0;
  for (int64_t i = 0; i < V; ++i) sum += want[V + i];
  EXPECT_NEAR(sum, 1.0, 1e-12);
  std::vector<float> row(V, 1.f);
  SoftmaxRow(std::span<const float>(x.data(), V), 0.7f, row);
  for (float p : row) EXPECT_EQ(p, 0.f);
  ForEachBackend([&](cpu::CpuBackend& b) {
    Buffer lb = FromFloats(b, x, {M, V});
    Buffer ob = Poisoned(b, DType::kF32, {M, V});
    ASSERT_TRUE(b.Softmax(lb.tensor(), 0.7f, ob.tensor()).ok());
    const auto got = ref::ToDouble(ob.tensor());
    for (int64_t i = 0; i < V; ++i) EXPECT_EQ(got[i], 0.0) << i;
    ExpectNear(
        std::vector<double>(got.begin() + V, got.end()),
        std::vector<double>(want.begin() + V, want.end()), [](size_t) { return 1e-6; },
        "softmax row 1");
  });
}

TEST(OpsElementwiseTest, Errors) {
  cpu::CpuBackend b(2);
  auto x = b.Allocate(DType::kF32, {4, 64});
  auto y = b.Allocate(DType::kF32, {4, 32});
  auto w = b.Allocate(DType::kF32, {32, 48});
  auto wi = b.Allocate(DType::kI32, {32, 64});
  ASSERT_TRUE(x.ok() && y.ok() && w.ok() && wi.ok());
  // K mismatch names the tensor and its shape.
  absl::Status s = b.Matmul(x->tensor(), w->tensor(), nullptr, y->tensor());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("x"), std::string::npos);
  EXPECT_NE(s.message().find("f32[4, 64]"), std::string::npos) << s;
  // Unsupported weight type.
  EXPECT_EQ(b.Matmul(x->tensor(), wi->tensor(), nullptr, y->tensor()).code(),
            absl::StatusCode::kUnimplemented);
  EXPECT_FALSE(b.Supports(Op::kMatmul, DType::kI32));
  EXPECT_FALSE(b.Supports(Op::kAttention, DType::kQ8_0));
  EXPECT_TRUE(b.Supports(Op::kMatmul, DType::kQ6_K));
  EXPECT_FALSE(b.Supports(Op::kRmsNorm, DType::kF16));
  // Wrong output shape, y aliasing x, a bad bias.
  auto w2 = b.Allocate(DType::kF32, {64, 64});
  ASSERT_TRUE(w2.ok());
  EXPECT_EQ(b.Matmul(x->tensor(), w2->tensor(), nullptr, y->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Matmul(x->tensor(), w2->tensor(), nullptr, x->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Matmul(x->tensor(), w2->tensor(), &y->tensor(), x->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  // A matrix without data, a quantized view that is not whole blocks.
  Tensor empty = w2->tensor();
  empty.data = nullptr;
  EXPECT_EQ(b.Matmul(x->tensor(), empty, nullptr, y->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  uint8_t q[64] = {};
  EXPECT_EQ(
      b.Matmul(x->tensor(), Tensor::View(q, DType::kQ8_0, {1, 48}), nullptr, y->tensor()).code(),
      absl::StatusCode::kInvalidArgument);
  // Element-wise shape errors.
  EXPECT_EQ(b.RmsNorm(x->tensor(), y->tensor(), 1e-5f, x->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Add(x->tensor(), y->tensor(), x->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.SwiGlu(x->tensor(), x->tensor(), y->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Softmax(x->tensor(), 0.f, x->tensor()).code(), absl::StatusCode::kInvalidArgument);
  const int32_t pos[4] = {0, 1, 2, 3};
  const Tensor pt = Tensor::View(pos, DType::kI32, {4});
  EXPECT_EQ(b.Rope(x->tensor(), 48, pt, {RopeMode::kNormal, 48}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Rope(x->tensor(), 16, pt, {RopeMode::kNormal, 18}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      b.Rope(x->tensor(), 16, Tensor::View(pos, DType::kI32, {3}), {RopeMode::kNormal, 16}).code(),
      absl::StatusCode::kInvalidArgument);
  const int32_t ids[2] = {0, 32};
  EXPECT_EQ(b.Embedding(w->tensor(), Tensor::View(ids, DType::kI32, {2}), y->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> tok = {70}, cnt = {1};
  std::vector<PenaltyRow> rows(4);
  rows[1] = {tok, cnt};
  EXPECT_EQ(b.ApplyPenalties(x->tensor(), rows).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.ApplyPenalties(x->tensor(), std::span(rows).first(2)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Allocate(DType::kQ8_0, {2, 33}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OpsElementwiseTest, MemoryHelpers) {
  cpu::CpuBackend b(1);
  auto buf = b.Allocate(DType::kF16, {3, 5});
  ASSERT_TRUE(buf.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf->data()) % 64, 0u);
  ASSERT_TRUE(b.Fill(buf->tensor(), 1.5f).ok());
  uint16_t h[15];
  ASSERT_TRUE(b.CopyToHost(buf->tensor(), h, sizeof(h)).ok());
  for (uint16_t v : h) EXPECT_EQ(F16ToF32(v), 1.5f);
  EXPECT_EQ(b.CopyToHost(buf->tensor(), h, 10).code(), absl::StatusCode::kInvalidArgument);
  float src[6] = {1, 2, 3, 4, 5, 6};
  const Tensor view = Tensor::View(src, DType::kF32, {2, 3});
  auto adopted = b.AdoptWeight(view);
  ASSERT_TRUE(adopted.ok());
  EXPECT_EQ(adopted->data(), src);
}

}  // namespace
}  // namespace phx::ops::testing
