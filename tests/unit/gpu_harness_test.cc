// The GPU checks' error bounds, checked here without a GPU on the GPU suite's own cases
// (tests/gpu/*_ref.h, the code phx_gpu_kernels runs):
//  - allowed: an f32 emulation of each kernel's arithmetic (plus its one output rounding) stays
//    within half the bound everywhere;
//  - caught: the bug classes the bound exists for (a dropped split, an off-by-one at a split,
//    block or tile boundary, a wrong KV head, a k-tail or column off by one, a wrong block
//    scale, a wrong RoPE position) exceed the bound by a wide margin (10x at the worst element)
//    - so a kernel with such a bug fails on the GPU.
// Each verdict's worst err/tol is printed; tests/gpu/README.md quotes them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "base/dtype.h"
#include "tests/gpu/attention_ref.h"
#include "tests/gpu/elementwise_ref.h"
#include "tests/gpu/gemv_ref.h"
#include "tests/gpu/harness.h"
#include "tests/gpu/sampling_ref.h"

namespace phx::gpu_test {
namespace {

// An emulation's worst err/tol must stay below Allowed(out): with a 16-bit output the bound's
// first term is exactly one rounding, which a correct result may use in full; the f32 slack,
// judged alone with an f32 output, must keep a 2x margin.
double Allowed(DType out) { return out == DType::kF32 ? 0.5 : 1.0; }
constexpr double kCaught = 10.0;  // a bug's worst err/tol must reach at least this

double Worst(const std::vector<double>& got, const std::vector<double>& want,
             const std::vector<double>& tol, const std::string& what) {
  const Verdict v = Judge(got, want, tol);
  std::printf("  %-64s worst err/tol %10.3g\n", what.c_str(), v.worst);
  return v.worst;
}

// ---- Harness basics ------------------------------------------------------------------------

TEST(GpuHarnessTest, JudgeFailsNaNAndReportsTheWorstElement) {
  const std::vector<double> want = {1.0, 2.0, 3.0}, tol = {0.1, 0.1, 0.1};
  Verdict v = Judge({1.05, 2.0, 3.02}, want, tol);
  EXPECT_TRUE(v.ok());
  EXPECT_NEAR(v.worst, 0.5, 1e-12);
  EXPECT_EQ(v.worst_at, 0u);
  v = Judge({1.0, NAN, 3.0}, want, tol);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.first, 1u);
  EXPECT_TRUE(std::isinf(v.worst));
  EXPECT_FALSE(Judge({1.0, 2.0}, want, tol).ok());  // size mismatch
}

TEST(GpuHarnessTest, UnitRoundoffIsOneRoundingOfTheType) {
  for (DType t : {DType::kF16, DType::kBF16, DType::kF32}) {
    double worst = 0;
    for (int i = 0; i < 20000; ++i) {
      const double x = Normal(3.0);
      worst = std::max(worst, std::fabs(RoundTo(x, t) - x) / std::fabs(x));
    }
    // RoundTo rounds through f32 first (double rounding): within u + 2 u32.
    EXPECT_LE(worst, UnitRoundoff(t) + 2 * UnitRoundoff(DType::kF32)) << DTypeName(t);
    EXPECT_GT(worst, UnitRoundoff(t) * 0.9) << DTypeName(t);
  }
}

TEST(GpuHarnessTest, ExactDequantizationMatchesTheReferenceDequantizer) {
  for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const HostWeights w = RandomWeights(t, 3, 512);
    std::vector<float> f(w.values.size());
    ASSERT_TRUE(DequantizeRow(t, w.bytes.data(), f.data(), static_cast<int64_t>(f.size())));
    for (size_t i = 0; i < f.size(); ++i) {
      // base's f32 dequantizer rounds once (or twice: a product, then a difference).
      ASSERT_NEAR(f[i], w.values[i], 3 * UnitRoundoff(DType::kF32) * std::fabs(w.values[i]) + 1e-30)
          << DTypeName(t) << " element " << i;
    }
  }
}

