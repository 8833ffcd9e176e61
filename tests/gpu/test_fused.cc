// Fused RMSNorm(+residual), SwiGLU, embedding gather and RoPE + KV write against float64
// references, with bandwidth benchmarks.
#include "kernels/elementwise.h"
#include "kernels/rope_kv.h"
#include "tests/gpu/common.h"

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

double Round(double x, DType t) {
  return t == DType::kF32 ? static_cast<float>(x) : FromBits(ToBits(static_cast<float>(x), t), t);
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
  std::vector<double> h(xv.size()), ref(xv.size());
  for (int i = 0; i < rows; ++i) {
    double ss = 0;
    for (int j = 0; j < dim; ++j) {
      const size_t e = size_t(i) * dim + j;
      h[e] = residual ? Round(xv[e] + rv[e], t) : xv[e];
      ss += h[e] * h[e];
    }
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (int j = 0; j < dim; ++j) ref[size_t(i) * dim + j] = h[size_t(i) * dim + j] * inv * wv[j];
  }
  char shape[64];
  std::snprintf(shape, sizeof(shape), "[%d, %d] %s%s", rows, dim, Name(t),
                residual ? " +residual" : "");
  Compare("rms norm", shape, Download(y, ref.size(), t), ref, OutputTol(t, 4.0));
  if (residual) {
    Compare("rms norm residual out", shape, Download(r, h.size(), t), h, OutputTol(t));
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
  std::vector<double> ref(size_t(rows) * dim);
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < dim; ++j) {
      const double g = v[size_t(i) * 2 * dim + j], u = v[size_t(i) * 2 * dim + dim + j];
      ref[size_t(i) * dim + j] = g / (1 + std::exp(-g)) * u;
    }
  }
  char shape[64];
  std::snprintf(shape, sizeof(shape), "[%d, %d] %s", rows, dim, Name(t));
  Compare("swiglu", shape, Download(out, ref.size(), t), ref, OutputTol(t, 2.0));
  if (bench) {
    const double ms = TimeMs([&] { CheckLaunch(kernels::LaunchSwiGlu(p, nullptr), "swiglu"); });
    AddBench("swiglu", shape, ms, 3.0 * rows * dim * ElemBytes(t), false);
  }
}

void CheckEmbedding(DType table_t, DType out_t, int vocab, int dim, int tokens) {
  Dev table, ids_d, out(size_t(tokens) * dim * ElemBytes(out_t));
  std::vector<double> tv;
  if (table_t == DType::kQ8_0) {
    // Row values q * d with d = 2^-7: planar quants, then f16 scales.
    std::vector<uint8_t> planar(size_t(vocab) * dim + 256 + size_t(vocab) * dim / 16);
    const size_t off = (size_t(vocab) * dim + 255) / 256 * 256;
    tv.resize(size_t(vocab) * dim);
    for (size_t i = 0; i < tv.size(); ++i) {
      const int8_t q = static_cast<int8_t>(int(Rng()() % 255) - 127);
      planar[i] = static_cast<uint8_t>(q);
      tv[i] = q / 128.0;
    }
    const uint16_t d = ToBits(1.f / 128, DType::kF16);
    for (size_t b = 0; b < tv.size() / 32; ++b) std::memcpy(&planar[off + 2 * b], &d, 2);
    UploadVec(table, planar);
  } else {
    tv = RandomAct(table, size_t(vocab) * dim, table_t, 1.0);
  }
  std::vector<int32_t> ids(tokens);
  for (int32_t& id : ids) id = static_cast<int32_t>(Rng()() % vocab);
  ids[0] = -1;  // out of range: a zero row
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
  Compare("embedding", shape, Download(out, ref.size(), out_t), ref, OutputTol(out_t));
}

