#include "tests/gpu/attention_ref.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "tests/gpu/harness.h"

namespace phx::gpu_test {
namespace {

constexpr double kLog2e = 1.4426950408889634;
constexpr int kPrefillTileKv = 64;  // kernels/attention.h kPrefillTileKv

// The sequence and its query index of packed query row r.
void RowOf(const AttnData& d, int r, int* seq, int* j) {
  const auto it = std::upper_bound(d.q_indptr.begin(), d.q_indptr.end(), r);
  *seq = static_cast<int>(it - d.q_indptr.begin()) - 1;
  *j = r - d.q_indptr[*seq];
}

// Tokens row (seq, j) sees under mutation m, in position order; a token counted twice appears
// twice.
std::vector<int> Visible(const AttnCase& c, const Mutation& m, int seq, int j) {
  const int len = c.kv_len[seq];
  int last = len - c.nq[seq] + j;
  if (m.kind == Mutation::kCausalShift) last = std::min(len - 1, last + m.delta);
  std::vector<int> toks;
  const int first = c.window > 0 ? std::max(0, last - c.window + 1) : 0;
  for (int p = first; p <= last; ++p) {
    if (m.kind == Mutation::kDropRange && m.seq == seq && p >= m.lo && p < m.hi) continue;
    toks.push_back(p);
    if (m.kind == Mutation::kDuplicate && m.seq == seq && p == m.lo) toks.push_back(p);
  }
  return toks;
}

std::vector<int> AllRows(const AttnData& d, std::vector<int> rows) {
  if (rows.empty()) {
    rows.resize(d.rows);
    std::iota(rows.begin(), rows.end(), 0);
  }
  return rows;
}

}  // namespace

std::string AttnCase::Name(const char* extra) const {
  char b[160], opt[48] = "";
  if (softcap > 0.f || window > 0) {
    std::snprintf(opt, sizeof(opt), " softcap %g window %d", softcap, window);
  }
  std::snprintf(b, sizeof(b), "%zu seqs hd%d h%d/%d bs%d %s%s%s%s %s", nq.size(), hd, n_heads, n_kv,
                bs, DTypeName(t).data(), io == t ? "" : " io ", io == t ? "" : DTypeName(io).data(),
                opt, extra);
  return b;
}

std::string Mutation::Name() const {
  char b[96];
  switch (kind) {
    case kNone:
      return "none";
    case kDropRange:
      std::snprintf(b, sizeof(b), "seq %d drops tokens [%d, %d)", seq, lo, hi);
      return b;
    case kDuplicate:
      std::snprintf(b, sizeof(b), "seq %d counts token %d twice", seq, lo);
      return b;
    case kCausalShift:
      std::snprintf(b, sizeof(b), "causal limit %+d", delta);
      return b;
    case kHeadShift:
      return "query heads read the next KV head";
  }
  return "?";
}

size_t AttnData::At(const AttnCase& c, int s, int p, int h) const {
  const size_t page = static_cast<size_t>(indices[kv_indptr[s] + p / c.bs]);
  return ((page * c.bs + p % c.bs) * c.n_kv + h) * c.hd;
}

namespace {

// Random 16-bit values of magnitude in [1, 2) with random signs, four per 64-bit draw.
void CheapRandomBits(std::vector<uint16_t>& out, size_t n, DType t) {
  const uint16_t one = t == DType::kBF16 ? 0x3F80 : 0x3C00;
  const uint16_t mant = t == DType::kBF16 ? 0x007F : 0x03FF;
  out.resize(n);
  for (size_t i = 0; i < n; i += 4) {
    const uint64_t r = Rng()();
    for (size_t j = 0; j < 4 && i + j < n; ++j) {
      const uint16_t b = static_cast<uint16_t>(r >> (16 * j));
      out[i + j] = static_cast<uint16_t>(one | (b & mant) | (b & 0x8000));
    }
  }
}

}  // namespace

AttnData BuildAttn(const AttnCase& c, bool exact) {
  AttnData d;
  int pages = 0;
  for (size_t i = 0; i < c.nq.size(); ++i) {
    const int np = (c.kv_len[i] + c.bs - 1) / c.bs;
    d.q_indptr.push_back(d.q_indptr.back() + c.nq[i]);
    d.kv_indptr.push_back(d.kv_indptr.back() + np);
    d.last.push_back(c.kv_len[i] - (np - 1) * c.bs);
    pages += np;
  }
  d.blocks = pages + pages / 4 + 3;  // spare pages stay NaN
  std::vector<int32_t> perm(d.blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), Rng());
  d.indices.assign(perm.begin(), perm.begin() + pages);
  d.rows = d.q_indptr.back();
  const size_t cache = static_cast<size_t>(d.blocks) * c.bs * c.n_kv * c.hd;
  const size_t nq = static_cast<size_t>(d.rows) * c.n_heads * c.hd;
  if (!exact) {
    CheapRandomBits(d.kbits, cache, c.t);
    CheapRandomBits(d.vbits, cache, c.t);
    if (c.io == DType::kF32) {
      d.qf32.resize(nq);
      for (float& x : d.qf32) x = static_cast<float>(FastNormal());
    } else {
      CheapRandomBits(d.qbits, nq, c.io);
    }
    return d;
  }
  d.kbits.assign(cache, 0xFFFF);  // NaN in f16 and bf16
  d.vbits.assign(cache, 0xFFFF);
  d.k.assign(cache, NAN);
  d.v.assign(cache, NAN);
  for (size_t i = 0; i < c.nq.size(); ++i) {
    for (int p = 0; p < c.kv_len[i]; ++p) {
      const size_t base = d.At(c, static_cast<int>(i), p, 0);
      for (size_t e = 0; e < static_cast<size_t>(c.n_kv) * c.hd; ++e) {
        d.kbits[base + e] = ToBits(static_cast<float>(FastNormal()), c.t);
        d.vbits[base + e] = ToBits(static_cast<float>(FastNormal()), c.t);
        d.k[base + e] = FromBits(d.kbits[base + e], c.t);
        d.v[base + e] = FromBits(d.vbits[base + e], c.t);
      }
    }
  }
  if (c.io == DType::kF32) {
    d.qf32.resize(nq);
    d.q.resize(nq);
    for (size_t i = 0; i < nq; ++i) d.q[i] = d.qf32[i] = static_cast<float>(Normal());
  } else {
    d.qbits = RandomHalf(nq, c.io, 1.0, &d.q);
  }
  return d;
}

