// Paged decode and prefill attention against the float64 reference of attention_ref.h: random
// page tables drawn from a pool whose unused slots are NaN (a read outside a sequence's pages
// poisons the output), outputs poisoned before each run, every element within its bound; plain,
// soft-capped and sliding-window (kExt) instantiations.
#include <algorithm>

#include "kernels/attention.h"
#include "kernels/attention_plan.h"
#include "tests/gpu/attention_ref.h"
#include "tests/gpu/common.h"

namespace phx::gpu_test {
namespace {

struct DevCase {
  Dev q, k, v, out, kv_indptr, indices;
};

void Upload(const AttnCase& c, const AttnData& d, DevCase& g) {
  UploadVec(g.k, d.kbits);
  UploadVec(g.v, d.vbits);
  if (c.io == DType::kF32) {
    UploadVec(g.q, d.qf32);
  } else {
    UploadVec(g.q, d.qbits);
  }
  g.out.Resize(static_cast<size_t>(d.rows) * c.n_heads * c.hd * ElemBytes(c.io));
  g.out.Poison();
  UploadVec(g.kv_indptr, d.kv_indptr);
  UploadVec(g.indices, d.indices);
}

kernels::BatchView View(const AttnCase& c, const AttnData& d) {
  kernels::BatchView b;
  b.q_indptr = d.q_indptr.data(), b.kv_indptr = d.kv_indptr.data();
  b.kv_indices = d.indices.data(), b.kv_last_page_len = d.last.data();
  b.num_seqs = static_cast<int32_t>(d.last.size()), b.block_size = c.bs;
  return b;
}

kernels::PagedKvCache Cache(const AttnCase& c, const AttnData& d, const DevCase& g) {
  kernels::PagedKvCache kv;
  kv.k = g.k.as(), kv.v = g.v.as(), kv.dtype = c.t, kv.num_blocks = d.blocks;
  kv.block_size = c.bs, kv.n_kv_heads = c.n_kv, kv.head_dim = c.hd;
  return kv;
}

std::vector<double> Download(const AttnCase& c, const AttnData& d, const Dev& out) {
  std::vector<char> host(out.bytes());
  out.Download(host.data(), host.size());
  return ToDoubles(host.data(), static_cast<size_t>(d.rows) * c.n_heads * c.hd, c.io);
}

// Decode parameters of a plan; the plan's device arrays live in `work`, `merge`, `ws`.
struct DecodeLaunch {
  kernels::DecodePlan plan;
  Dev work, merge, ws;
  kernels::PagedDecodeParams p;
};

void PrepareDecode(const AttnCase& c, const AttnData& d, const DevCase& g, DecodeLaunch& l) {
  const kernels::AttentionShape shape{c.n_heads, c.n_kv, c.hd, d.blocks};
  CheckLaunch(kernels::PlanDecode(View(c, d), shape, {}, &l.plan), "plan decode");
  l.ws.Resize(std::max<size_t>(16, l.plan.WorkspaceBytes(c.n_heads, c.hd)));
  UploadVec(l.work, l.plan.work);
  UploadVec(l.merge, l.plan.merge);
  kernels::PagedDecodeParams& p = l.p;
  p.q = g.q.as(), p.q_stride = c.n_heads * c.hd, p.out = g.out.as(), p.out_stride = p.q_stride;
  p.f32_io = c.io == DType::kF32;
  p.kv = Cache(c, d, g), p.n_heads = c.n_heads, p.scale = 1.f / std::sqrt(float(c.hd));
  p.softcap = c.softcap, p.window = c.window;
  p.kv_indptr = g.kv_indptr.as<int32_t>(), p.kv_indices = g.indices.as<int32_t>();
  p.work = l.work.as<kernels::DecodeWorkItem>(), p.num_work = int32_t(l.plan.work.size());
  p.merge = l.merge.as<kernels::DecodeMergeItem>(), p.num_merge = int32_t(l.plan.merge.size());
  p.partial_out = l.ws.as<float>();
  p.partial_lse =
      reinterpret_cast<float*>(l.ws.as<char>() + l.plan.PartialLseOffset(c.n_heads, c.hd));
  p.num_partials = l.plan.num_partials;
}

void CheckDecode(const AttnCase& c) {
  const AttnData d = BuildAttn(c);
  DevCase g;
  Upload(c, d, g);
  DecodeLaunch l;
  PrepareDecode(c, d, g, l);
  CheckLaunch(kernels::LaunchPagedDecode(l.p, nullptr), "paged decode");
  GPU_CHECK(cudaDeviceSynchronize());
  char extra[48];
  std::snprintf(extra, sizeof(extra), "chunk %d", l.plan.chunk);
  const std::string shape = c.Name(extra);
  // The mutation test (gpu_harness_test) drops work at multiples of kDecodeChunk: the plan must
  // split there for it to speak for this run.
  const int max_len = *std::max_element(c.kv_len.begin(), c.kv_len.end());
  if (max_len > kDecodeChunk && l.plan.chunk != kDecodeChunk) {
    Report("paged decode plan", shape, false, "chunk differs from kDecodeChunk");
  }
  const AttnRef ref = ReferenceAttn(c, d);
  Compare("paged decode", shape, Download(c, d, g.out), ref.out, AttnTol(c, ref, false));
}

// The fixed-shape plan of a CUDA-graph bucket: every row gets `splits` items (empty ones for
// short and padding rows) and a merge; rows past the batch are padding and must come out 0.
void CheckDecodeFixed(const AttnCase& c, int padded_rows, int splits) {
  const AttnData d = BuildAttn(c);
  DevCase g;
  Upload(c, d, g);
  g.out.Resize(static_cast<size_t>(padded_rows) * c.n_heads * c.hd * ElemBytes(c.io));
  g.out.Poison();
  Dev qpad(static_cast<size_t>(padded_rows) * c.n_heads * c.hd * ElemBytes(c.io));
  qpad.Poison();  // padding rows' q is NaN: their output must still be exactly 0
  GPU_CHECK(cudaMemcpy(qpad.as(), g.q.as(), g.q.bytes(), cudaMemcpyDeviceToDevice));
  std::vector<int32_t> indptr = d.kv_indptr;
  indptr.resize(padded_rows + 1, indptr.back());
  Dev indptr_d;
  UploadVec(indptr_d, indptr);
  kernels::DecodePlan plan;
  const kernels::AttentionShape shape{c.n_heads, c.n_kv, c.hd, d.blocks};
  CheckLaunch(kernels::PlanDecodeFixed(View(c, d), shape, padded_rows, splits, &plan),
              "plan decode fixed");
  Dev work, merge, ws(std::max<size_t>(16, plan.WorkspaceBytes(c.n_heads, c.hd)));
  ws.Poison();
  UploadVec(work, plan.work);
  UploadVec(merge, plan.merge);
  kernels::PagedDecodeParams p;
  p.q = qpad.as(), p.q_stride = c.n_heads * c.hd, p.out = g.out.as(), p.out_stride = p.q_stride;
  p.f32_io = c.io == DType::kF32;
  p.kv = Cache(c, d, g), p.n_heads = c.n_heads, p.scale = 1.f / std::sqrt(float(c.hd));
  p.softcap = c.softcap, p.window = c.window;
  p.kv_indptr = indptr_d.as<int32_t>(), p.kv_indices = g.indices.as<int32_t>();
  p.work = work.as<kernels::DecodeWorkItem>(), p.num_work = int32_t(plan.work.size());
  p.merge = merge.as<kernels::DecodeMergeItem>(), p.num_merge = int32_t(plan.merge.size());
  p.partial_out = ws.as<float>();
  p.partial_lse = reinterpret_cast<float*>(ws.as<char>() + plan.PartialLseOffset(c.n_heads, c.hd));
  p.num_partials = plan.num_partials;
  CheckLaunch(kernels::LaunchPagedDecode(p, nullptr), "paged decode (fixed plan)");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<char> host(g.out.bytes());
  g.out.Download(host.data(), host.size());
  const size_t width = static_cast<size_t>(c.n_heads) * c.hd;
  const std::vector<double> got = ToDoubles(host.data(), padded_rows * width, c.io);
  AttnRef ref = ReferenceAttn(c, d);
  std::vector<double> tol = AttnTol(c, ref, false);
  ref.out.resize(got.size(), 0.0);  // padding rows: exactly 0
  tol.resize(got.size(), 0.0);
  char extra[64];
  std::snprintf(extra, sizeof(extra), "fixed plan: %d rows x %d splits", padded_rows, splits);
  Compare("paged decode", c.Name(extra), got, ref.out, tol);
}

void CheckPrefill(const AttnCase& c) {
  const AttnData d = BuildAttn(c);
  DevCase g;
  Upload(c, d, g);
  const kernels::AttentionShape shape{c.n_heads, c.n_kv, c.hd, d.blocks};
  kernels::PrefillPlan plan;
  CheckLaunch(kernels::PlanPrefill(View(c, d), shape, &plan), "plan prefill");
  Dev tiles;
  UploadVec(tiles, plan.tiles);
  kernels::PagedPrefillParams p;
  p.q = g.q.as(), p.q_stride = c.n_heads * c.hd, p.out = g.out.as(), p.out_stride = p.q_stride;
  p.kv = Cache(c, d, g), p.n_heads = c.n_heads, p.scale = 1.f / std::sqrt(float(c.hd));
  p.softcap = c.softcap, p.window = c.window;
  p.kv_indptr = g.kv_indptr.as<int32_t>(), p.kv_indices = g.indices.as<int32_t>();
  p.tiles = tiles.as<kernels::PrefillTile>(), p.num_tiles = int32_t(plan.tiles.size());
  CheckLaunch(kernels::LaunchPagedPrefill(p, nullptr), "paged prefill");
  GPU_CHECK(cudaDeviceSynchronize());
  const AttnRef ref = ReferenceAttn(c, d);
  Compare("paged prefill", c.Name("causal"), Download(c, d, g.out), ref.out, AttnTol(c, ref, true));
}

void BenchDecode(const AttnCase& c) {
  const AttnData d = BuildAttn(c, /*exact=*/false);
  DevCase g;
  Upload(c, d, g);
  DecodeLaunch l;
  PrepareDecode(c, d, g, l);
  const double ms =
      TimeMs([&] { CheckLaunch(kernels::LaunchPagedDecode(l.p, nullptr), "paged decode"); });
  double bytes = 0;
  for (int len : c.kv_len) bytes += 2.0 * len * c.n_kv * c.hd * 2;
  char extra[48], key[64];
  std::snprintf(extra, sizeof(extra), "ctx %d chunk %d", c.kv_len[0], l.plan.chunk);
  std::snprintf(key, sizeof(key), "decode:%s:%zux%d", Name(c.t), c.kv_len.size(), c.kv_len[0]);
  AddBench("paged decode", c.Name(extra), ms, bytes, false, "KV bytes / time", key);
}

void BenchPrefill(const AttnCase& c) {
  const AttnData d = BuildAttn(c, /*exact=*/false);
  DevCase g;
  Upload(c, d, g);
  const kernels::AttentionShape shape{c.n_heads, c.n_kv, c.hd, d.blocks};
  kernels::PrefillPlan plan;
  CheckLaunch(kernels::PlanPrefill(View(c, d), shape, &plan), "plan prefill");
  Dev tiles;
  UploadVec(tiles, plan.tiles);
  kernels::PagedPrefillParams p;
  p.q = g.q.as(), p.q_stride = c.n_heads * c.hd, p.out = g.out.as(), p.out_stride = p.q_stride;
  p.kv = Cache(c, d, g), p.n_heads = c.n_heads, p.scale = 1.f / std::sqrt(float(c.hd));
  p.kv_indptr = g.kv_indptr.as<int32_t>(), p.kv_indices = g.indices.as<int32_t>();
  p.tiles = tiles.as<kernels::PrefillTile>(), p.num_tiles = int32_t(plan.tiles.size());
  const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchPagedPrefill(p, nullptr), "p"); });
  double flops = 0;  // causal: QK^T and PV over the visible keys
  for (size_t i = 0; i < c.nq.size(); ++i) {
    for (int j = 0; j < c.nq[i]; ++j) flops += 4.0 * (c.kv_len[i] - c.nq[i] + j + 1) * c.hd;
  }
  char extra[48], key[64];
  std::snprintf(extra, sizeof(extra), "seq %d causal", c.kv_len[0]);
  std::snprintf(key, sizeof(key), "prefill:%s:%d", Name(c.t), c.kv_len[0]);
  AddBench("paged prefill", c.Name(extra), ms, flops * c.n_heads, true, "", key);
}

}  // namespace

