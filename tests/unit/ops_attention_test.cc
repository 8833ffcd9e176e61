// write_kv + paged attention against the float64 reference: GQA ratios 1/2/3/4/8, head dims
// 8/40/64/128, block sizes 16/32, f16 and f32 caches, batches mixing prefill chunks and decode
// tokens, batched decode of 16 sequences, contexts ending mid-page and on a page boundary, and
// long decodes that the plan splits across threads. Unused cache slots hold NaN, so any read of
// them poisons the output.
//
// Tolerances: write_kv is exact for f32 and one f16 rounding (|err| <= 2^-11 |k|) for f16.
// Attention reads the cache as stored (the reference uses the same f16 values), q is f32; the
// kernels compute scores and the softmax in f32. With |q|, |k| <= 1 a score's rounding error is
// at most hd * 2^-24 * hd * scale, which shifts each softmax weight relatively by that much, and
// the output (a convex combination of V rows) by that times max|V|. With exp's ~2 ulp and the
// f32 accumulation of <= kv_len terms we allow (hd^2 * scale + 64 + kv_len) * 2^-22 * max|V|.
#include <algorithm>
#include <numeric>

#include "ops_test_util.h"

namespace phx::ops::testing {
namespace {

struct Seq {
  int32_t n_past, n_new;
};
struct AttnCase {
  int32_t n_heads, n_kv_heads, head_dim, block_size;
  std::vector<Seq> seqs;
};

void RunAttention(const AttnCase& c, DType cache_type, std::mt19937_64& rng, float softcap = 0,
                  int32_t window = 0, bool causal = true) {
  SCOPED_TRACE(StrCat("H=", c.n_heads, " KV=", c.n_kv_heads, " hd=", c.head_dim,
                      " bs=", c.block_size, " ", DTypeName(cache_type), " seqs=", c.seqs.size(),
                      " softcap=", softcap, " window=", window, causal ? "" : " bidirectional"));
  const int32_t bs = c.block_size, nkv = c.n_kv_heads, hd = c.head_dim;
  const int64_t kvw = static_cast<int64_t>(nkv) * hd, qw = static_cast<int64_t>(c.n_heads) * hd;
  // Pages: each sequence gets its own shuffled pages; 3 extra pages stay unused (NaN).
  int32_t pages = 3;
  for (const Seq& s : c.seqs) pages += (s.n_past + s.n_new + bs - 1) / bs;
  std::vector<int32_t> perm(pages);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  AttentionBatch batch;
  batch.block_size = bs;
  batch.causal = causal;
  batch.q_indptr = {0};
  batch.kv_indptr = {0};
  std::vector<int32_t> past_slots, new_slots;
  int32_t next_page = 0;
  for (const Seq& s : c.seqs) {
    const int32_t len = s.n_past + s.n_new, np = (len + bs - 1) / bs;
    for (int32_t p = 0; p < np; ++p) batch.kv_indices.push_back(perm[next_page + p]);
    for (int32_t p = 0; p < len; ++p) {
      const int32_t slot = perm[next_page + p / bs] * bs + p % bs;
      (p < s.n_past ? past_slots : new_slots).push_back(slot);
    }
    next_page += np;
    batch.q_indptr.push_back(batch.q_indptr.back() + s.n_new);
    batch.kv_indptr.push_back(static_cast<int32_t>(batch.kv_indices.size()));
    batch.kv_last_page_len.push_back(len - (np - 1) * bs);
  }
  const int64_t T = batch.q_indptr.back();
  const int64_t P = static_cast<int64_t>(past_slots.size());
  const auto k_past = RandomFloats(rng, P * kvw), v_past = RandomFloats(rng, P * kvw);
  const auto k_new = RandomFloats(rng, T * kvw), v_new = RandomFloats(rng, T * kvw);
  const auto q = RandomFloats(rng, T * qw);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));

