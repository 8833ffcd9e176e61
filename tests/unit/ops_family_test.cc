// The ops the model families need (issue 24) against the float64 reference on every backend
// configuration, outputs poisoned first: per-head RMSNorm, the fused post-norm + residual add,
// RoPE with YaRN / magnitude scaling / partial rotation, GeGLU, the scaled embedding, logit
// soft-capping fused into the matmul, and the mixture-of-experts router, grouped expert matmul
// and combination; bert's LayerNorm with bias and (ungated) GELU. Tolerances are stated per op
// (u = 2^-24).
#include <algorithm>
#include <cstring>
#include <numeric>
#include <tuple>

#include "ops/cpu/packed_formats.h"
#include "ops_test_util.h"

namespace phx::ops::testing {
namespace {

constexpr double kU = 1.0 / (1 << 24);

TEST(OpsFamilyTest, HeadRmsNorm) {
  auto rng = MakeRng();
  struct S {
    int64_t M, heads, G;
    bool strided;  // x is a column slice of a wider buffer (q inside a fused qkv output)
  };
  for (const S s :
       {S{1, 1, 64, false}, S{5, 8, 64, false}, S{3, 4, 128, true}, S{17, 2, 8, true}}) {
    SCOPED_TRACE(StrCat("M=", s.M, " heads=", s.heads, " G=", s.G, s.strided ? " strided" : ""));
    const int64_t D = s.heads * s.G, pad = s.strided ? 24 : 0;
    const auto x = RandomFloats(rng, s.M * D, -3.f, 3.f), w = RandomFloats(rng, s.G);
    const auto want = ref::RmsNorm(ToDoubles(x), ToDoubles(w), s.M, D, 1e-6);
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer xb = Poisoned(b, DType::kF32, {s.M, D + pad});
      const Tensor xt = s.strided ? xb.tensor().Cols(pad / 2, D) : xb.tensor();
      for (int64_t m = 0; m < s.M; ++m) std::memcpy(xt.row_as<float>(m), &x[m * D], D * 4);
      Buffer wb = FromFloats(b, w, {s.G});
      ASSERT_TRUE(b.RmsNorm(xt, wb.tensor(), 1e-6f, xt).ok());  // in place, as q/k norm runs
      // As RmsNorm: the sum of squares in double, four f32 roundings after it.
      ExpectNear(
          ref::ToDouble(xt), want, [&](size_t i) { return 6 * kU * std::fabs(want[i]) + 1e-30; },
          "head rms_norm");
    });
  }
  cpu::CpuBackend b(1);
  Buffer x = FromFloats(b, std::vector<float>(12, 1.f), {2, 6});
  Buffer w = FromFloats(b, std::vector<float>(4, 1.f), {4});
  EXPECT_EQ(b.RmsNorm(x.tensor(), w.tensor(), 1e-5f, x.tensor()).code(),
            absl::StatusCode::kInvalidArgument);  // 4 does not divide 6
}

TEST(OpsFamilyTest, PostNormAdd) {
  auto rng = MakeRng();
  for (const auto& md : std::vector<std::pair<int64_t, int64_t>>{{1, 8}, {7, 256}, {3, 1001}}) {
    const int64_t M = md.first, D = md.second;
    SCOPED_TRACE(StrCat("M=", M, " D=", D));
    const auto r = RandomFloats(rng, M * D, -4.f, 4.f), x = RandomFloats(rng, M * D, -3.f, 3.f);
    const auto w = RandomFloats(rng, D);
    const auto want = ref::PostNormAdd(ToDoubles(r), ToDoubles(x), ToDoubles(w), M, D, 1e-6);
    const auto normed = ref::RmsNorm(ToDoubles(x), ToDoubles(w), M, D, 1e-6);
    ForEachBackend([&](cpu::CpuBackend& b) {
      for (bool alias : {false, true}) {
        Buffer rb = FromFloats(b, r, {M, D}), xb = FromFloats(b, x, {M, D});
        Buffer wb = FromFloats(b, w, {D}), ob = Poisoned(b, DType::kF32, {M, D});
        const Tensor& out = alias ? rb.tensor() : ob.tensor();
        ASSERT_TRUE(b.PostNormAdd(rb.tensor(), xb.tensor(), wb.tensor(), 1e-6f, out).ok());
        // The norm's 6 ulp of |normed|, then one rounding of the sum.
        ExpectNear(
            ref::ToDouble(out), want,
            [&](size_t i) { return 6 * kU * std::fabs(normed[i]) + kU * std::fabs(want[i]); },
            alias ? "post_norm_add (out = residual)" : "post_norm_add");
      }
    });
  }
}