void RunAttentionTests(bool check, bool bench) {
  if (check) {
    for (const AttnCase& c : DecodeCases()) CheckDecode(c);
    for (const AttnCase& c : PrefillCases()) CheckPrefill(c);
    // Soft-cap and sliding window (Gemma 2/3): the kExt instantiations of both kernels.
    for (const AttnCase& c : DecodeOptionCases()) CheckDecode(c);
    for (const AttnCase& c : PrefillOptionCases()) CheckPrefill(c);
    // CUDA-graph plans: padded rows (7 real rows of a bucket of 8), splits fixed per bucket.
    for (DType t : {DType::kF16, DType::kBF16}) {
      AttnCase c;
      c.t = c.io = t;
      c.nq.assign(7, 1);
      c.kv_len = {1, 15, 16, 17, 700, 1025, 3000};
      CheckDecodeFixed(c, 8, 1);
      CheckDecodeFixed(c, 8, 7);
      c.io = DType::kF32;
      c.hd = 64, c.n_heads = 32, c.n_kv = 4;
      CheckDecodeFixed(c, 8, kernels::kMaxFixedSplits);
      c.window = 100, c.softcap = 5.f;  // a graph plan of a sliding, soft-capped layer
      CheckDecodeFixed(c, 8, 7);
    }
  }
  if (!bench) return;
  // Issue 31's shapes: 32 query / 8 KV heads, head dim 128, bf16. Decode at batch 16 and 64 with
  // 4096 tokens each (bandwidth), one long sequence; causal prefill of 1,024 and 4,096 tokens.
  for (int batch : {16, 64}) {
    AttnCase d;
    d.t = d.io = DType::kBF16;
    d.nq.assign(batch, 1);
    d.kv_len.assign(batch, 4096);
    BenchDecode(d);
  }
  AttnCase one;
  one.t = one.io = DType::kBF16;
  one.nq = {1}, one.kv_len = {32768};
  BenchDecode(one);
  for (int len : {1024, 4096}) {
    AttnCase p;
    p.t = p.io = DType::kBF16;
    p.nq = {len}, p.kv_len = {len};
    BenchPrefill(p);
  }
}

}  // namespace phx::gpu_test
