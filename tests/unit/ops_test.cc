// Matmul on every quantized weight type, ISA level and thread count against the float64
// reference (RunCase, ops_matmul_case.h, states the tolerances); the float types are in
// ops_float_test.cc.
#include <algorithm>
#include <cstring>

#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/quantize_act.h"
#include "ops/cpu/repack_formats.h"
#include "ops_matmul_case.h"
#include "ops_test_util.h"

namespace phx::ops::testing {

std::vector<uint8_t> RandomWeights(std::mt19937_64& rng, DType t, int64_t N, int64_t K,
                                   bool quantized_floats) {
  const int64_t rb = static_cast<int64_t>(*RowBytes(t, K));
  std::vector<uint8_t> w(static_cast<size_t>(N * rb));
  if (IsQuantized(t) && t != DType::kQ8_0 && !quantized_floats) {
    for (auto& b : w) b = static_cast<uint8_t>(rng());
    std::uniform_real_distribution<float> d(0.001f, 0.02f);
    const int64_t bb = GetDTypeInfo(t)->block_bytes;
    auto put = [&](uint8_t* at, float v) {
      const uint16_t h = F32ToF16(v);
      std::memcpy(at, &h, 2);
    };
    for (int64_t i = 0; i < N * rb / bb; ++i) {
      uint8_t* blk = w.data() + i * bb;
      const float sign = rng() % 2 ? 1.f : -1.f;
      switch (t) {
        case DType::kQ4_K:
        case DType::kQ5_K:
          put(blk, d(rng)), put(blk + 2, d(rng));
          break;
        case DType::kQ2_K:
          put(blk + 80, d(rng)), put(blk + 82, d(rng));
          break;
        case DType::kQ3_K:
          put(blk + 108, sign * d(rng));
          break;
        case DType::kQ6_K:
          put(blk + 208, d(rng));
          break;
        case DType::kQ4_1:
        case DType::kQ5_1:
          put(blk, d(rng)), put(blk + 2, sign * 8 * d(rng));
          break;
        case DType::kMXFP4:
          blk[0] = static_cast<uint8_t>(118 + rng() % 8);
          break;
        default:  // Q4_0 Q5_0 IQ4_NL IQ4_XS: d first
          put(blk, sign * d(rng));
      }
    }
    return w;
  }
  for (int64_t n = 0; n < N && K > 0; ++n) {
    const std::vector<float> row = RandomFloats(rng, static_cast<size_t>(K));
    EXPECT_TRUE(QuantizeRow(t, row.data(), w.data() + n * rb, K));
  }
  return w;
}

void RunCase(DType t, const Case& c, std::mt19937_64& rng, bool prepare, bool quantized_floats) {
  SCOPED_TRACE(StrCat(DTypeName(t), " M=", c.M, " N=", c.N, " K=", c.K, c.bias ? " bias" : "",
                      c.strided ? " strided" : "", prepare ? " prepared" : "",
                      quantized_floats ? " quantized floats" : ""));
  const std::vector<uint8_t> wbytes = RandomWeights(rng, t, c.N, c.K, quantized_floats);
  const Tensor wt = Tensor::View(wbytes.data(), t, {c.N, c.K});
  const std::vector<double> wd = ref::ToDouble(wt);
  const std::vector<float> x = RandomFloats(rng, static_cast<size_t>(c.M * c.K), -2.f, 2.f);
  const std::vector<float> bias = RandomFloats(rng, static_cast<size_t>(c.N));
  const std::vector<double> bd = c.bias ? ToDoubles(bias) : std::vector<double>{};

  // Activations as the kernels see them: Q8_0 blocks for the q8 family, Q8_K super-blocks
  // for the k family and for IQ4_XS repacked for the AVX-512 kernels (as llama.cpp does).
  struct Want {
    std::vector<double> q, s_q, qerr;
  };
  enum class Act { kF32, kQ8_0, kQ8_K, kBf16 };
  auto reference = [&](Act act) {
    std::vector<double> xq = ToDoubles(x);
    for (int64_t m = 0; m < c.M && act != Act::kF32; ++m) {
      std::span<const float> row(x.data() + m * c.K, static_cast<size_t>(c.K));
      std::vector<double> r(row.begin(), row.end());
      if (act == Act::kBf16) {
        for (auto& v : r) v = BF16ToF32(F32ToBF16(static_cast<float>(v)));
      } else {
        r = act == Act::kQ8_K ? ref::QuantizeDequantizeQ8_K(row) : ref::QuantizeDequantizeQ8_0(row);
      }
      std::copy(r.begin(), r.end(), xq.begin() + m * c.K);
    }
    Want w{ref::Matmul(xq, wd, bd, c.M, c.N, c.K), std::vector<double>(c.M * c.N),
           std::vector<double>(c.M * c.N)};
    for (int64_t m = 0; m < c.M; ++m) {
      for (int64_t n = 0; n < c.N; ++n) {
        double s = c.bias ? std::fabs(bias[n]) : 0.0, e = 0;
        for (int64_t k = 0; k < c.K; ++k) {
          s += std::fabs(xq[m * c.K + k] * wd[n * c.K + k]);
          e += std::fabs(wd[n * c.K + k]) * std::fabs(x[m * c.K + k] - xq[m * c.K + k]);
        }
        w.s_q[m * c.N + n] = s;
        w.qerr[m * c.N + n] = e;
      }
    }
    return w;
  };
  const bool kq = cpu::MatmulFamily(t) == cpu::Family::kK;
  const Want want_a = reference(!IsQuantized(t) ? Act::kF32 : kq ? Act::kQ8_K : Act::kQ8_0);
  const Want want_k = t == DType::kIQ4_XS && prepare ? reference(Act::kQ8_K) : Want{};
  // BF16 weights on AVX-512 BF16 CPUs: vdpbf16ps against bf16-rounded activations.
  const Want want_bf = t == DType::kBF16 ? reference(Act::kBf16) : Want{};
  const std::vector<double> want = ref::Matmul(ToDoubles(x), wd, bd, c.M, c.N, c.K);
  const double depth =
      IsQuantized(t) ? 4.0 * (c.K / 16.0 + 16)
                     : std::max(c.K / 4.0 + 16, std::min<double>(c.K, 512) + c.K / 512.0 + 17);
  // The types PrepareMatmul repacks for the AVX-512 VNNI kernels.
  const bool repackable = IsQuantized(t);

  ForEachBackend([&](cpu::CpuBackend& b) {
    const int64_t pad = c.strided ? 3 : 0;
    Buffer xb = FromFloats(b, std::vector<float>(c.M * (c.K + pad), 0.f), {c.M, c.K + pad});
    Tensor xt = c.strided ? xb.tensor().Cols(pad, c.K) : xb.tensor();
    for (int64_t m = 0; m < c.M && c.K > 0; ++m) {
      std::memcpy(xt.row_as<float>(m), x.data() + m * c.K, c.K * 4);
    }
    Buffer yb = Poisoned(b, DType::kF32, {c.M, c.N + 2 * pad});
    const Tensor yt = c.strided ? yb.tensor().Cols(pad, c.N) : yb.tensor();
    Buffer bb = FromFloats(b, bias, {c.N});
    auto w = b.AdoptWeight(wt);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_EQ(w->data(), wbytes.data()) << "AdoptWeight must not copy";
    std::unique_ptr<PreparedWeight> prepared;
    if (prepare) {
      auto p = b.PrepareMatmul(w->tensor());
      ASSERT_TRUE(p.ok()) << p.status();
      prepared = *std::move(p);
      // The repacked path must really run where it exists, or this test proves nothing.
      EXPECT_EQ(prepared != nullptr, repackable ? b.isa() == cpu::IsaLevel::kAvx512 : c.K > 0);
    }
    const absl::Status st = b.Matmul(xt, w->tensor(), c.bias ? &bb.tensor() : nullptr, yt);
    ASSERT_TRUE(st.ok()) << st;
    const std::vector<double> got = ref::ToDouble(yt);
    const bool bf16_path =
        t == DType::kBF16 && b.isa() == cpu::IsaLevel::kAvx512 && cpu::GetCpuFeatures().avx512bf16;
    const Want& wq = prepared != nullptr && t == DType::kIQ4_XS ? want_k
                     : bf16_path                                ? want_bf
                                                                : want_a;
    ExpectNear(
        got, wq.q, [&](size_t i) { return depth * kU * wq.s_q[i]; }, "vs quantized-x ref");
    ExpectNear(
        got, want, [&](size_t i) { return depth * kU * wq.s_q[i] + wq.qerr[i] * (1 + 1e-6); },
        "vs exact ref");
    if (c.strided) {  // columns outside the view stay untouched (NaN)
      const std::vector<double> all = ref::ToDouble(yb.tensor());
      for (int64_t m = 0; m < c.M; ++m) {
        for (int64_t j = 0; j < pad; ++j) {
          EXPECT_TRUE(std::isnan(all[m * (c.N + 2 * pad) + j]));
          EXPECT_TRUE(std::isnan(all[m * (c.N + 2 * pad) + pad + c.N + j]));
        }
      }
    }
  });
}

namespace {

// Shapes: M = 1, 2, 7, 64, 129 (GEMV and GEMM, tile remainders); N around the 4-row groups and
// 64-row panels; an odd number of 32-blocks (q8) and more super-blocks than one K chunk
// (K-quants: chunk = 4 super-blocks).
const Case kQ8Cases[] = {
    {1, 1, 32},           {1, 7, 96, true},          {2, 67, 64},
    {7, 64, 768},         {64, 70, 160, true, true}, {129, 13, 96},
    {1, 130, 1056, true}, {9, 5, 2080, false, true},
};
const Case kKCases[] = {
    {1, 1, 256},
    {1, 7, 512, true},
    {2, 67, 256},
    {7, 64, 768, false, true},
    {64, 70, 256, true},
    {129, 13, 1280},
    {1, 130, 1280, true, true},
};

TEST(OpsMatmulTest, Q8Family) {
  auto rng = MakeRng();
  for (DType t : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                  DType::kIQ4_NL, DType::kMXFP4}) {
    for (const Case& c : kQ8Cases) RunCase(t, c, rng);
  }
}

// The issue's shapes for every quantized type: M in {1, 2, 7, 16, 17, 33} (decode, the tile
// and panel edges), odd N, K of several super-blocks.
TEST(OpsMatmulTest, EveryTypeIssueShapes) {
  auto rng = MakeRng();
  for (DType t : {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                  DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K,
                  DType::kIQ4_NL, DType::kIQ4_XS, DType::kMXFP4}) {
    for (const int64_t M : {1, 2, 7, 16, 17, 33}) {
      RunCase(t, Case{M, 37, 768, M % 2 == 1, M == 7}, rng);
    }
  }
}

// The Q8x16 copy: M around the 8-row panels, the 16-row tile and the 64-row blocks (and row
// splits of a narrow product), N around the 16-row groups (padded last group), K with an odd
// number of blocks and long rows.
TEST(OpsMatmulTest, Q8_0Prepared) {
  const Case cases[] = {
      {1, 16, 32},
      {1, 1, 64, true},
      {2, 17, 96, false, true},
      {7, 48, 768},
      {8, 15, 160},
      {9, 33, 2080, true},
      {16, 130, 768},
      {17, 64, 96, true, true},
      {24, 48, 320},
      {31, 33, 96, true},
      {33, 16, 2048},
      {48, 40, 160, false, true},
      {64, 31, 256},
      {65, 16, 1056, true},
      {80, 17, 64},
      {129, 47, 320},
      {16, 256, 2048},
  };
  auto rng = MakeRng();
  for (const Case& c : cases) RunCase(DType::kQ8_0, c, rng, /*prepare=*/true);
}

// The 4-6-bit layouts (Q32x16, Kx16): the issue's M values around the 8-row panels and the
// 16-row tile, N around the 16-row groups (odd, padded last group), K of one and several
// super-blocks (and for the 32-element types an odd number of blocks); decode over 5 full
// groups and a padded one (1 thread: two pairs, then two single groups; 3 threads: a pair per
// 2-group task) and over exactly 5 groups.
TEST(OpsMatmulTest, LowBitPrepared) {
  auto rng = MakeRng();
  for (DType t :
       {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kMXFP4,
        DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_XS}) {
    const bool k256 = GetDTypeInfo(t)->block_elems == 256;
    for (const int64_t M : {1, 2, 7, 16, 17, 33}) {
      RunCase(t, Case{M, 37, k256 ? 768 : 800, M % 2 == 0, M == 17}, rng, /*prepare=*/true);
    }
    RunCase(t, Case{3, 15, 256, true}, rng, true);
    RunCase(t, Case{40, 48, k256 ? 1280 : 96}, rng, true);
    // Decode's two streams (Q32x16): pairs of full groups, an odd full group and a padded one.
    RunCase(t, Case{1, 87, k256 ? 512 : 160, true}, rng, true);
    RunCase(t, Case{1, 80, 256, false, true}, rng, true);
  }
}

// Weights as `phalanx model synth` writes them (QuantizeRow of random floats, not random
// blocks) in the shapes of model_test's synthesized llama (D 256, F 768, q 256, kv 128, vocab
// 512; 5- and 13-row steps), direct and prepared: model_test's forward rows rest on these.
TEST(OpsMatmulTest, QuantizedFloatsModelShapes) {
  auto rng = MakeRng();
  for (DType t :
       {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kIQ4_NL, DType::kMXFP4,
        DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_XS}) {
    for (const Case& c :
         {Case{5, 128, 256}, Case{13, 768, 256}, Case{5, 256, 768, true}, Case{1, 512, 256}}) {
      for (bool prepare : {false, true}) RunCase(t, c, rng, prepare, /*quantized_floats=*/true);
    }
  }
}

// A released copy is never used again: the same bytes, changed, give the new product (the
// direct Q8_0 tiles of a backend that never saw the weight are the reference).
TEST(OpsMatmulTest, Q8_0PreparedReleased) {
  auto rng = MakeRng();
  cpu::CpuBackend b(2), fresh(2);
  const int64_t M = 3, N = 32, K = 64;
  std::vector<uint8_t> w = RandomWeights(rng, DType::kQ8_0, N, K);
  const Tensor wt = Tensor::View(w.data(), DType::kQ8_0, {N, K});
  Buffer x = FromFloats(b, RandomFloats(rng, M * K), {M, K});
  Buffer y0 = Poisoned(b, DType::kF32, {M, N}), y1 = Poisoned(b, DType::kF32, {M, N});
  Buffer want = Poisoned(b, DType::kF32, {M, N});
  auto p = b.PrepareMatmul(wt);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(b.Matmul(x.tensor(), wt, nullptr, y0.tensor()).ok());
  p->reset();
  const std::vector<uint8_t> other = RandomWeights(rng, DType::kQ8_0, N, K);
  std::memcpy(w.data(), other.data(), w.size());
  ASSERT_TRUE(b.Matmul(x.tensor(), wt, nullptr, y1.tensor()).ok());
  ASSERT_TRUE(fresh.Matmul(x.tensor(), wt, nullptr, want.tensor()).ok());
  const std::vector<double> g0 = ref::ToDouble(y0.tensor()), g1 = ref::ToDouble(y1.tensor());
  const std::vector<double> r = ref::ToDouble(want.tensor());
  int changed = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_NEAR(g1[i], r[i], 1e-5 * (1 + std::fabs(r[i]))) << i;
    changed += std::fabs(g0[i] - r[i]) > 1e-3 * (1 + std::fabs(r[i]));
  }
  EXPECT_GT(changed, 0) << "the new weights must change the product";
}