// Both functions walk a row's tokens in the outer loop (one token's K/V rows of every head are
// contiguous), keeping per-head state: the cache is read once per query row.

AttnRef ReferenceAttn(const AttnCase& c, const AttnData& d, const Mutation& m,
                      std::vector<int> rows) {
  AttnRef r;
  r.rows = AllRows(d, std::move(rows));
  const int group = c.n_heads / c.n_kv, H = c.n_heads, hd = c.hd;
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  const size_t width = static_cast<size_t>(H) * hd;
  r.out.assign(r.rows.size() * width, 0.0);
  r.abs_sum.assign(r.out.size(), 0.0);
  r.rms.assign(r.out.size(), 0.0);
  std::vector<double> sc, mx(H), sum(H);
  for (size_t ri = 0; ri < r.rows.size(); ++ri) {
    int seq, j;
    RowOf(d, r.rows[ri], &seq, &j);
    const std::vector<int> toks = Visible(c, m, seq, j);
    const size_t T = toks.size();
    const double* q = &d.q[static_cast<size_t>(r.rows[ri]) * width];
    auto kv_head = [&](int h) {
      const int kvh = h / group;
      return m.kind == Mutation::kHeadShift ? (kvh + 1) % c.n_kv : kvh;
    };
    sc.assign(T * H, 0.0);
    std::fill(mx.begin(), mx.end(), -INFINITY);
    for (size_t t = 0; t < T; ++t) {
      const size_t base = d.At(c, seq, toks[t], 0);
      for (int h = 0; h < H; ++h) {
        const double* k = &d.k[base + static_cast<size_t>(kv_head(h)) * hd];
        const double* qh = q + static_cast<size_t>(h) * hd;
        double dot = 0;
        for (int e = 0; e < hd; ++e) dot += qh[e] * k[e];
        double s = dot * scale;
        if (c.softcap > 0.f) s = c.softcap * std::tanh(s / c.softcap);
        mx[h] = std::max(mx[h], sc[t * H + h] = s);
      }
    }
    std::fill(sum.begin(), sum.end(), 0.0);
    for (size_t t = 0; t < T; ++t) {
      for (int h = 0; h < H; ++h) sum[h] += (sc[t * H + h] = std::exp(sc[t * H + h] - mx[h]));
    }
    double* out = &r.out[ri * width];
    double* as = &r.abs_sum[ri * width];
    double* rms = &r.rms[ri * width];
    for (size_t t = 0; t < T; ++t) {
      const size_t base = d.At(c, seq, toks[t], 0);
      for (int h = 0; h < H; ++h) {
        const double p = sc[t * H + h] / sum[h];
        const double* v = &d.v[base + static_cast<size_t>(kv_head(h)) * hd];
        const size_t o = static_cast<size_t>(h) * hd;
        for (int e = 0; e < hd; ++e) {
          out[o + e] += p * v[e];
          as[o + e] += p * std::fabs(v[e]);
          rms[o + e] += p * p * v[e] * v[e];
        }
      }
    }
    for (size_t e = 0; e < width; ++e) rms[e] = std::sqrt(rms[e]);
  }
  return r;
}