TEST(OpsFamilyTest, RopeScaledAndPartial) {
  auto rng = MakeRng();
  std::vector<float> factors(64);
  for (auto& f : factors) f = std::uniform_real_distribution<float>(1.f, 40.f)(rng);
  struct S {
    const char* what;
    RopeParams p;
    int32_t head_dim, heads;
  };
  auto params = [&](RopeMode mode, int32_t n_rot, float base, float fscale, bool ff, float ext,
                    float attn, int32_t orig) {
    RopeParams p;
    p.mode = mode;
    p.n_rot = n_rot;
    p.freq_base = base;
    p.freq_scale = fscale;
    p.freq_factors = ff ? factors.data() : nullptr;
    p.ext_factor = ext;
    p.attn_factor = attn;
    p.n_ctx_orig = orig;
    return p;
  };
  const std::vector<S> cases = {
      {"yarn neox", params(RopeMode::kNeox, 128, 1000000.f, 0.25f, false, 1.f, 1.f, 64), 128, 2},
      {"yarn normal", params(RopeMode::kNormal, 64, 10000.f, 0.125f, false, 1.f, 1.f, 256), 64, 3},
      {"yarn partial", params(RopeMode::kNeox, 48, 10000.f, 0.5f, false, 0.5f, 0.9f, 128), 64, 2},
      {"longrope", params(RopeMode::kNeox, 64, 10000.f, 1.f, true, 0.f, 1.19f, 4096), 64, 4},
      {"partial neox", params(RopeMode::kNeox, 24, 10000.f, 1.f, false, 0.f, 1.f, 0), 32, 3},
  };
  for (const S& s : cases) {
    SCOPED_TRACE(s.what);
    const int64_t T = 9, W = static_cast<int64_t>(s.heads) * s.head_dim;
    const auto x = RandomFloats(rng, T * W);
    std::vector<int32_t> pos = {0, 1, 63, 64, 65, 300, 1000, 4095, 31999};
    std::vector<double> want = ToDoubles(x);
    ref::Rope(want, T, s.head_dim, pos, s.p);
    // The magnitude the cos/sin carry; the error bound of plain RoPE (8u) scales with it.
    const double mag =
        s.p.attn_factor * (s.p.ext_factor != 0 ? 1 + 0.1 * std::log(1 / s.p.freq_scale) : 1);
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer xb = FromFloats(b, x, {T, W});
      ASSERT_TRUE(
          b.Rope(xb.tensor(), s.head_dim, Tensor::View(pos.data(), DType::kI32, {T}), s.p).ok());
      ExpectNear(
          ref::ToDouble(xb.tensor()), want, [&](size_t) { return 10 * kU * mag; }, "rope");
    });
  }
  // The reference's YaRN is not plain RoPE: a mutation that drops the ramp would show.
  RopeParams yarn = cases[0].p, plain = yarn;
  plain.ext_factor = 0.f;
  plain.attn_factor = static_cast<float>(1 + 0.1 * std::log(4.0));
  const auto a = ref::RopeCosSin(4000, yarn), c = ref::RopeCosSin(4000, plain);
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::fabs(a[i].first - c[i].first));
  EXPECT_GT(diff, 0.1);
}

