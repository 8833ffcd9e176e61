// Paged decode and prefill attention against a float64 reference: random page tables drawn from
// a pool whose unused slots are NaN, so a read outside a sequence's pages poisons the output.
#include <algorithm>
#include <numeric>

#include "kernels/attention.h"
#include "kernels/attention_plan.h"
#include "tests/gpu/common.h"

namespace phx::gpu_test {
namespace {

struct Case {
  std::vector<int32_t> nq, kv_len;
  int n_heads = 32, n_kv = 8, hd = 128, bs = 16;
  DType t = DType::kF16;
};

struct Setup {
  std::vector<int32_t> q_indptr{0}, kv_indptr{0}, indices, last;
  std::vector<double> q, k, v;  // exact values; k/v [blocks, bs, n_kv, hd] (NaN when unused)
  Dev qd, kd, vd, outd, kv_indptr_d, indices_d;
  int blocks = 0, rows = 0;
  kernels::BatchView View(int bs) const {
    kernels::BatchView b;
    b.q_indptr = q_indptr.data(), b.kv_indptr = kv_indptr.data(), b.kv_indices = indices.data();
    b.kv_last_page_len = last.data(), b.num_seqs = static_cast<int32_t>(last.size());
    b.block_size = bs;
    return b;
  }
};

void Build(const Case& c, Setup& s) {
  int pages = 0;
  for (size_t i = 0; i < c.nq.size(); ++i) {
    const int np = (c.kv_len[i] + c.bs - 1) / c.bs;
    s.q_indptr.push_back(s.q_indptr.back() + c.nq[i]);
    s.kv_indptr.push_back(s.kv_indptr.back() + np);
    s.last.push_back(c.kv_len[i] - (np - 1) * c.bs);
    pages += np;
  }
  s.blocks = pages + pages / 4 + 3;  // spare pages stay NaN
  std::vector<int32_t> perm(s.blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), Rng());
  s.indices.assign(perm.begin(), perm.begin() + pages);
  s.rows = s.q_indptr.back();
  const size_t slot = size_t(c.n_kv) * c.hd, cache = size_t(s.blocks) * c.bs * slot;
  std::vector<uint16_t> kb(cache, 0xFFFF), vb(cache, 0xFFFF);  // NaN
  s.k.assign(cache, NAN);
  s.v.assign(cache, NAN);
  for (size_t i = 0; i < c.nq.size(); ++i) {
    for (int p = 0; p < c.kv_len[i]; ++p) {
      const size_t base = (size_t(s.indices[s.kv_indptr[i] + p / c.bs]) * c.bs + p % c.bs) * slot;
      for (size_t e = 0; e < slot; ++e) {
        kb[base + e] = ToBits(static_cast<float>(Normal()), c.t);
        vb[base + e] = ToBits(static_cast<float>(Normal()), c.t);
        s.k[base + e] = FromBits(kb[base + e], c.t);
        s.v[base + e] = FromBits(vb[base + e], c.t);
      }
    }
  }
  UploadVec(s.kd, kb);
  UploadVec(s.vd, vb);
  UploadVec(s.qd, RandomHalf(size_t(s.rows) * c.n_heads * c.hd, c.t, 1.0, &s.q));
  s.outd.Resize(size_t(s.rows) * c.n_heads * c.hd * 2);
  s.outd.Poison();
  UploadVec(s.kv_indptr_d, s.kv_indptr);
  UploadVec(s.indices_d, s.indices);
}

std::vector<double> Reference(const Case& c, const Setup& s) {
  const int group = c.n_heads / c.n_kv;
  const double scale = 1.0 / std::sqrt(double(c.hd));
  std::vector<double> out(size_t(s.rows) * c.n_heads * c.hd);
  std::vector<double> sc;
  for (size_t i = 0; i < c.nq.size(); ++i) {
    for (int j = 0; j < c.nq[i]; ++j) {
      const int row = s.q_indptr[i] + j, pos = c.kv_len[i] - c.nq[i] + j;
      for (int h = 0; h < c.n_heads; ++h) {
        const double* q = &s.q[(size_t(row) * c.n_heads + h) * c.hd];
        sc.assign(pos + 1, 0.0);
        double mx = -INFINITY;
        auto at = [&](int p) {
          return (size_t(s.indices[s.kv_indptr[i] + p / c.bs]) * c.bs + p % c.bs) * c.n_kv * c.hd +
                 size_t(h / group) * c.hd;
        };
        for (int p = 0; p <= pos; ++p) {
          double d = 0;
          for (int e = 0; e < c.hd; ++e) d += q[e] * s.k[at(p) + e];
          mx = std::max(mx, sc[p] = d * scale);
        }
        double sum = 0;
        for (double& x : sc) sum += (x = std::exp(x - mx));
        double* o = &out[(size_t(row) * c.n_heads + h) * c.hd];
        for (int p = 0; p <= pos; ++p) {
          for (int e = 0; e < c.hd; ++e) o[e] += sc[p] / sum * s.v[at(p) + e];
        }
      }
    }
  }
  return out;
}

kernels::PagedKvCache Cache(const Case& c, const Setup& s) {
  kernels::PagedKvCache kv;
  kv.k = s.kd.as(), kv.v = s.vd.as(), kv.dtype = c.t, kv.num_blocks = s.blocks;
  kv.block_size = c.bs, kv.n_kv_heads = c.n_kv, kv.head_dim = c.hd;
  return kv;
}

std::string ShapeName(const Case& c, const char* extra) {
  char b[96];
  std::snprintf(b, sizeof(b), "%zu seqs hd%d h%d/%d bs%d %s %s", c.nq.size(), c.hd, c.n_heads,
                c.n_kv, c.bs, Name(c.t), extra);
  return b;
}

void RunDecode(const Case& c, bool check, bool bench) {
  Setup s;
  Build(c, s);
  const kernels::AttentionShape shape{c.n_heads, c.n_kv, c.hd, s.blocks};
  kernels::DecodePlan plan;
  CheckLaunch(kernels::PlanDecode(s.View(c.bs), shape, {}, &plan), "plan decode");
  Dev work, merge, ws(std::max<size_t>(16, plan.WorkspaceBytes(c.n_heads, c.hd)));
  UploadVec(work, plan.work);
  UploadVec(merge, plan.merge);
  kernels::PagedDecodeParams p;
  p.q = s.qd.as(), p.q_stride = c.n_heads * c.hd, p.out = s.outd.as(), p.out_stride = p.q_stride;
  p.kv = Cache(c, s), p.n_heads = c.n_heads, p.scale = 1.f / std::sqrt(float(c.hd));
  p.kv_indptr = s.kv_indptr_d.as<int32_t>(), p.kv_indices = s.indices_d.as<int32_t>();
  p.work = work.as<kernels::DecodeWorkItem>(), p.num_work = int32_t(plan.work.size());
  p.merge = merge.as<kernels::DecodeMergeItem>(), p.num_merge = int32_t(plan.merge.size());
  p.partial_out = ws.as<float>();
  p.partial_lse = reinterpret_cast<float*>(ws.as<char>() + plan.PartialLseOffset(c.n_heads, c.hd));
  p.num_partials = plan.num_partials;
  CheckLaunch(kernels::LaunchPagedDecode(p, nullptr), "paged decode");
  GPU_CHECK(cudaDeviceSynchronize());
  char extra[48];
  std::snprintf(extra, sizeof(extra), "chunk %d", plan.chunk);
  if (check) {
    std::vector<uint16_t> out(s.outd.bytes() / 2);
    s.outd.Download(out.data(), s.outd.bytes());
    Compare("paged decode", ShapeName(c, extra), ToDoubles(out.data(), out.size(), c.t),
            Reference(c, s), OutputTol(c.t));
  }
  if (bench) {
    const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchPagedDecode(p, nullptr), "d"); });
    double bytes = 0;
    for (int len : c.kv_len) bytes += 2.0 * len * c.n_kv * c.hd * 2;
    AddBench("paged decode", ShapeName(c, extra), ms, bytes, false, "KV bytes / time");
  }
}