// ---- Attention -----------------------------------------------------------------------------

TEST(GpuHarnessTest, DecodeBoundAllowsF32AndCatchesSplitBugs) {
  const std::vector<AttnCase> cases = DecodeCases();
  // The mixed batch (sequence 4 has 3000 tokens: 12 splits of kDecodeChunk) in three of its four
  // (dtype, head dim) forms, and its f32-q/out form (the bound is then the f32 slack alone).
  for (auto [t, hd, f32_io] :
       {std::tuple{DType::kF16, 128, false}, std::tuple{DType::kBF16, 128, false},
        std::tuple{DType::kBF16, 64, false}, std::tuple{DType::kF16, 128, true}}) {
    const AttnCase* found = nullptr;
    for (const AttnCase& c : cases) {
      if (c.t == t && c.hd == hd && c.nq.size() == 5 && c.n_heads == 32 &&
          (c.io == DType::kF32) == f32_io) {
        found = &c;
      }
    }
    ASSERT_NE(found, nullptr);
    const AttnCase& c = *found;
    Rng().seed(kDefaultSeed + hd);
    const AttnData d = BuildAttn(c);
    const AttnRef ref = ReferenceAttn(c, d);
    const std::string name = c.Name("");
    EXPECT_LT(Worst(EmulateAttn(c, d, false, {}), ref.out, AttnTol(c, ref, false),
                    name + " f32 emulation"),
              Allowed(c.io));
    if (f32_io) continue;
    const int row = d.q_indptr[4];
    const AttnRef one = ReferenceAttn(c, d, {}, {row});
    const std::vector<double> one_tol = AttnTol(c, one, false);
    const int k = kDecodeChunk;
    for (const Mutation& m : {
             Mutation{Mutation::kDropRange, 4, k, 2 * k},          // a whole split dropped
             Mutation{Mutation::kDropRange, 4, 2 * k, 2 * k + 1},  // a split starts 1 late
             Mutation{Mutation::kDropRange, 4, 2 * k - 1, 2 * k},  // a split ends 1 early
             Mutation{Mutation::kDuplicate, 4, 2 * k - 1, 0},      // splits overlap by 1
             Mutation{Mutation::kDropRange, 4, 2999, 3000},        // the last token
         }) {
      EXPECT_GE(Worst(ReferenceAttn(c, d, m, {row}).out, one.out, one_tol, name + " " + m.Name()),
                kCaught);
    }
  }
  // Lengths at block and split boundaries (512, 1024: the last page full and a split ending with
  // the sequence), and the GQA mapping.
  for (auto [t, hd] : {std::pair{DType::kF16, 64}, std::pair{DType::kBF16, 128}}) {
    const AttnCase* edges = nullptr;
    for (const AttnCase& c : cases) {
      if (c.t == t && c.io == t && c.hd == hd && c.nq.size() == 8 && c.n_kv == 8) edges = &c;
    }
    ASSERT_NE(edges, nullptr);
    const AttnData e = BuildAttn(*edges);
    const AttnRef eref = ReferenceAttn(*edges, e);
    EXPECT_LT(Worst(EmulateAttn(*edges, e, false, {}), eref.out, AttnTol(*edges, eref, false),
                    edges->Name("f32 emulation")),
              Allowed(t));
    for (int s : {3, 5}) {
      const int r = e.q_indptr[s], len = edges->kv_len[s];
      const AttnRef base = ReferenceAttn(*edges, e, {}, {r});
      const Mutation m{Mutation::kDropRange, s, len - 1, len};
      EXPECT_GE(Worst(ReferenceAttn(*edges, e, m, {r}).out, base.out, AttnTol(*edges, base, false),
                      edges->Name("") + " last token of a full page: " + m.Name()),
                kCaught);
    }
    const Mutation shift{Mutation::kHeadShift};
    const AttnRef base01 = ReferenceAttn(*edges, e, {}, {0, 1});
    EXPECT_GE(Worst(ReferenceAttn(*edges, e, shift, {0, 1}).out, base01.out,
                    AttnTol(*edges, base01, false), edges->Name("") + " " + shift.Name()),
              kCaught);
  }
}