std::vector<double> EmulateAttn(const AttnCase& c, const AttnData& d, bool prefill,
                                const std::vector<int>& rows_in) {
  const std::vector<int> rows = AllRows(d, rows_in);
  const int group = c.n_heads / c.n_kv, H = c.n_heads, hd = c.hd;
  const float scale_log2 =
      static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd))) * static_cast<float>(kLog2e);
  const size_t width = static_cast<size_t>(H) * hd;
  const DType out_t = prefill ? c.t : c.io;
  std::vector<double> out(rows.size() * width);
  std::vector<float> qs(width), acc(width), m(H), l(H), s(static_cast<size_t>(kPrefillTileKv) * H);
  for (size_t ri = 0; ri < rows.size(); ++ri) {
    int seq, j;
    RowOf(d, rows[ri], &seq, &j);
    const int last = c.kv_len[seq] - c.nq[seq] + j;
    const int first = c.window > 0 ? std::max(0, last - c.window + 1) : 0;
    const double* q = &d.q[static_cast<size_t>(rows[ri]) * width];
    // Decode pre-scales q into the log2 domain (by the scale alone under a soft-cap); prefill
    // scales the f32 dot product. A soft-capped score is cap log2e tanh(score / cap), in f32.
    const bool capped = c.softcap > 0.f;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
    const float cap_log2 = c.softcap * static_cast<float>(kLog2e);
    for (size_t e = 0; e < width; ++e) {
      const float qe = static_cast<float>(q[e]);
      qs[e] = prefill ? qe : qe * (capped ? scale : scale_log2);
    }
    auto score = [&](size_t base, int h) {
      const double* k = &d.k[base + static_cast<size_t>(h / group) * hd];
      const float* qh = &qs[static_cast<size_t>(h) * hd];
      float dot = 0.f;
      for (int e = 0; e < hd; ++e) dot = std::fma(qh[e], static_cast<float>(k[e]), dot);
      if (capped) {
        return cap_log2 * std::tanh(prefill ? dot * (scale / c.softcap) : dot * (1.f / c.softcap));
      }
      return prefill ? dot * scale_log2 : dot;
    };
    std::fill(m.begin(), m.end(), -INFINITY);
    std::fill(l.begin(), l.end(), 0.f);
    std::fill(acc.begin(), acc.end(), 0.f);
    if (!prefill) {
      // Decode: one online-softmax step per token, in token order.
      for (int p = first; p <= last; ++p) {
        const size_t base = d.At(c, seq, p, 0);
        for (int h = 0; h < H; ++h) {
          const float sc = score(base, h);
          const float m_new = std::max(m[h], sc);
          const float corr = std::exp2(m[h] - m_new);
          const float pe = std::exp2(sc - m_new);
          l[h] = l[h] * corr + pe;
          const double* v = &d.v[base + static_cast<size_t>(h / group) * hd];
          float* a = &acc[static_cast<size_t>(h) * hd];
          for (int e = 0; e < hd; ++e) a[e] = std::fma(pe, static_cast<float>(v[e]), a[e] * corr);
          m[h] = m_new;
        }
      }
    } else {
      // Prefill: 64-token tiles; P rounded to the cache type for P.V, l from unrounded P.
      // (A window starts at the tile holding the row's first visible token and masks below it.)
      for (int kv0 = first / kPrefillTileKv * kPrefillTileKv; kv0 <= last; kv0 += kPrefillTileKv) {
        const int n = std::min(kPrefillTileKv, last + 1 - kv0);
        for (int h = 0; h < H; ++h) {
          float mx = -INFINITY;
          for (int t = 0; t < n; ++t) {
            float& st = s[static_cast<size_t>(t) * H + h];
            st = kv0 + t < first ? -INFINITY : score(d.At(c, seq, kv0 + t, 0), h);
            mx = std::max(mx, st);
          }
          const float mn = std::max(m[h], mx);
          const float base = mn == -INFINITY ? 0.f : mn;
          const float corr = std::exp2(m[h] - base);
          m[h] = mn;
          l[h] *= corr;
          float* a = &acc[static_cast<size_t>(h) * hd];
          for (int e = 0; e < hd; ++e) a[e] *= corr;
          for (int t = 0; t < n; ++t) {
            float& pe = s[static_cast<size_t>(t) * H + h];
            pe = std::exp2(pe - base);
            l[h] += pe;
          }
        }
        for (int t = 0; t < n; ++t) {
          const size_t vbase = d.At(c, seq, kv0 + t, 0);
          for (int h = 0; h < H; ++h) {
            const float pr = static_cast<float>(RoundTo(s[static_cast<size_t>(t) * H + h], c.t));
            const double* v = &d.v[vbase + static_cast<size_t>(h / group) * hd];
            float* a = &acc[static_cast<size_t>(h) * hd];
            for (int e = 0; e < hd; ++e) a[e] = std::fma(pr, static_cast<float>(v[e]), a[e]);
          }
        }
      }
    }
    for (int h = 0; h < H; ++h) {
      for (int e = 0; e < hd; ++e) {
        const size_t i = static_cast<size_t>(h) * hd + e;
        out[ri * width + i] = RoundTo(l[h] > 0.f ? acc[i] / l[h] : 0.f, out_t);
      }
    }
  }
  return out;
}

