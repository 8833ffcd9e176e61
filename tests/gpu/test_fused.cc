// Fused RMSNorm(+residual), SwiGLU, embedding gather, RoPE + KV write and row softmax against the
// float64 references of elementwise_ref.h / gemv_ref.h, with bandwidth benchmarks.
#include "kernels/convert.h"
#include "kernels/elementwise.h"
#include "kernels/quant_layout.h"
#include "kernels/rope_kv.h"
#include "tests/gpu/common.h"
#include "tests/gpu/elementwise_ref.h"
#include "tests/gpu/gemv_ref.h"

namespace phx::gpu_test {
namespace {

std::vector<double> Download(const Dev& d, size_t n, DType t) {
  std::vector<char> host(n * ElemBytes(t));
  d.Download(host.data(), host.size());
  return ToDoubles(host.data(), n, t);
}

// Random activations of type t (f32 or 16-bit) uploaded to d; exact values returned.
std::vector<double> RandomAct(Dev& d, size_t n, DType t, double sd) {
  std::vector<double> v;
  if (t == DType::kF32) {
    std::vector<float> f(n);
    v.resize(n);
    for (size_t i = 0; i < n; ++i) v[i] = f[i] = static_cast<float>(Normal(sd));
    UploadVec(d, f);
  } else {
    UploadVec(d, RandomHalf(n, t, sd, &v));
  }
  return v;
}

void CheckRmsNorm(DType t, bool residual, int rows, int dim, bool bench) {
  Dev x, r, w, y(size_t(rows) * dim * ElemBytes(t));
  const std::vector<double> xv = RandomAct(x, size_t(rows) * dim, t, 1.0);
  const std::vector<double> rv = RandomAct(r, size_t(rows) * dim, t, 1.0);
  const std::vector<double> wv = RandomAct(w, dim, DType::kF32, 1.0);
  y.Poison();
  kernels::RmsNormParams p;
  p.x = x.as(), p.x_stride = dim, p.residual = residual ? r.as() : nullptr;
  p.residual_stride = dim, p.w = w.as(), p.w_dtype = DType::kF32, p.y = y.as(), p.y_stride = dim;
  p.dtype = t, p.rows = rows, p.dim = dim, p.eps = 1e-5f;
  CheckLaunch(kernels::LaunchRmsNorm(p, nullptr), "rms norm");
  GPU_CHECK(cudaDeviceSynchronize());
  const RmsRef ref = ReferenceRmsNorm(xv, residual ? &rv : nullptr, wv, rows, dim, t, 1e-5);
  char shape[64];
  std::snprintf(shape, sizeof(shape), "[%d, %d] %s%s", rows, dim, Name(t),
                residual ? " +residual" : "");
  Compare("rms norm", shape, Download(y, ref.y.size(), t), ref.y, RowOpTol(ref.y, t));
  if (residual) {  // x + r rounded once to t: exact
    Compare("rms norm residual out", shape, Download(r, ref.h.size(), t), ref.h,
            std::vector<double>(ref.h.size(), 0.0));
  }
  if (bench) {
    const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchRmsNorm(p, nullptr), "rms"); });
    AddBench("rms norm +residual", shape, ms, 4.0 * rows * dim * ElemBytes(t), false);
  }
}