TEST(OpsFamilyTest, GeGlu) {
  auto rng = MakeRng();
  for (int64_t n : {1, 7, 64, 1000, 70000}) {
    SCOPED_TRACE(StrCat("n=", n));
    const int64_t M = n > 1000 ? 2 : 1, F = n / M;
    const auto g = RandomFloats(rng, M * F, -12.f, 12.f), u = RandomFloats(rng, M * F);
    const auto want = ref::GeGlu(ToDoubles(g), ToDoubles(u));
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer gb = FromFloats(b, g, {M, F}), ub = FromFloats(b, u, {M, F});
      ASSERT_TRUE(b.GeGlu(gb.tensor(), ub.tensor(), gb.tensor()).ok());  // out aliases gate
      // gelu = g / (1 + e^(-2z)): z carries ~5 roundings and two f32 constants (~8u in all),
      // so e^(-2z) is relatively off by |2z| * 8u (plus exp's 2 ulp); then a sum, a division
      // and a product.
      ExpectNear(
          ref::ToDouble(gb.tensor()), want,
          [&](size_t i) {
            const double z = 0.7978845608 * (g[i] + 0.044715 * g[i] * g[i] * g[i]);
            return (10 + 16 * std::fabs(z)) * kU * std::fabs(want[i]) + 1e-36;
          },
          "geglu");
    });
  }
}

// bert's LayerNorm with bias: shapes with SIMD tails, rows far from zero mean (the mean's
// rounding then matters), in place and not.
TEST(OpsFamilyTest, LayerNorm) {
  auto rng = MakeRng();
  for (const auto& md : std::vector<std::pair<int64_t, int64_t>>{{1, 8}, {7, 384}, {3, 1001}}) {
    const int64_t M = md.first, D = md.second;
    SCOPED_TRACE(StrCat("M=", M, " D=", D));
    auto x = RandomFloats(rng, M * D, -3.f, 3.f);
    for (int64_t i = 0; i < D; ++i) x[i] += 20.f;  // row 0: mean ~20
    const auto w = RandomFloats(rng, D, -2.f, 2.f), bias = RandomFloats(rng, D);
    const double eps = 1e-12;
    const auto want = ref::LayerNorm(ToDoubles(x), ToDoubles(w), ToDoubles(bias), M, D, eps);
    const auto core = ref::LayerNorm(ToDoubles(x), ToDoubles(w), std::vector<double>(D, 0.0), M, D,
                                     eps);  // without the bias
    std::vector<double> mean_term(M * D);   // what the mean's f32 rounding can move
    for (int64_t m = 0; m < M; ++m) {
      double mean = 0, var = 0;
      for (int64_t i = 0; i < D; ++i) mean += x[m * D + i];
      mean /= D;
      for (int64_t i = 0; i < D; ++i) var += (x[m * D + i] - mean) * (x[m * D + i] - mean);
      const double scale = 1 / std::sqrt(var / D + eps);
      for (int64_t i = 0; i < D; ++i)
        mean_term[m * D + i] = std::fabs(mean) * scale * std::fabs(w[i]);
    }
    ForEachBackend([&](cpu::CpuBackend& b) {
      for (bool alias : {false, true}) {
        Buffer xb = FromFloats(b, x, {M, D}), wb = FromFloats(b, w, {D});
        Buffer bb = FromFloats(b, bias, {D}), yb = Poisoned(b, DType::kF32, {M, D});
        const Tensor& y = alias ? xb.tensor() : yb.tensor();
        ASSERT_TRUE(
            b.LayerNorm(xb.tensor(), wb.tensor(), bb.tensor(), static_cast<float>(eps), y).ok());
        // x - mean, the variance's and the scale's roundings (~6 ulp of the core), two more
        // products and the bias add; the mean rounded to f32 shifts every element by its ulp.
        ExpectNear(
            ref::ToDouble(y), want,
            [&](size_t i) {
              return 10 * kU * std::fabs(core[i]) + 2 * kU * std::fabs(want[i]) +
                     2 * kU * mean_term[i];
            },
            alias ? "layer_norm (in place)" : "layer_norm");
      }
    });
  }
  cpu::CpuBackend b(1);
  Buffer x = FromFloats(b, std::vector<float>(12, 1.f), {2, 6});
  Buffer w = FromFloats(b, std::vector<float>(6, 1.f), {6});
  Buffer short_b = FromFloats(b, std::vector<float>(4, 1.f), {4});
  EXPECT_EQ(b.LayerNorm(x.tensor(), w.tensor(), short_b.tensor(), 1e-5f, x.tensor()).code(),
            absl::StatusCode::kInvalidArgument);  // the bias must have D values
}