std::vector<double> AttnTol(const AttnCase& c, const AttnRef& r, bool prefill) {
  const DType out_t = prefill ? c.t : c.io;
  const double u = UnitRoundoff(out_t), up = prefill ? 6.0 * UnitRoundoff(c.t) : 0.0;
  const double floor = SubnormalFloor(out_t);
  std::vector<double> tol(r.out.size());
  for (size_t i = 0; i < tol.size(); ++i) {
    tol[i] = u * std::fabs(r.out[i]) + up * r.rms[i] + kAttnF32Rel * r.abs_sum[i] + floor;
  }
  return tol;
}

std::vector<AttnCase> DecodeCases() {
  std::vector<AttnCase> cases;
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 128}) {
      AttnCase a;  // a mixed batch: one token, short, long (3000 = 12 splits of 256), no query
      a.t = a.io = t, a.hd = hd;
      a.nq = {1, 1, 1, 0, 1};
      a.kv_len = {1, 17, 700, 30, 3000};
      cases.push_back(a);
      AttnCase g = a;  // GQA group 7 (head chunks of 4 and 3), 32-token pages
      g.n_heads = 28, g.n_kv = 4, g.bs = 32;
      cases.push_back(g);
      AttnCase b = a;  // lengths at block and split boundaries (multiples of 16 and 256, +-1)
      b.nq.assign(8, 1);
      b.kv_len = {16, 256, 511, 512, 513, 1024, 1025, 2048};
      cases.push_back(b);
      AttnCase e = b;  // GQA group 8 (two chunks of 4), the 1B-class shape
      e.n_heads = 32, e.n_kv = 4;
      cases.push_back(e);
      AttnCase f = a;  // f32 q and output (the CUDA backend's fused decode path)
      f.io = DType::kF32;
      cases.push_back(f);
    }
  }
  return cases;
}