void CheckSwiGlu(DType t, int rows, int dim, bool bench) {
  Dev gu, out(size_t(rows) * dim * ElemBytes(t));
  // gate and up as the halves of one fused [rows, 2 * dim] projection.
  const std::vector<double> v = RandomAct(gu, size_t(rows) * 2 * dim, t, 2.0);
  out.Poison();
  kernels::SwiGluParams p;
  p.gate = gu.as(), p.up = gu.as<char>() + dim * ElemBytes(t);
  p.gate_stride = p.up_stride = 2 * dim, p.out = out.as(), p.out_stride = dim;
  p.dtype = t, p.rows = rows, p.dim = dim;
  CheckLaunch(kernels::LaunchSwiGlu(p, nullptr), "swiglu");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> g(size_t(rows) * dim), u(g.size());
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < dim; ++j) {
      g[size_t(i) * dim + j] = v[size_t(i) * 2 * dim + j];
      u[size_t(i) * dim + j] = v[size_t(i) * 2 * dim + dim + j];
    }
  }
  const std::vector<double> ref = ReferenceSwiGlu(g, u, rows, dim);
  char shape[64];
  std::snprintf(shape, sizeof(shape), "[%d, %d] %s", rows, dim, Name(t));
  Compare("swiglu", shape, Download(out, ref.size(), t), ref, RowOpTol(ref, t));
  if (bench) {
    const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchSwiGlu(p, nullptr), "swiglu"); });
    AddBench("swiglu", shape, ms, 3.0 * rows * dim * ElemBytes(t), false);
  }
}

void CheckEmbedding(DType table_t, DType out_t, int vocab, int dim, int tokens) {
  Dev table, ids_d, out(size_t(tokens) * dim * ElemBytes(out_t));
  std::vector<double> tv;
  if (table_t == DType::kF32 || table_t == DType::kF16 || table_t == DType::kBF16) {
    tv = RandomAct(table, size_t(vocab) * dim, table_t, 1.0);
  } else {  // quantized: GGUF blocks in their device layout
    const HostWeights w = RandomWeights(table_t, vocab, dim);
    tv = w.values;
    if (table_t == DType::kQ8_0) {
      std::vector<uint8_t> planar(kernels::Q8_0PlanarBytes(vocab, dim));
      kernels::RepackQ8_0ToPlanar(w.bytes.data(), vocab, dim, planar.data());
      UploadVec(table, planar);
    } else if (table_t == DType::kQ6_K) {
      std::vector<uint8_t> planar(kernels::Q6KPlanar(vocab, dim).bytes);
      kernels::RepackQ6_KToPlanar(w.bytes.data(), vocab, dim, planar.data());
      UploadVec(table, planar);
    } else {
      UploadVec(table, w.bytes);
    }
  }
  std::vector<int32_t> ids(tokens);
  for (int32_t& id : ids) id = static_cast<int32_t>(Rng()() % vocab);
  ids[0] = -1;  // out of range: a zero row
  ids[1] = vocab - 1;
  UploadVec(ids_d, ids);
  out.Poison();
  kernels::EmbeddingParams p;
  p.table = table.as(), p.table_dtype = table_t, p.vocab = vocab, p.ids = ids_d.as<int32_t>();
  p.out = out.as(), p.out_stride = dim, p.out_dtype = out_t, p.num_tokens = tokens, p.dim = dim;
  CheckLaunch(kernels::LaunchEmbedding(p, nullptr), "embedding");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> ref(size_t(tokens) * dim, 0.0);
  for (int t = 1; t < tokens; ++t) {
    for (int j = 0; j < dim; ++j) ref[size_t(t) * dim + j] = tv[size_t(ids[t]) * dim + j];
  }
  char shape[64];
  std::snprintf(shape, sizeof(shape), "vocab %d dim %d x%d %s -> %s", vocab, dim, tokens,
                Name(table_t), Name(out_t));
  const bool quantized = table_t == DType::kQ8_0 || table_t == DType::kQ4_K ||
                         table_t == DType::kQ5_K || table_t == DType::kQ6_K;
  Compare("embedding", shape, Download(out, ref.size(), out_t), ref,
          RoundingTol(ref, out_t, quantized));
}