void CheckRopeKv(DType act, DType cache_t, bool neox, int n_rot, int head_dim) {
  const int tokens = 7, nh = 8, nkv = 2, num_slots = 64;
  Dev q, k, v, pos_d, slot_d, kc(size_t(num_slots) * nkv * head_dim * 2),
      vc(size_t(num_slots) * nkv * head_dim * 2);
  std::vector<double> qv = RandomAct(q, size_t(tokens) * nh * head_dim, act, 1.0);
  const std::vector<double> kv = RandomAct(k, size_t(tokens) * nkv * head_dim, act, 1.0);
  const std::vector<double> vv = RandomAct(v, size_t(tokens) * nkv * head_dim, act, 1.0);
  std::vector<int32_t> pos(tokens), slots(tokens);
  for (int t = 0; t < tokens; ++t) pos[t] = static_cast<int32_t>(Rng()() % 30000), slots[t] = 5 * t;
  slots[3] = -1;  // padding token: no cache write
  UploadVec(pos_d, pos);
  UploadVec(slot_d, slots);
  kc.Poison();
  vc.Poison();
  kernels::RopeKvWriteParams p;
  p.q = q.as(), p.q_stride = nh * head_dim, p.k = k.as(), p.k_stride = nkv * head_dim;
  p.v = v.as(), p.v_stride = nkv * head_dim, p.act_dtype = act, p.positions = pos_d.as<int32_t>();
  p.slot_mapping = slot_d.as<int32_t>(), p.k_cache = kc.as(), p.v_cache = vc.as();
  p.num_slots = num_slots, p.cache_dtype = cache_t, p.num_tokens = tokens, p.n_heads = nh;
  p.n_kv_heads = nkv, p.head_dim = head_dim, p.neox = neox, p.n_rot = n_rot;
  p.theta_scale = kernels::RopeThetaScale(10000.f, n_rot);
  CheckLaunch(kernels::LaunchRopeKvWrite(p, nullptr), "rope kv write");
  GPU_CHECK(cudaDeviceSynchronize());
  // Reference: ggml's f32 angles, rotation in double.
  auto rotate = [&](std::vector<double>& x, int t, int heads) {
    float theta = static_cast<float>(pos[t]);
    for (int i = 0; i < n_rot / 2; ++i) {
      const double a = 1.0f * theta;
      theta *= p.theta_scale;
      for (int h = 0; h < heads; ++h) {
        double* r = &x[(size_t(t) * heads + h) * head_dim];
        const int i0 = neox ? i : 2 * i, i1 = neox ? i + n_rot / 2 : 2 * i + 1;
        const double x0 = r[i0], x1 = r[i1];
        r[i0] = x0 * std::cos(a) - x1 * std::sin(a);
        r[i1] = x0 * std::sin(a) + x1 * std::cos(a);
      }
    }
  };
  std::vector<double> kr = kv;
  for (int t = 0; t < tokens; ++t) rotate(qv, t, nh), rotate(kr, t, nkv);
  // Only written slots are compared; the rest must still be NaN.
  const std::vector<double> kgot = Download(kc, kc.bytes() / 2, cache_t);
  const std::vector<double> vgot = Download(vc, vc.bytes() / 2, cache_t);
  std::vector<double> kwant(kgot.size(), NAN), vwant(vgot.size(), NAN);
  for (int t = 0; t < tokens; ++t) {
    if (slots[t] < 0) continue;
    for (int e = 0; e < nkv * head_dim; ++e) {
      kwant[size_t(slots[t]) * nkv * head_dim + e] = kr[size_t(t) * nkv * head_dim + e];
      vwant[size_t(slots[t]) * nkv * head_dim + e] = vv[size_t(t) * nkv * head_dim + e];
    }
  }
  auto nan_aware = [](std::vector<double> got, std::vector<double> want) {
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::isnan(want[i]) && std::isnan(got[i])) got[i] = want[i] = 0;  // untouched slot
    }
    return std::make_pair(got, want);
  };
  char shape[64];
  std::snprintf(shape, sizeof(shape), "%s->%s %s n_rot %d hd %d", Name(act), Name(cache_t),
                neox ? "neox" : "normal", n_rot, head_dim);
  // Positions up to 30000: the f32 angle carries ~30000 * 2^-24 absolute error.
  const Tol tol = cache_t == DType::kF16 ? Tol{6e-3, 2e-3} : Tol{2e-2, 1.6e-2};
  auto [kg, kw] = nan_aware(kgot, kwant);
  Compare("rope+kv write k", shape, kg, kw, tol);
  auto [vg, vw] = nan_aware(vgot, vwant);
  Compare("rope+kv write v", shape, vg, vw, tol);
  Compare("rope q (in place)", shape, Download(q, qv.size(), act), qv,
          act == DType::kF32 ? Tol{5e-3, 1e-4} : OutputTol(act, 3.0));
}

}  // namespace

void RunFusedTests(bool bench) {
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) {
    CheckRmsNorm(t, false, 5, 1000, false);
    CheckRmsNorm(t, true, 7, 4096, false);
    CheckSwiGlu(t, 9, 1000, false);
    for (DType table : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0}) {
      if (table == DType::kF32 || table == DType::kQ8_0 || table == t) {
        CheckEmbedding(table, t, 1000, 256, 17);
      }
    }
  }
  for (DType act : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (DType cache : {DType::kF16, DType::kBF16}) {
      CheckRopeKv(act, cache, false, 128, 128);
      CheckRopeKv(act, cache, true, 64, 128);
    }
  }
  if (bench) {
    CheckRmsNorm(DType::kBF16, true, 64, 4096, true);
    CheckSwiGlu(DType::kBF16, 64, 14336, true);
  }
}

}  // namespace phx::gpu_test