TEST(OpsFamilyTest, Gelu) {
  auto rng = MakeRng();
  for (int64_t n : {1, 7, 64, 1000, 70000}) {
    SCOPED_TRACE(StrCat("n=", n));
    const int64_t M = n > 1000 ? 2 : 1, F = n / M;
    const auto g = RandomFloats(rng, M * F, -12.f, 12.f);
    const auto want = ref::Gelu(ToDoubles(g));
    ForEachBackend([&](cpu::CpuBackend& b) {
      for (bool alias : {false, true}) {
        Buffer gb = FromFloats(b, g, {M, F}), ob = Poisoned(b, DType::kF32, {M, F});
        const Tensor& out = alias ? gb.tensor() : ob.tensor();
        ASSERT_TRUE(b.Gelu(gb.tensor(), out).ok());
        // As GeGLU's gelu: z's roundings make e^(-2z) relatively off by |2z| * 8u, then a sum
        // and a division.
        ExpectNear(
            ref::ToDouble(out), want,
            [&](size_t i) {
              const double z = 0.7978845608 * (g[i] + 0.044715 * g[i] * g[i] * g[i]);
              return (8 + 16 * std::fabs(z)) * kU * std::fabs(want[i]) + 1e-36;
            },
            alias ? "gelu (in place)" : "gelu");
      }
    });
  }
}

TEST(OpsFamilyTest, ScaledEmbedding) {
  auto rng = MakeRng();
  for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0, DType::kQ4_K}) {
    const int64_t V = 9, D = 256;
    std::vector<uint8_t> table(*RowBytes(t, D) * V);
    for (int64_t v = 0; v < V; ++v) {
      const auto row = RandomFloats(rng, D);
      ASSERT_TRUE(QuantizeRow(t, row.data(), table.data() + v * *RowBytes(t, D), D));
    }
    const Tensor tt = Tensor::View(table.data(), t, {V, D});
    std::vector<int32_t> ids = {3, 0, 8, 3};
    auto want = ref::Embedding(ref::ToDouble(tt), D, ids);
    const float scale = std::sqrt(2304.f);  // Gemma: sqrt(n_embd) in f32
    for (double& v : want) v *= scale;
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer ob = Poisoned(b, DType::kF32, {4, D});
      ASSERT_TRUE(
          b.ScaledEmbedding(tt, Tensor::View(ids.data(), DType::kI32, {4}), scale, ob.tensor())
              .ok());
      ExpectNear(
          ref::ToDouble(ob.tensor()), want, [&](size_t i) { return kU * std::fabs(want[i]); },
          StrCat("scaled embedding ", DTypeName(t)));
    });
  }
}

// Random weight rows of `t` ([rows, K]) through QuantizeRow.
std::vector<uint8_t> RandomRows(std::mt19937_64& rng, DType t, int64_t rows, int64_t K) {
  const int64_t rb = static_cast<int64_t>(*RowBytes(t, K));
  std::vector<uint8_t> w(static_cast<size_t>(rows * rb));
  for (int64_t n = 0; n < rows; ++n) {
    const std::vector<float> row = RandomFloats(rng, static_cast<size_t>(K));
    EXPECT_TRUE(QuantizeRow(t, row.data(), w.data() + n * rb, K));
  }
  return w;
}

// x rows as a matmul over `t` sees them: quantized to Q8_0 (Q8_0/Q4_0 weights) or Q8_K
// (K-quants), unchanged for float weights.
std::vector<double> AsKernelSees(DType t, const std::vector<float>& x, int64_t K) {
  const bool q8 = t == DType::kQ8_0 || t == DType::kQ4_0;
  const bool kq = t == DType::kQ4_K || t == DType::kQ6_K;
  std::vector<double> xq = ToDoubles(x);
  if (!q8 && !kq) return xq;
  for (size_t m = 0; m < x.size() / K; ++m) {
    std::span<const float> row(x.data() + m * K, static_cast<size_t>(K));
    const auto r = q8 ? ref::QuantizeDequantizeQ8_0(row) : ref::QuantizeDequantizeQ8_K(row);
    std::copy(r.begin(), r.end(), xq.begin() + static_cast<int64_t>(m) * K);
  }
  return xq;
}

// The accumulation bound of ops_test.cc's matmul (against quantized activations).
double Depth(DType t, int64_t K) {
  const bool quant = t != DType::kF32 && t != DType::kF16 && t != DType::kBF16;
  return quant ? 4.0 * (K / 16.0 + 16) : K / 4.0 + 16;
}