// MatmulMany: products of one x with weights of every family (and a prepared Q8_0 copy) in one
// call give exactly what separate Matmul calls give.
TEST(OpsMatmulTest, MatmulManyEqualsSeparateCalls) {
  auto rng = MakeRng();
  const int64_t K = 512;
  for (const int64_t M : {1, 5, 16, 40}) {
    SCOPED_TRACE(StrCat("M=", M));
    ForEachBackend([&](cpu::CpuBackend& b) {
      const DType types[] = {DType::kQ8_0, DType::kQ8_0, DType::kF16, DType::kQ4_K, DType::kQ4_0};
      const int64_t rows[] = {48, 20, 33, 16, 64};
      std::vector<std::vector<uint8_t>> wbytes;
      std::vector<Tensor> w;
      for (int i = 0; i < 5; ++i) {
        wbytes.push_back(RandomWeights(rng, types[i], rows[i], K));
        w.push_back(Tensor::View(wbytes.back().data(), types[i], {rows[i], K}));
      }
      auto prep = b.PrepareMatmul(w[0]);  // the first Q8_0 product runs from the copy
      ASSERT_TRUE(prep.ok()) << prep.status();
      Buffer x = FromFloats(b, RandomFloats(rng, M * K), {M, K});
      Buffer bias = FromFloats(b, RandomFloats(rng, 20), {20});
      std::vector<Buffer> many, one;
      std::vector<Backend::MatmulOut> outs;
      for (int i = 0; i < 5; ++i) {
        many.push_back(Poisoned(b, DType::kF32, {M, rows[i]}));
        one.push_back(Poisoned(b, DType::kF32, {M, rows[i]}));
      }
      for (int i = 0; i < 5; ++i) {
        outs.push_back({&w[i], i == 1 ? &bias.tensor() : nullptr, &many[i].tensor()});
      }
      ASSERT_TRUE(b.MatmulMany(x.tensor(), outs).ok());
      for (int i = 0; i < 5; ++i) {
        ASSERT_TRUE(
            b.Matmul(x.tensor(), w[i], i == 1 ? &bias.tensor() : nullptr, one[i].tensor()).ok());
        EXPECT_EQ(ref::ToDouble(many[i].tensor()), ref::ToDouble(one[i].tensor()))
            << DTypeName(types[i]);
      }
    });
  }
}