TEST(GpuHarnessTest, PrefillBoundAllowsRoundedProbabilitiesAndCatchesMaskBugs) {
  for (const AttnCase& c : PrefillCases()) {
    if (c.hd != 64) continue;  // hd 128 has the same arithmetic per element; half the time
    Rng().seed(kDefaultSeed + c.n_heads);
    const AttnData d = BuildAttn(c);
    // Rows: each sequence's first, last and 64-tile-boundary query rows, plus a few more.
    std::vector<int> rows;
    for (size_t s = 0; s < c.nq.size(); ++s) {
      for (int j : {0, 1, 62, 63, 64, 65, c.nq[s] / 2, c.nq[s] - 1}) {
        if (j >= 0 && j < c.nq[s]) rows.push_back(d.q_indptr[s] + j);
      }
    }
    std::sort(rows.begin(), rows.end());
    rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
    const AttnRef ref = ReferenceAttn(c, d, {}, rows);
    const std::vector<double> tol = AttnTol(c, ref, true);
    EXPECT_LT(
        Worst(EmulateAttn(c, d, true, rows), ref.out, tol, c.Name("f32 emulation, P rounded")),
        Allowed(c.t));
    // Rows whose causal limit can move up by one: the last row of each sequence cannot.
    std::vector<int> inner;
    for (size_t s = 0; s < c.nq.size(); ++s) {
      for (int r : rows) {
        if (r >= d.q_indptr[s] && r < d.q_indptr[s + 1] - 1) inner.push_back(r);
      }
    }
    if (!inner.empty()) {
      const AttnRef base = ReferenceAttn(c, d, {}, inner);
      const std::vector<double> btol = AttnTol(c, base, true);
      for (int delta : {+1, -1}) {
        const Mutation m{Mutation::kCausalShift, 0, 0, 0, delta};
        EXPECT_GE(
            Worst(ReferenceAttn(c, d, m, inner).out, base.out, btol, c.Name("") + " " + m.Name()),
            kCaught);
      }
    }
    // A 64-token KV tile boundary: token 64 of the longest sequence dropped, seen by its last row.
    size_t longest = 0;
    for (size_t s = 0; s < c.nq.size(); ++s) {
      if (c.kv_len[s] > c.kv_len[longest]) longest = s;
    }
    if (c.kv_len[longest] > 65) {
      // The rows that see the fewest tokens past the boundary (the most sensitive ones; the GPU
      // check compares every row, these among them) and the last row.
      std::vector<int> seq_rows;
      for (int r = d.q_indptr[longest]; r < d.q_indptr[longest + 1]; ++r) {
        const int pos = c.kv_len[longest] - c.nq[longest] + (r - d.q_indptr[longest]);
        if ((pos >= 64 && pos < 72) || r == d.q_indptr[longest + 1] - 1) seq_rows.push_back(r);
      }
      const AttnRef base = ReferenceAttn(c, d, {}, seq_rows);
      const std::vector<double> btol = AttnTol(c, base, true);
      for (const Mutation& m :
           {Mutation{Mutation::kDropRange, static_cast<int>(longest), 64, 65},
            Mutation{Mutation::kDropRange, static_cast<int>(longest), 63, 64}}) {
        EXPECT_GE(Worst(ReferenceAttn(c, d, m, seq_rows).out, base.out, btol,
                        c.Name("") + " KV tile boundary: " + m.Name()),
                  kCaught);
      }
    }
    if (c.n_kv > 1) {
      const Mutation m{Mutation::kHeadShift};
      const AttnRef base = ReferenceAttn(c, d, {}, {rows.back()});
      EXPECT_GE(Worst(ReferenceAttn(c, d, m, {rows.back()}).out, base.out, AttnTol(c, base, true),
                      c.Name("") + " " + m.Name()),
                kCaught);
    }
  }
}