TEST(OpsFamilyTest, MatmulLogitSoftcap) {
  auto rng = MakeRng();
  const float cap = 5.f;
  for (DType t : {DType::kF32, DType::kF16, DType::kQ8_0, DType::kQ4_K}) {
    for (const auto& mn : std::vector<std::pair<int64_t, int64_t>>{{1, 301}, {5, 1000}}) {
      const int64_t M = mn.first, N = mn.second;
      const int64_t K = 256;
      SCOPED_TRACE(StrCat(DTypeName(t), " M=", M, " N=", N));
      const auto wbytes = RandomRows(rng, t, N, K);
      const Tensor wt = Tensor::View(wbytes.data(), t, {N, K});
      const std::vector<double> wd = ref::ToDouble(wt);
      const auto x = RandomFloats(rng, M * K, -3.f, 3.f);  // logits reach well past the cap
      const auto xq = AsKernelSees(t, x, K);
      const auto want = ref::Softcap(ref::Matmul(xq, wd, {}, M, N, K), cap);
      std::vector<double> s(want.size());
      for (int64_t m = 0; m < M; ++m) {
        for (int64_t n = 0; n < N; ++n) {
          for (int64_t k = 0; k < K; ++k) s[m * N + n] += std::fabs(xq[m * K + k] * wd[n * K + k]);
        }
      }
      ForEachBackend([&](cpu::CpuBackend& b) {
        auto prep = b.PrepareMatmul(wt);  // the Q8x16 tiles too, where they run
        ASSERT_TRUE(prep.ok());
        Buffer xb = FromFloats(b, x, {M, K}), yb = Poisoned(b, DType::kF32, {M, N});
        const Backend::MatmulOut out{&wt, nullptr, &yb.tensor(), cap};
        ASSERT_TRUE(b.MatmulMany(xb.tensor(), {&out, 1}).ok());
        // tanh has slope <= 1: the matmul's error passes through; tanh itself and the two
        // products add a few ulp of the cap.
        ExpectNear(
            ref::ToDouble(yb.tensor()), want,
            [&](size_t i) { return Depth(t, K) * kU * s[i] + 8 * kU * cap; }, "softcapped matmul");
      });
    }
  }
}

TEST(OpsFamilyTest, MoeRoute) {
  auto rng = MakeRng();
  for (const auto& tek : std::vector<std::tuple<int64_t, int64_t, int32_t>>{
           {1, 8, 2}, {5, 8, 8}, {16, 128, 8}, {3, 60, 4}}) {
    const int64_t T = std::get<0>(tek), E = std::get<1>(tek);
    const int32_t k = std::get<2>(tek);
    for (bool normalize : {false, true}) {
      SCOPED_TRACE(StrCat("T=", T, " E=", E, " k=", k, normalize ? " normalized" : ""));
      const auto logits = RandomFloats(rng, T * E, -4.f, 4.f);
      const auto want = ref::MoeRoute(ToDoubles(logits), T, E, k, normalize);
      ForEachBackend([&](cpu::CpuBackend& b) {
        Buffer lb = FromFloats(b, logits, {T, E});
        Buffer wb = Poisoned(b, DType::kF32, {T, k}), ib = Poisoned(b, DType::kI32, {T, k});
        ASSERT_TRUE(b.MoeRoute(lb.tensor(), k, normalize, wb.tensor(), ib.tensor()).ok());
        std::vector<int32_t> ids(static_cast<size_t>(T * k));
        ASSERT_TRUE(b.CopyToHost(ib.tensor(), ids.data(), ids.size() * 4).ok());
        EXPECT_EQ(ids, want.ids);
        // softmax: exp and the double sum, 4 ulp; renormalization: a sum of k and a division.
        ExpectNear(
            ref::ToDouble(wb.tensor()), want.weights,
            [&](size_t i) { return (8 + k) * kU * want.weights[i]; }, "moe_route weights");
      });
    }
  }
  cpu::CpuBackend b(1);
  Buffer l = FromFloats(b, std::vector<float>(8, 0.f), {1, 8});
  Buffer w = Poisoned(b, DType::kF32, {1, 9}), i = Poisoned(b, DType::kI32, {1, 9});
  EXPECT_EQ(b.MoeRoute(l.tensor(), 9, true, w.tensor(), i.tensor()).code(),
            absl::StatusCode::kInvalidArgument);  // k > E
}