TEST(OpsMatmulTest, KQuants) {
  auto rng = MakeRng();
  for (DType t :
       {DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_XS}) {
    for (const Case& c : kKCases) RunCase(t, c, rng);
  }
}

// All-zero and sign-extreme activation blocks (amax == 0 gives d == 0; -127/127 saturation).
TEST(OpsMatmulTest, DegenerateActivations) {
  auto rng = MakeRng();
  for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kF16, DType::kBF16}) {
    const int64_t K = 512, N = 8;
    const std::vector<uint8_t> wbytes = RandomWeights(rng, t, N, K);
    // Row 0 all zero; row 1 at +-127/16, which Q8_0 and Q8_K both represent exactly.
    std::vector<float> x(2 * K, 0.f);
    for (int64_t k = 0; k < K; ++k) x[K + k] = (k % 3 == 0) ? -7.9375f : 7.9375f;
    const std::vector<double> want = ref::Matmul(
        ToDoubles(x), ref::ToDouble(Tensor::View(wbytes.data(), t, {N, K})), {}, 2, N, K);
    ForEachBackend([&](cpu::CpuBackend& b) {
      Buffer xb = FromFloats(b, x, {2, K});
      Buffer yb = Poisoned(b, DType::kF32, {2, N});
      ASSERT_TRUE(
          b.Matmul(xb.tensor(), Tensor::View(wbytes.data(), t, {N, K}), nullptr, yb.tensor()).ok());
      // Exact activations: f32 accumulation only (|w| <= 1 for these weights' scales).
      double wmax = 0;
      for (double v : ref::ToDouble(Tensor::View(wbytes.data(), t, {N, K}))) {
        wmax = std::max(wmax, std::fabs(v));
      }
      const double tol = (K / 4.0 + 16) * 4 * kU * K * 7.9375 * wmax;
      ExpectNear(
          ref::ToDouble(yb.tensor()), want, [&](size_t) { return tol; }, StrCat(DTypeName(t)));
    });
  }
}