// ---- Matrix products -----------------------------------------------------------------------

TEST(GpuHarnessTest, DotBoundAllowsF32AccumulationAndCatchesTailAndScaleBugs) {
  // The GEMV suite's shapes (and the GEMM suite's largest k), every weight type.
  const int shapes[][3] = {{11, 96, 512}, {8, 101, 768}, {11, 43, 1024}, {37, 200, 264}};
  for (DType wt :
       {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (const auto& s : shapes) {
      const int m = s[0], n = s[1], k = s[2];
      if ((wt == DType::kQ4_K || wt == DType::kQ5_K || wt == DType::kQ6_K) && k % kQK_K != 0) {
        continue;
      }
      if (wt == DType::kQ8_0 && k % kQK8_0 != 0) continue;
      const HostWeights w = RandomWeights(wt, n, k);
      std::vector<double> x;
      RandomHalf(static_cast<size_t>(m) * k, DType::kF16, 1.0, &x);
      const DotRef ref = ReferenceDot(x, w.values, m, n, k);
      char name[80];
      std::snprintf(name, sizeof(name), "m%d n%d k%d %s", m, n, k, DTypeName(wt).data());
      for (DType out : {DType::kF32, DType::kF16, DType::kBF16}) {
        const std::vector<double> tol = DotTol(ref.y, ref.abs_sum, k, out);
        EXPECT_LT(Worst(EmulateDot(x, w.values, m, n, k, out), ref.y, tol,
                        std::string(name) + " -> " + DTypeName(out).data() + " f32 emulation"),
                  Allowed(out));
      }
      // The bugs, judged at the loosest output type the suite uses (bf16) and at f32.
      for (DType out : {DType::kF32, DType::kBF16}) {
        const std::vector<double> tol = DotTol(ref.y, ref.abs_sum, k, out);
        for (DotBug bug : {DotBug::kDropLast8, DotBug::kDropUnit, DotBug::kShiftColumn}) {
          const char* bn = bug == DotBug::kDropLast8  ? "k tail: last 8 products dropped"
                           : bug == DotBug::kDropUnit ? "one 8-product unit dropped"
                                                      : "column j uses row j+1";
          EXPECT_GE(Worst(ReferenceDot(x, w.values, m, n, k, bug).y, ref.y, tol,
                          std::string(name) + " -> " + DTypeName(out).data() + " " + bn),
                    kCaught);
        }
        if (wt != DType::kF16 && wt != DType::kBF16) {
          const std::vector<double> wrong =
              DequantizeExact(wt, w.bytes.data(), n, k, /*wrong_scale=*/true);
          EXPECT_GE(Worst(ReferenceDot(x, wrong, m, n, k).y, ref.y, tol,
                          std::string(name) + " -> " + DTypeName(out).data() + " wrong scale"),
                    kCaught);
        }
      }
    }
  }
}

TEST(GpuHarnessTest, RoundingBoundCatchesAWrongBlockScale) {
  for (DType wt : {DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    const HostWeights w = RandomWeights(wt, 33, 1024);
    for (DType out : {DType::kF16, DType::kBF16}) {
      const std::vector<double> tol = RoundingTol(w.values, out, true);
      std::vector<double> emulated(w.values.size());
      for (size_t i = 0; i < emulated.size(); ++i) {
        emulated[i] = RoundTo(static_cast<float>(w.values[i]), out);
      }
      const std::string name =
          std::string("dequantize ") + DTypeName(wt).data() + " -> " + DTypeName(out).data();
      EXPECT_LE(Worst(emulated, w.values, tol, name + " f32 then rounded"), 1.0);
      EXPECT_GE(Worst(DequantizeExact(wt, w.bytes.data(), 33, 1024, true), w.values, tol,
                      name + " wrong scale"),
                kCaught);
    }
  }
}

// ---- Row-wise ops --------------------------------------------------------------------------

TEST(GpuHarnessTest, RowOpBoundsAllowF32AndCatchTheirBugs) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (auto [rows, dim, residual] : {std::tuple{5, 1000, false}, std::tuple{7, 4096, true}}) {
      std::vector<double> x, r, w;
      RandomHalf(static_cast<size_t>(rows) * dim, t == DType::kF32 ? DType::kBF16 : t, 1.0, &x);
      RandomHalf(static_cast<size_t>(rows) * dim, t == DType::kF32 ? DType::kBF16 : t, 1.0, &r);
      w.resize(dim);
      for (double& v : w) v = static_cast<float>(Normal());
      const std::vector<double>* res = residual ? &r : nullptr;
      const RmsRef ref = ReferenceRmsNorm(x, res, w, rows, dim, t, 1e-5);
      const std::vector<double> tol = RowOpTol(ref.y, t);
      char name[64];
      std::snprintf(name, sizeof(name), "rms norm [%d, %d] %s%s", rows, dim, DTypeName(t).data(),
                    residual ? " +residual" : "");
      EXPECT_LT(Worst(EmulateRmsNorm(x, res, w, rows, dim, t, 1e-5), ref.y, tol,
                      std::string(name) + " f32 emulation"),
                Allowed(t));
      if (residual) {
        EXPECT_GE(Worst(ReferenceRmsNorm(x, res, w, rows, dim, t, 1e-5, RmsBug::kNoResidual).y,
                        ref.y, tol, std::string(name) + " residual not added"),
                  kCaught);
      }
      // Dropping one square shifts y by ~1 / (2 dim) relative: visible in f32 output only (the
      // 16-bit outputs run the same reduction code).
      if (t == DType::kF32) {
        EXPECT_GE(Worst(ReferenceRmsNorm(x, res, w, rows, dim, t, 1e-5, RmsBug::kDropLastInSum).y,
                        ref.y, tol, std::string(name) + " last element left out of the sum"),
                  kCaught);
      }
    }
    std::vector<double> g, u;
    RandomHalf(9 * 1000, t == DType::kF32 ? DType::kBF16 : t, 2.0, &g);
    RandomHalf(9 * 1000, t == DType::kF32 ? DType::kBF16 : t, 2.0, &u);
    const std::vector<double> ref = ReferenceSwiGlu(g, u, 9, 1000);
    const std::vector<double> tol = RowOpTol(ref, t);
    const std::string name = std::string("swiglu [9, 1000] ") + DTypeName(t).data();
    EXPECT_LT(Worst(EmulateSwiGlu(g, u, t), ref, tol, name + " f32 emulation"), Allowed(t));
    EXPECT_GE(Worst(ReferenceSwiGlu(g, u, 9, 1000, SwiGluBug::kUpShifted), ref, tol,
                    name + " up read one column off"),
              kCaught);
  }
}