void RunPrefill(const Case& c, bool check, bool bench) {
  Setup s;
  Build(c, s);
  const kernels::AttentionShape shape{c.n_heads, c.n_kv, c.hd, s.blocks};
  kernels::PrefillPlan plan;
  CheckLaunch(kernels::PlanPrefill(s.View(c.bs), shape, &plan), "plan prefill");
  Dev tiles;
  UploadVec(tiles, plan.tiles);
  kernels::PagedPrefillParams p;
  p.q = s.qd.as(), p.q_stride = c.n_heads * c.hd, p.out = s.outd.as(), p.out_stride = p.q_stride;
  p.kv = Cache(c, s), p.n_heads = c.n_heads, p.scale = 1.f / std::sqrt(float(c.hd));
  p.kv_indptr = s.kv_indptr_d.as<int32_t>(), p.kv_indices = s.indices_d.as<int32_t>();
  p.tiles = tiles.as<kernels::PrefillTile>(), p.num_tiles = int32_t(plan.tiles.size());
  CheckLaunch(kernels::LaunchPagedPrefill(p, nullptr), "paged prefill");
  GPU_CHECK(cudaDeviceSynchronize());
  if (check) {
    std::vector<uint16_t> out(s.outd.bytes() / 2);
    s.outd.Download(out.data(), s.outd.bytes());
    Compare("paged prefill", ShapeName(c, "causal"), ToDoubles(out.data(), out.size(), c.t),
            Reference(c, s), OutputTol(c.t));
  }
  if (bench) {
    const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchPagedPrefill(p, nullptr), "p"); });
    double flops = 0;  // causal: QK^T and PV over the visible keys
    for (size_t i = 0; i < c.nq.size(); ++i) {
      for (int j = 0; j < c.nq[i]; ++j) flops += 4.0 * (c.kv_len[i] - c.nq[i] + j + 1) * c.hd;
    }
    AddBench("paged prefill", ShapeName(c, "causal"), ms, flops * c.n_heads, true);
  }
}

}  // namespace

void RunAttentionTests(bool bench) {
  for (DType t : {DType::kF16, DType::kBF16}) {
    for (int hd : {64, 128}) {
      Case d;
      d.t = t, d.hd = hd;
      d.nq = {1, 1, 1, 0, 1};
      d.kv_len = {1, 17, 700, 30, 3000};  // 3000 is split across CTAs and merged
      RunDecode(d, true, false);
      Case g = d;
      g.n_heads = 28, g.n_kv = 4, g.bs = 32;  // group 7: head chunks of 4 and 3
      RunDecode(g, true, false);
      Case p;
      p.t = t, p.hd = hd, p.n_heads = 16, p.n_kv = 4;
      p.nq = {1, 70, 200, 5};
      p.kv_len = {9, 70, 333, 5};  // sequence 3 prefills over a cached prefix of 133
      RunPrefill(p, true, false);
    }
  }
  if (!bench) return;
  Case d;
  d.nq.assign(64, 1);
  d.kv_len.assign(64, 4096);
  RunDecode(d, false, true);
  Case one;
  one.nq = {1}, one.kv_len = {32768};
  RunDecode(one, false, true);
  Case p;
  p.nq = {4096}, p.kv_len = {4096};
  RunPrefill(p, false, true);
}

}  // namespace phx::gpu_test