// A single row's compact copy (rows = 1: GemmArgs::act_compact) holds the units of that row
// of the 8-row panel `panel`, in order, and nothing past them.
void ExpectCompactRow(void (*quantize)(const float*, int64_t, uint8_t*, int, int),
                      const std::vector<float>& x, const std::vector<uint8_t>& panel, int row) {
  const int64_t K = static_cast<int64_t>(x.size());
  const size_t bytes = panel.size() / 8;
  std::vector<uint8_t> compact(bytes + 64, 0xAA);
  quantize(x.data(), K, compact.data(), 0, 1);
  for (size_t j = 0; j < bytes / 4; ++j) {
    ASSERT_EQ(0, std::memcmp(compact.data() + 4 * j, panel.data() + 4 * (8 * j + row), 4))
        << "unit " << j;
  }
  for (size_t i = bytes; i < compact.size(); ++i) {
    ASSERT_EQ(compact[i], 0xAA) << "byte " << i;
  }
}

// Every level quantizes activations to the same bytes as the plain C++ quantizers (which
// follow llama.cpp), including round-half-even ties and all-zero blocks.
TEST(OpsMatmulTest, ActivationQuantizationIsBitExact) {
  auto rng = MakeRng();
  const int64_t K = 1280;  // 40 blocks of 32 (even pairs), 5 super-blocks
  for (int rep = 0; rep < 20; ++rep) {
    std::vector<float> x = RandomFloats(rng, K, -3.f, 3.f);
    if (rep % 2 == 0) {  // amax 127 (scale exactly 1) and many exact .5 ties
      for (int64_t k = 0; k < K; ++k) x[k] = std::floor(x[k] * 40.f) + 0.5f;
      for (int64_t b = 0; b < K; b += 32) x[b] = 127.f;
      for (int64_t b = 0; b < K; b += 256) x[b] = -127.f;
    }
    if (rep == 3) std::fill(x.begin() + 64, x.begin() + 96, 0.f);  // a zero block
    if (rep == 5) std::fill(x.begin(), x.begin() + 256, 0.f);      // a zero super-block
    std::vector<uint8_t> want_q8(cpu::Q8ActRowBytes(K)), want_k(cpu::KActRowBytes(K));
    cpu::QuantizeActQ8(x.data(), K, want_q8.data());
    cpu::QuantizeActK(x.data(), K, want_k.data());
    for (int l = 0; l <= static_cast<int>(cpu::BestIsa()); ++l) {
      const cpu::KernelTable kt = cpu::KernelsFor(static_cast<cpu::IsaLevel>(l));
      std::vector<uint8_t> q8(want_q8.size(), 0xAA), k(want_k.size(), 0xAA);
      kt.quantize_q8(x.data(), K, q8.data());
      kt.quantize_k(x.data(), K, k.data());
      EXPECT_EQ(q8, want_q8) << cpu::IsaName(kt.isa) << " rep " << rep;
      EXPECT_EQ(k, want_k) << cpu::IsaName(kt.isa) << " rep " << rep;
      if (kt.quantize_q8x16 != nullptr) {  // the panel rows hold the same blocks
        const int row = rep % cpu::kQ8x16PanelRows;
        std::vector<uint8_t> c(cpu::Q8x16PanelBytes(K), 0xAA);
        kt.quantize_q8x16(x.data(), K, c.data(), row, cpu::kQ8x16PanelRows);
        ExpectCompactRow(kt.quantize_q8x16, x, c, row);
        for (int64_t b = 0; b < K / 32; ++b) {
          const uint8_t* pair = want_q8.data() + (b / 2) * 192 + 32 * (b % 2);
          const uint8_t* pb = c.data() + b * cpu::kQ8x16PanelBlockBytes;
          for (int ch = 0; ch < 8; ++ch) {
            EXPECT_EQ(0, std::memcmp(pb + 4 * (cpu::kQ8x16PanelRows * ch + row), pair + 4 * ch, 4))
                << "block " << b << " chunk " << ch;
          }
          EXPECT_EQ(0, std::memcmp(pb + cpu::kQ8x16PanelDOffset + 4 * row, pair + 64, 4))
              << "scale " << b;
          EXPECT_EQ(0, std::memcmp(pb + cpu::kQ8x16PanelCorrOffset + 4 * row, pair + 128, 4))
              << "correction " << b;
        }
        for (int64_t i = 0; i < static_cast<int64_t>(c.size()); ++i) {  // the other rows: untouched
          const int64_t off = i % cpu::kQ8x16PanelBlockBytes;
          if ((off / 4) % cpu::kQ8x16PanelRows != row) {
            EXPECT_EQ(c[i], 0xAA) << "byte " << i;
          }
        }
      }
      if (kt.quantize_kx8 != nullptr) {  // the K panel row: QuantizeActK's q, d and sums
        const int row = (rep + 3) % cpu::kKPanelRows;
        std::vector<uint8_t> p(cpu::KPanelBytes(K), 0xAA);
        kt.quantize_kx8(x.data(), K, p.data(), row, cpu::kKPanelRows);
        ExpectCompactRow(kt.quantize_kx8, x, p, row);
        for (int64_t sb = 0; sb < K / 256; ++sb) {
          const uint8_t* ps = p.data() + sb * cpu::kKPanelSuperBytes;
          const uint8_t* ks = want_k.data() + sb * cpu::kKActBytes;
          EXPECT_EQ(0, std::memcmp(ps + cpu::kKPanelD + 4 * row, ks + cpu::kKActDOffset, 4));
          int32_t g16[16] = {};
          for (int e = 0; e < 256; ++e) {
            const auto q = static_cast<int8_t>(ps[4 * (cpu::kKPanelRows * (e / 4) + row) + e % 4]);
            ASSERT_EQ(q, static_cast<int8_t>(ks[cpu::KNaturalToLane(e)])) << "value " << e;
            g16[e / 16] += q;
          }
          for (int g = 0; g < 16; ++g) {
            int32_t corr;
            std::memcpy(&corr, ps + cpu::kKPanelCorr16 + 4 * (cpu::kKPanelRows * g + row), 4);
            EXPECT_EQ(corr, -128 * g16[g]);
          }
          for (int u = 0; u < 8; ++u) {
            int32_t corr;
            int16_t sums[2];
            std::memcpy(&corr, ps + cpu::kKPanelCorr32 + 4 * (cpu::kKPanelRows * u + row), 4);
            std::memcpy(sums, ps + cpu::kKPanelSums + 4 * (cpu::kKPanelRows * u + row), 4);
            EXPECT_EQ(corr, -128 * (g16[2 * u] + g16[2 * u + 1]));
            EXPECT_EQ(sums[0], g16[2 * u]);
            EXPECT_EQ(sums[1], g16[2 * u + 1]);
          }
        }
      }
    }
    // And the reference's dequantized view agrees with the packed bytes.
    const std::vector<double> deq = ref::QuantizeDequantizeQ8_0(x);
    for (int64_t b = 0; b < K / 32; ++b) {
      const uint8_t* pair = want_q8.data() + (b / 2) * 192;
      float d;
      std::memcpy(&d, pair + 64 + 32 * (b % 2), 4);
      for (int j = 0; j < 32; ++j) {
        ASSERT_EQ(deq[b * 32 + j],
                  static_cast<int8_t>(pair[32 * (b % 2) + j]) * static_cast<double>(d));
      }
    }
  }
}

}  // namespace
}  // namespace phx::ops::testing