std::vector<AttnCase> PrefillCases() {
  std::vector<AttnCase> cases;
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 128}) {
      AttnCase a;  // GQA group 4; sequence 2 prefills 200 tokens over a cached prefix of 133
      a.t = a.io = t, a.hd = hd, a.n_heads = 16, a.n_kv = 4;
      a.nq = {1, 70, 200, 5};
      a.kv_len = {9, 70, 333, 5};
      cases.push_back(a);
      AttnCase g1 = a;  // group 1; a full 64-row tile and 64/128-token sequences (block multiples)
      g1.n_heads = g1.n_kv = 8;
      g1.nq = {64, 33};
      g1.kv_len = {64, 128};
      cases.push_back(g1);
      AttnCase g7 = a;  // group 7: 64-row tiles straddle query tokens; 32-token pages; a cached
      g7.n_heads = 28, g7.bs = 32;  // prefix of 64 (one KV tile) before 128 new tokens
      g7.nq = {50, 128};
      g7.kv_len = {50, 192};
      cases.push_back(g7);
      AttnCase g8 = a;  // group 8 (the 1B-class shape) and group 2
      g8.n_heads = 32;
      g8.nq = {17, 96};
      g8.kv_len = {48, 96};
      cases.push_back(g8);
      AttnCase g2 = g8;
      g2.n_heads = 8;
      cases.push_back(g2);
    }
  }
  return cases;
}

std::vector<AttnCase> DecodeOptionCases() {
  std::vector<AttnCase> cases;
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 128}) {
      AttnCase a;  // window 40 (not a page multiple): lengths below, at and past it, and long
      a.t = a.io = t, a.hd = hd, a.window = 40;  // ones whose early splits are wholly outside
      a.nq = {1, 1, 1, 1, 1, 1};
      a.kv_len = {1, 39, 40, 41, 700, 3000};
      cases.push_back(a);
      AttnCase s = a;  // soft-cap only, GQA group 7, 32-token pages
      s.window = 0, s.softcap = 5.f;
      s.n_heads = 28, s.n_kv = 4, s.bs = 32;
      cases.push_back(s);
      AttnCase b = a;  // both, group 8, f32 q/out (the backend's fused decode path)
      b.softcap = 5.f, b.window = 300;
      b.n_heads = 32, b.n_kv = 4, b.io = DType::kF32;
      b.kv_len = {16, 255, 256, 257, 513, 1025};
      cases.push_back(b);
    }
  }
  return cases;
}

std::vector<AttnCase> PrefillOptionCases() {
  std::vector<AttnCase> cases;
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 128}) {
      AttnCase a;  // window 40: 200 new tokens over a cached prefix of 133 (tiles skip KV steps)
      a.t = a.io = t, a.hd = hd, a.n_heads = 16, a.n_kv = 4, a.window = 40;
      a.nq = {1, 70, 200, 5};
      a.kv_len = {9, 70, 333, 5};
      cases.push_back(a);
      AttnCase s = a;  // soft-cap 5, group 7 (tiles straddle query tokens), 32-token pages
      s.window = 0, s.softcap = 5.f, s.n_heads = 28, s.bs = 32;
      s.nq = {50, 128};
      s.kv_len = {50, 192};
      cases.push_back(s);
      AttnCase b = a;  // both; window 64 (one KV tile) and 65, group 8
      b.softcap = 5.f, b.window = 64, b.n_heads = 32;
      b.nq = {17, 96, 130};
      b.kv_len = {48, 96, 200};
      cases.push_back(b);
      b.window = 65;
      cases.push_back(b);
    }
  }
  return cases;
}

}  // namespace phx::gpu_test