void CheckRopeKv(DType act, DType cache_t, bool neox, int n_rot, int head_dim, bool factors) {
  const int tokens = 7, nh = 8, nkv = 2, num_slots = 64;
  Dev q, k, v, pos_d, slot_d, ff_d, kc(size_t(num_slots) * nkv * head_dim * 2),
      vc(size_t(num_slots) * nkv * head_dim * 2);
  const std::vector<double> qv = RandomAct(q, size_t(tokens) * nh * head_dim, act, 1.0);
  const std::vector<double> kv = RandomAct(k, size_t(tokens) * nkv * head_dim, act, 1.0);
  const std::vector<double> vv = RandomAct(v, size_t(tokens) * nkv * head_dim, act, 1.0);
  std::vector<int32_t> pos(tokens), slots(tokens);
  for (int t = 0; t < tokens; ++t) pos[t] = static_cast<int32_t>(Rng()() % 30000), slots[t] = 5 * t;
  pos[0] = 0;
  slots[3] = -1;  // padding token: no cache write
  std::vector<float> ff(n_rot / 2);
  for (float& f : ff) f = static_cast<float>(Uniform(1.0, 8.0));  // llama 3's factors span 1..8
  UploadVec(pos_d, pos);
  UploadVec(slot_d, slots);
  UploadVec(ff_d, ff);
  kc.Poison();
  vc.Poison();
  RopeSpec spec;
  spec.neox = neox, spec.n_rot = n_rot, spec.head_dim = head_dim;
  spec.theta_scale = kernels::RopeThetaScale(500000.f, n_rot);
  spec.freq_scale = factors ? 0.5f : 1.f;
  spec.freq_factors = factors ? &ff : nullptr;
  kernels::RopeKvWriteParams p;
  p.q = q.as(), p.q_stride = nh * head_dim, p.k = k.as(), p.k_stride = nkv * head_dim;
  p.v = v.as(), p.v_stride = nkv * head_dim, p.act_dtype = act, p.positions = pos_d.as<int32_t>();
  p.slot_mapping = slot_d.as<int32_t>(), p.k_cache = kc.as(), p.v_cache = vc.as();
  p.num_slots = num_slots, p.cache_dtype = cache_t, p.num_tokens = tokens, p.n_heads = nh;
  p.n_kv_heads = nkv, p.head_dim = head_dim, p.neox = neox, p.n_rot = n_rot;
  p.theta_scale = spec.theta_scale, p.freq_scale = spec.freq_scale;
  p.freq_factors = factors ? ff_d.as<float>() : nullptr;
  CheckLaunch(kernels::LaunchRopeKvWrite(p, nullptr), "rope kv write");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> qr = qv, kr = kv;
  ReferenceRope(qr, tokens, nh, pos, spec);
  ReferenceRope(kr, tokens, nkv, pos, spec);
  const std::vector<double> qtol = RopeTol(qr, qv, tokens, nh, spec, act);
  const std::vector<double> ktol_rows = RopeTol(kr, kv, tokens, nkv, spec, cache_t);
  // Only written slots are compared; the others must still hold the poison (NaN).
  const std::vector<double> kgot = Download(kc, kc.bytes() / 2, cache_t);
  const std::vector<double> vgot = Download(vc, vc.bytes() / 2, cache_t);
  std::vector<double> kg, kw, kt, vg, vw, vt;
  size_t untouched_bad = 0;
  std::vector<bool> written(num_slots, false);
  const size_t row = size_t(nkv) * head_dim;
  for (int t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    written[slots[t]] = true;
    for (size_t e = 0; e < row; ++e) {
      kg.push_back(kgot[slots[t] * row + e]), kw.push_back(kr[t * row + e]);
      kt.push_back(ktol_rows[t * row + e]);
      vg.push_back(vgot[slots[t] * row + e]), vw.push_back(vv[t * row + e]);
      vt.push_back(UnitRoundoff(cache_t) * std::fabs(vv[t * row + e]) + SubnormalFloor(cache_t));
    }
  }
  for (int s = 0; s < num_slots; ++s) {
    for (size_t e = 0; !written[s] && e < row; ++e) {
      untouched_bad += !std::isnan(kgot[s * row + e]) || !std::isnan(vgot[s * row + e]);
    }
  }
  char shape[80];
  std::snprintf(shape, sizeof(shape), "%s->%s %s n_rot %d hd %d%s", Name(act), Name(cache_t),
                neox ? "neox" : "normal", n_rot, head_dim, factors ? " freq_factors" : "");
  Compare("rope+kv write k", shape, kg, kw, kt);
  Compare("rope+kv write v", shape, vg, vw, vt);
  Report("rope+kv write other slots", shape, untouched_bad == 0,
         untouched_bad == 0 ? "untouched" : std::to_string(untouched_bad) + " values written");
  Compare("rope q (in place)", shape, Download(q, qv.size(), act), qr, qtol);
}