  ref::KvCache rc;
  rc.num_blocks = pages;
  rc.block_size = bs;
  rc.n_kv_heads = nkv;
  rc.head_dim = hd;
  rc.k.assign(static_cast<size_t>(pages) * bs * kvw, NAN);
  rc.v = rc.k;
  auto round_cache = [&](const std::vector<float>& f) {
    std::vector<double> d(f.size());
    for (size_t i = 0; i < f.size(); ++i) {
      d[i] = cache_type == DType::kF16 ? F16ToF32(F32ToF16(f[i])) : f[i];
    }
    return d;
  };
  ref::WriteKv(round_cache(k_past), round_cache(v_past), past_slots, rc);
  ref::WriteKv(round_cache(k_new), round_cache(v_new), new_slots, rc);

  ForEachBackend([&](cpu::CpuBackend& b) {
    Buffer kc = Poisoned(b, cache_type, {pages, bs, nkv, hd});
    Buffer vc = Poisoned(b, cache_type, {pages, bs, nkv, hd});
    const KvLayer layer{kc.tensor(), vc.tensor(), bs};
    auto write = [&](const std::vector<float>& k, const std::vector<float>& v,
                     const std::vector<int32_t>& slots) {
      const int64_t n = static_cast<int64_t>(slots.size());
      if (n == 0) return;
      Buffer kb = FromFloats(b, k, {n, kvw}), vb = FromFloats(b, v, {n, kvw});
      const absl::Status st =
          b.WriteKv(kb.tensor(), vb.tensor(), Tensor::View(slots.data(), DType::kI32, {n}), layer);
      ASSERT_TRUE(st.ok()) << st;
    };
    write(k_past, v_past, past_slots);
    write(k_new, v_new, new_slots);
    // The cache holds exactly the reference's values, NaN where nothing was written.
    for (int pass = 0; pass < 2; ++pass) {
      const std::vector<double> got = ref::ToDouble(pass == 0 ? kc.tensor() : vc.tensor());
      const std::vector<double>& want = pass == 0 ? rc.k : rc.v;
      size_t bad = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i]) ? !std::isnan(got[i]) : got[i] != want[i]) ++bad;
      }
      EXPECT_EQ(bad, 0u) << (pass == 0 ? "k" : "v") << " cache mismatches";
    }

    auto plan = b.PlanAttention(batch, c.n_heads, nkv, hd);
    ASSERT_TRUE(plan.ok()) << plan.status();
    Buffer qb = FromFloats(b, q, {T, qw});
    Buffer ob = Poisoned(b, DType::kF32, {T, qw});
    const AttentionOptions opt(static_cast<float>(scale), softcap, window);
    const absl::Status st = b.Attention(qb.tensor(), layer, **plan, opt, ob.tensor());
    ASSERT_TRUE(st.ok()) << st;
    const std::vector<double> want =
        ref::Attention(ToDoubles(q), rc, batch, c.n_heads, scale, softcap, window);
    int32_t max_len = 0;
    for (int32_t s = 0; s < batch.num_seqs(); ++s) max_len = std::max(max_len, batch.kv_len(s));
    const double tol = (static_cast<double>(hd) * hd * scale + 64 + max_len) * std::ldexp(1.0, -22);
    ExpectNear(
        ref::ToDouble(ob.tensor()), want, [&](size_t) { return tol; }, "attention");
  });
}

// One decode token for each of these context lengths (cached tokens before it).
std::vector<Seq> Decode(std::initializer_list<int32_t> past) {
  std::vector<Seq> seqs;
  for (int32_t p : past) seqs.push_back({p, 1});
  return seqs;
}