TEST(GpuHarnessTest, RopeBoundAllowsF32AndCatchesPositionAndFactorBugs) {
  const int tokens = 7, heads = 8;
  for (auto [neox, n_rot, hd, factors] :
       {std::tuple{false, 128, 128, false}, std::tuple{true, 64, 128, false},
        std::tuple{false, 64, 64, true}, std::tuple{true, 128, 128, true}}) {
    std::vector<int32_t> pos(tokens);
    for (int32_t& p : pos) p = static_cast<int32_t>(Rng()() % 30000);
    pos[0] = 0;
    std::vector<float> ff(n_rot / 2);
    for (float& f : ff) f = static_cast<float>(Uniform(1.0, 8.0));
    RopeSpec s;
    s.neox = neox, s.n_rot = n_rot, s.head_dim = hd;
    s.theta_scale = std::pow(500000.f, -2.0f / static_cast<float>(n_rot));
    s.freq_scale = factors ? 0.5f : 1.f;
    s.freq_factors = factors ? &ff : nullptr;
    std::vector<double> x;
    RandomHalf(static_cast<size_t>(tokens) * heads * hd, DType::kF16, 1.0, &x);
    std::vector<double> ref = x, emu = x;
    ReferenceRope(ref, tokens, heads, pos, s);
    EmulateRope(emu, tokens, heads, pos, s);
    char name[80];
    std::snprintf(name, sizeof(name), "rope %s n_rot %d hd %d%s", neox ? "neox" : "normal", n_rot,
                  hd, factors ? " freq_factors" : "");
    for (DType out : {DType::kF32, DType::kF16, DType::kBF16}) {
      std::vector<double> rounded(emu.size());
      for (size_t i = 0; i < emu.size(); ++i) rounded[i] = RoundTo(emu[i], out);
      EXPECT_LT(Worst(rounded, ref, RopeTol(ref, x, tokens, heads, s, out),
                      std::string(name) + " -> " + DTypeName(out).data() + " f32 emulation"),
                Allowed(out));
    }
    const std::vector<double> tol = RopeTol(ref, x, tokens, heads, s, DType::kBF16);
    for (RopeBug bug :
         {RopeBug::kPositionPlusOne, RopeBug::kNoFreqFactors, RopeBug::kPairsSwapped}) {
      if (bug == RopeBug::kNoFreqFactors && !factors) continue;
      std::vector<double> b = x;
      ReferenceRope(b, tokens, heads, pos, s, bug);
      const char* bn = bug == RopeBug::kPositionPlusOne ? "position + 1"
                       : bug == RopeBug::kNoFreqFactors ? "frequency factors ignored"
                                                        : "normal/NeoX pairs swapped";
      EXPECT_GE(Worst(b, ref, tol, std::string(name) + " -> bf16 " + bn), kCaught);
    }
  }
}