// Row softmax (the CUDA backend's Softmax): an ordinary row, a row with masked entries and a row
// of all -inf, which must come out all 0 (ops/logits.h), never NaN.
void CheckSoftmax(int cols) {
  const int rows = 3;
  std::vector<float> x(size_t(rows) * cols);
  for (float& v : x) v = static_cast<float>(Normal(3.0));
  for (int c = 0; c < cols; c += 3) x[cols + c] = -INFINITY;
  for (int c = 0; c < cols; ++c) x[2 * cols + c] = -INFINITY;
  Dev xd, out(x.size() * 4);
  UploadVec(xd, x);
  out.Poison();
  const float inv_t = 1.f / 0.7f;
  kernels::SoftmaxParams p;
  p.x = xd.as<float>(), p.x_stride = cols, p.out = out.as<float>(), p.out_stride = cols;
  p.rows = rows, p.cols = cols, p.inv_temperature = inv_t;
  CheckLaunch(kernels::LaunchSoftmax(p, nullptr), "softmax");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> want(x.size(), 0.0), tol(x.size(), 0.0);
  for (int r = 0; r < 2; ++r) {
    double mx = -INFINITY, sum = 0;
    for (int c = 0; c < cols; ++c) mx = std::max(mx, double(x[size_t(r) * cols + c] * inv_t));
    for (int c = 0; c < cols; ++c) {
      sum += want[size_t(r) * cols + c] = std::exp(double(x[size_t(r) * cols + c] * inv_t) - mx);
    }
    for (int c = 0; c < cols; ++c) {
      const size_t e = size_t(r) * cols + c;
      want[e] /= sum;
      // z = x/T rounded to f32 (as here); the kernel's z - max may be one fused multiply-add
      // (error u |z|) or a rounded subtraction (u |z - max|); then expf (2 ulp), a sum of
      // cols / 256 + 10 sequential terms and the normalization.
      const double z = x[e] * inv_t;
      const double arg = std::isinf(x[e]) ? 0 : std::fabs(z) + std::fabs(z - mx);
      tol[e] = (arg + 16 + cols / 256.0) * UnitRoundoff(DType::kF32) * want[e] + 1e-30;
    }
  }
  char shape[48];
  std::snprintf(shape, sizeof(shape), "3 x %d (row 2 all -inf)", cols);
  Compare("softmax", shape, Download(out, x.size(), DType::kF32), want, tol);
}

}  // namespace

void RunFusedTests(bool check, bool bench) {
  if (check) {
    for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
      CheckRmsNorm(t, false, 5, 1000, false);
      CheckRmsNorm(t, true, 7, 4096, false);
      CheckSwiGlu(t, 9, 1000, false);
      for (DType table : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K,
                          DType::kQ5_K, DType::kQ6_K}) {
        if (table == t || (table != DType::kF16 && table != DType::kBF16)) {
          CheckEmbedding(table, t, 1000, 512, 17);
        }
      }
    }
    for (DType act : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (DType cache : {DType::kF16, DType::kBF16}) {
        CheckRopeKv(act, cache, false, 128, 128, false);
        CheckRopeKv(act, cache, true, 64, 128, false);
        CheckRopeKv(act, cache, false, 64, 64, true);  // llama 3 style frequency factors
        CheckRopeKv(act, cache, true, 128, 128, true);
      }
    }
    CheckSoftmax(1000);
    CheckSoftmax(128256);
  }
  if (bench) {
    CheckRmsNorm(DType::kBF16, true, 64, 4096, true);
    CheckSwiGlu(DType::kBF16, 64, 14336, true);
  }
}

}  // namespace phx::gpu_test