const std::vector<AttnCase>& Cases() {
  // 16 sequences, contexts ending all over a page (block size 16) and the softmax blocks.
  const auto batch16 =
      Decode({0, 14, 15, 16, 31, 47, 63, 64, 65, 100, 127, 128, 200, 255, 256, 300});
  static const std::vector<AttnCase> cases = {
      // Mixed batch: prefill from empty, decode mid-page, prefill chunk ending on a page
      // boundary, decode right after a boundary, chunked prefill continuing mid-page.
      {4, 4, 64, 16, {{0, 5}, {37, 1}, {16, 16}, {32, 1}, {100, 3}}},
      {8, 4, 64, 16, {{0, 40}, {3, 1}}},
      {8, 2, 128, 32, {{50, 1}, {0, 33}, {64, 0}}},
      {8, 1, 8, 16, {{7, 9}, {0, 1}}},
      {16, 2, 64, 32, {{200, 17}}},
      {2, 1, 8, 16, {{0, 70}}},
      // Long decodes: few items, so the plan splits the context (partial results + merge).
      {4, 1, 64, 16, {{1500, 1}}},
      {8, 2, 128, 32, {{900, 1}, {700, 2}}},
      // Batched decode, where items take several KV heads: GQA groups 3 (the 100M model), 1, 8
      // and 3 again with head dim 128, and a head dim (40) that needs the kernels' scalar tails.
      {12, 4, 64, 16, batch16},
      {8, 8, 64, 16, batch16},
      {32, 4, 128, 16, batch16},
      {24, 8, 128, 16, Decode({5, 16, 17, 90, 250})},
      {8, 4, 40, 16, Decode({3, 33, 130})},
      // Few long decodes: the plan narrows the head ranges and splits the contexts.
      {12, 4, 64, 16, {{1000, 1}, {700, 1}}},
      // Group 3 with prefill chunks next to decode tokens.
      {12, 4, 64, 32, {{0, 20}, {45, 1}, {33, 7}}},
  };
  return cases;
}

TEST(OpsAttentionTest, F32Cache) {
  auto rng = MakeRng();
  for (const AttnCase& c : Cases()) RunAttention(c, DType::kF32, rng);
}

TEST(OpsAttentionTest, F16Cache) {
  auto rng = MakeRng();
  for (const AttnCase& c : Cases()) RunAttention(c, DType::kF16, rng);
}

// Gemma's soft-capped scores and sliding windows: windows of one key, shorter than a softmax
// block, across block and page boundaries, longer than every context; long decodes whose plan
// splits the context (most parts then lie wholly before the window); prefill chunks whose rows
// each see a different window. tanh has slope <= 1, so the tolerance above still holds.
TEST(OpsAttentionTest, SoftcapAndSlidingWindow) {
  auto rng = MakeRng();
  const std::vector<AttnCase> cases = {
      {4, 4, 64, 16, {{0, 5}, {37, 1}, {16, 16}, {32, 1}, {100, 3}}},
      {8, 2, 128, 32, {{50, 1}, {0, 33}, {64, 0}}},
      {4, 1, 64, 16, {{1500, 1}}},
      {8, 2, 128, 32, {{900, 1}, {700, 2}}},
      {12, 4, 64, 16, Decode({0, 14, 15, 16, 31, 47, 63, 64, 65, 100, 127, 128, 200, 255})},
      {16, 2, 64, 32, {{200, 17}}},
      {2, 1, 8, 16, {{0, 70}}},
  };
  const std::vector<std::pair<float, int32_t>> options = {
      {5.f, 0}, {0.f, 1}, {0.f, 7}, {5.f, 33}, {0.f, 64}, {2.f, 100}, {0.f, 5000}};
  // Three options per case, rotating, so every option meets several cases.
  for (size_t i = 0; i < cases.size(); ++i) {
    for (size_t j : {i, i + 3, i + 5}) {
      const auto& cw = options[j % options.size()];
      RunAttention(cases[i], DType::kF16, rng, cw.first, cw.second);
    }
  }
}