TEST(OpsFamilyTest, MatmulExperts) {
  auto rng = MakeRng();
  struct S {
    DType t;
    int64_t T, k, E, N, K;
    bool per_slot;  // x has a row per (token, slot), as the down projection
  };
  const std::vector<S> cases = {
      {DType::kF32, 1, 2, 8, 40, 64, false},    {DType::kF16, 3, 2, 4, 64, 96, true},
      {DType::kQ8_0, 1, 8, 16, 64, 256, false}, {DType::kQ8_0, 16, 8, 16, 96, 256, false},
      {DType::kQ8_0, 37, 2, 8, 48, 128, true},  {DType::kQ8_0, 5, 2, 8, 40, 64, false},
      {DType::kQ4_K, 9, 4, 6, 32, 256, false},  {DType::kBF16, 17, 1, 3, 24, 32, true},
  };
  for (const S& s : cases) {
    SCOPED_TRACE(StrCat(DTypeName(s.t), " T=", s.T, " k=", s.k, " E=", s.E, " N=", s.N, " K=", s.K,
                        s.per_slot ? " per-slot x" : ""));
    const int64_t R = s.T * s.k, X = s.per_slot ? R : s.T;
    // Two products (gate and up) of different widths; ids with repeats, unused experts, and
    // (where E allows) tokens choosing the same expert twice.
    const int64_t N2 = s.N + 16;
    const auto w1 = RandomRows(rng, s.t, s.E * s.N, s.K), w2 = RandomRows(rng, s.t, s.E * N2, s.K);
    const Tensor t1 = Tensor::View(w1.data(), s.t, {s.E, s.N, s.K});
    const Tensor t2 = Tensor::View(w2.data(), s.t, {s.E, N2, s.K});
    std::vector<int32_t> ids(static_cast<size_t>(R));
    for (auto& id : ids) id = static_cast<int32_t>(rng() % std::max<int64_t>(1, s.E - 1));
    const auto x = RandomFloats(rng, X * s.K, -2.f, 2.f);
    const auto xq_plain = AsKernelSees(s.t, x, s.K);
    // BF16 weights on AVX-512 BF16 CPUs: vdpbf16ps multiplies bf16-rounded activations.
    std::vector<double> xq_bf = xq_plain;
    for (auto& v : xq_bf) v = BF16ToF32(F32ToBF16(static_cast<float>(v)));
    for (int pass = 0; pass < 2; ++pass) {
      const Tensor& wt = pass == 0 ? t1 : t2;
      const int64_t N = pass == 0 ? s.N : N2;
      const auto wd = ref::ToDouble(wt);
      // The expected rows and the accumulation bound's |x| |w| sums, for activations xq.
      auto expect = [&](const std::vector<double>& xq) {
        std::pair<std::vector<double>, std::vector<double>> r;
        r.first = ref::MatmulExperts(xq, wd, ids, s.T, s.k, N, s.K);
        r.second.assign(r.first.size(), 0.0);
        for (int64_t row = 0; row < R; ++row) {
          const double* xr = xq.data() + (s.per_slot ? row : row / s.k) * s.K;
          for (int64_t n = 0; n < N; ++n) {
            for (int64_t i = 0; i < s.K; ++i) {
              r.second[row * N + n] += std::fabs(xr[i] * wd[(ids[row] * N + n) * s.K + i]);
            }
          }
        }
        return r;
      };
      const auto plain = expect(xq_plain);
      const auto bf = s.t == DType::kBF16 ? expect(xq_bf) : plain;
      ForEachBackend([&](cpu::CpuBackend& b) {
        // The model prepares each 3-D weight as one [E * N, K] matrix (the Q8x16 copy).
        auto p1 = b.PrepareMatmul(t1.Reshape({s.E * s.N, s.K}));
        auto p2 = b.PrepareMatmul(t2.Reshape({s.E * N2, s.K}));
        ASSERT_TRUE(p1.ok() && p2.ok());
        Buffer xb = FromFloats(b, x, {X, s.K});
        Buffer y1 = Poisoned(b, DType::kF32, {R, s.N}), y2 = Poisoned(b, DType::kF32, {R, N2});
        const Backend::ExpertOut outs[] = {{&t1, &y1.tensor()}, {&t2, &y2.tensor()}};
        const Tensor it = Tensor::View(ids.data(), DType::kI32, {s.T, s.k});
        const absl::Status st = b.MatmulExperts(xb.tensor(), it, outs);
        ASSERT_TRUE(st.ok()) << st;
        const bool bf16_path = s.t == DType::kBF16 && b.isa() == cpu::IsaLevel::kAvx512 &&
                               cpu::GetCpuFeatures().avx512bf16;
        const std::vector<double>& want = bf16_path ? bf.first : plain.first;
        const std::vector<double>& sum = bf16_path ? bf.second : plain.second;
        ExpectNear(
            ref::ToDouble((pass == 0 ? y1 : y2).tensor()), want,
            [&](size_t i) { return Depth(s.t, s.K) * kU * sum[i]; }, "matmul_experts");
      });
    }
  }
}