// ---- Sampling -------------------------------------------------------------------------------

// The sampling check accepts a token only when it is the reference's or lies within 1e-5 of the
// total mass of the reference's draw. On the suite's own rows: draws from f32 masses (as the
// kernel forms them) are all accepted, and each bug below produces at least one rejected row.
TEST(GpuHarnessTest, SamplingRuleAllowsF32MassesAndCatchesSelectionBugs) {
  Rng().seed(kDefaultSeed);
  for (auto [rows, vocab] : {std::pair{50, 1000}, std::pair{20, 32000}, std::pair{10, 128256}}) {
    const SamplingCase c = MakeSamplingCase(rows, vocab);
    int rejected_f32 = 0;
    std::vector<int> rejected(5, 0);
    for (int r = 0; r < rows; ++r) {
      const float* l = &c.logits[static_cast<size_t>(r) * vocab];
      const RefDraw ref = ReferenceDraw(l, vocab, c.params[r]);
      rejected_f32 +=
          !AcceptableDraw(ref, c.params[r], ReferenceDraw(l, vocab, c.params[r], {}, true).token);
      for (SamplingBug bug : {SamplingBug::kTopKPlusOne, SamplingBug::kTopPOneMore,
                              SamplingBug::kNoTemperature, SamplingBug::kCounterPlusOne}) {
        const int token = ReferenceDraw(l, vocab, c.params[r], bug).token;
        rejected[static_cast<int>(bug)] += !AcceptableDraw(ref, c.params[r], token);
      }
    }
    std::printf(
        "  sampling %d x %d: f32 masses rejected in %d rows; bugs rejected in %d "
        "(top-k + 1), %d (top-p one value more), %d (no temperature), %d (counter + 1) "
        "rows\n",
        rows, vocab, rejected_f32, rejected[1], rejected[2], rejected[3], rejected[4]);
    EXPECT_EQ(rejected_f32, 0);
    // top-k + 1 changes only top-k rows whose draw lands on the extra token: demanded where
    // the suite has enough such rows (the 50-row case); the others must show in every case.
    if (rows == 50) EXPECT_GE(rejected[1], 1);
    EXPECT_GE(rejected[2] + rejected[1], 1);
    EXPECT_GE(rejected[3], 1);
    EXPECT_GE(rejected[4], 1);
  }
}

}  // namespace
}  // namespace phx::gpu_test