// Bidirectional attention (bert): every query row sees every key of its sequence, the new rows
// after it included. Whole inputs in one step (as embeddings run), a batch of several, long
// ones across many pages and softmax blocks, rows after cached keys, and head dims with tails.
TEST(OpsAttentionTest, Bidirectional) {
  auto rng = MakeRng();
  const std::vector<AttnCase> cases = {
      {4, 4, 64, 16, {{0, 5}, {0, 40}, {0, 1}}},
      {12, 12, 32, 16, {{0, 70}, {0, 17}, {0, 2}}},
      {8, 2, 128, 32, {{0, 33}, {10, 20}}},
      {2, 1, 8, 16, {{0, 130}}},
      {4, 1, 64, 16, {{0, 600}}},
      {8, 4, 40, 16, {{0, 9}, {0, 64}}},
  };
  for (const AttnCase& c : cases) {
    RunAttention(c, DType::kF32, rng, 0.f, 0, /*causal=*/false);
    RunAttention(c, DType::kF16, rng, 0.f, 0, /*causal=*/false);
  }
}

TEST(OpsAttentionTest, Errors) {
  cpu::CpuBackend b(1);
  AttentionBatch batch;
  batch.q_indptr = {0, 2};
  batch.kv_indptr = {0, 1};
  batch.kv_indices = {0};
  batch.kv_last_page_len = {1};  // 2 queries but 1 cached token
  EXPECT_EQ(b.PlanAttention(batch, 4, 2, 8).status().code(), absl::StatusCode::kInvalidArgument);
  batch.kv_last_page_len = {2};
  EXPECT_EQ(b.PlanAttention(batch, 4, 3, 8).status().code(), absl::StatusCode::kInvalidArgument);
  auto plan = b.PlanAttention(batch, 4, 2, 8);
  ASSERT_TRUE(plan.ok());
  auto kc = b.Allocate(DType::kF16, {1, 16, 2, 8});
  auto bad = b.Allocate(DType::kF16, {1, 16, 2, 16});
  auto q = b.Allocate(DType::kF32, {2, 32});
  auto wrong_q = b.Allocate(DType::kF32, {3, 32});
  ASSERT_TRUE(kc.ok() && bad.ok() && q.ok() && wrong_q.ok());
  const KvLayer good{kc->tensor(), kc->tensor(), 16};
  EXPECT_TRUE(b.Attention(q->tensor(), good, **plan, 1.f, q->tensor()).ok());
  {  // a sliding window over bidirectional attention has no meaning
    AttentionBatch bidi = batch;
    bidi.causal = false;
    auto bplan = b.PlanAttention(bidi, 4, 2, 8);
    ASSERT_TRUE(bplan.ok());
    EXPECT_EQ(
        b.Attention(q->tensor(), good, **bplan, AttentionOptions(1.f, 0.f, 4), q->tensor()).code(),
        absl::StatusCode::kInvalidArgument);
  }
  const absl::Status s1 = b.Attention(wrong_q->tensor(), good, **plan, 1.f, wrong_q->tensor());
  EXPECT_EQ(s1.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s1.message().find("f32[3, 32]"), std::string::npos) << s1;
  const KvLayer mismatched{bad->tensor(), bad->tensor(), 16};
  EXPECT_EQ(b.Attention(q->tensor(), mismatched, **plan, 1.f, q->tensor()).code(),
            absl::StatusCode::kInvalidArgument);
  auto bf = b.Allocate(DType::kBF16, {1, 16, 2, 8});
  ASSERT_TRUE(bf.ok());
  EXPECT_EQ(
      b.Attention(q->tensor(), {bf->tensor(), bf->tensor(), 16}, **plan, 1.f, q->tensor()).code(),
      absl::StatusCode::kUnimplemented);
  // write_kv: a slot outside the cache.
  const int32_t slot = 16;
  auto k = b.Allocate(DType::kF32, {1, 16});
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(b.WriteKv(k->tensor(), k->tensor(), Tensor::View(&slot, DType::kI32, {1}), good).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace phx::ops::testing