TEST(OpsFamilyTest, MatmulExpertsErrors) {
  cpu::CpuBackend b(1);
  std::vector<float> w(2 * 4 * 8, 0.f);
  const Tensor wt = Tensor::View(w.data(), DType::kF32, {2, 4, 8});
  Buffer x = FromFloats(b, std::vector<float>(8, 1.f), {1, 8});
  Buffer y = Poisoned(b, DType::kF32, {2, 4});
  const Backend::ExpertOut out{&wt, &y.tensor()};
  std::vector<int32_t> bad = {0, 2};  // expert 2 of 2
  EXPECT_EQ(
      b.MatmulExperts(x.tensor(), Tensor::View(bad.data(), DType::kI32, {1, 2}), {&out, 1}).code(),
      absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> neg = {-1, 0};
  EXPECT_EQ(
      b.MatmulExperts(x.tensor(), Tensor::View(neg.data(), DType::kI32, {1, 2}), {&out, 1}).code(),
      absl::StatusCode::kInvalidArgument);
  const Tensor flat = Tensor::View(w.data(), DType::kF32, {8, 8});  // not 3-D
  const Backend::ExpertOut out2{&flat, &y.tensor()};
  std::vector<int32_t> ok = {0, 1};
  EXPECT_EQ(
      b.MatmulExperts(x.tensor(), Tensor::View(ok.data(), DType::kI32, {1, 2}), {&out2, 1}).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(OpsFamilyTest, MoeCombine) {
  auto rng = MakeRng();
  for (const auto& tkd :
       std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 2, 64}, {7, 8, 100}, {16, 1, 256}}) {
    const int64_t T = std::get<0>(tkd), k = std::get<1>(tkd), D = std::get<2>(tkd);
    SCOPED_TRACE(StrCat("T=", T, " k=", k, " D=", D));
    const auto y = RandomFloats(rng, T * k * D, -3.f, 3.f), w = RandomFloats(rng, T * k, 0.f, 1.f);
    const auto r = RandomFloats(rng, T * D, -5.f, 5.f);
    const auto want = ref::MoeCombine(ToDoubles(y), ToDoubles(w), ToDoubles(r), T, k, D);
    std::vector<double> mag(want.size());
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t i = 0; i < D; ++i) {
        double m = std::fabs(r[t * D + i]);
        for (int64_t s = 0; s < k; ++s) m += std::fabs(w[t * k + s] * y[(t * k + s) * D + i]);
        mag[t * D + i] = m;
      }
    }
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer yb = FromFloats(b, y, {T * k, D}), wb = FromFloats(b, w, {T, k});
      Buffer rb = FromFloats(b, r, {T, D});
      ASSERT_TRUE(b.MoeCombine(yb.tensor(), wb.tensor(), rb.tensor(), rb.tensor()).ok());
      // k products and k + 1 sums in f32.
      ExpectNear(
          ref::ToDouble(rb.tensor()), want, [&](size_t i) { return (2 * k + 2) * kU * mag[i]; },
          "moe_combine");
    });
  }
}

}  // namespace
}  // namespace phx::ops::testing
