// The model-family kernels of issue 24 against float64 references computed here: per-head q/k
// RMSNorm and the fused post-norm residual add (LaunchRmsNorm's group and post_add), GeGLU,
// scaled embeddings, the logit soft-cap pass, RoPE with YaRN mixing and a magnitude factor, and
// the mixture-of-experts router, grouped expert products (every weight type, odd expert counts,
// top-k 1/2/8, experts no token selects, a row with an out-of-range id) and combination.
// Outputs poisoned (NaN) before each launch; every element within its bound.
#include <algorithm>
#include <numeric>

#include "kernels/elementwise.h"
#include "kernels/moe.h"
#include "kernels/quant_layout.h"
#include "kernels/rope_kv.h"
#include "tests/gpu/common.h"
#include "tests/gpu/elementwise_ref.h"
#include "tests/gpu/gemv_ref.h"

namespace phx::gpu_test {
namespace {

constexpr double kU32 = 1.0 / (1 << 24);

std::vector<double> Download(const Dev& d, size_t n, DType t) {
  std::vector<char> host(n * ElemBytes(t));
  d.Download(host.data(), host.size());
  return ToDoubles(host.data(), n, t);
}

// n random f32 values of sd `sd` uploaded to d (n elements, or `bytes` when larger); exact
// values returned.
std::vector<double> RandomF32(Dev& d, size_t n, double sd) {
  std::vector<float> f(n);
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = f[i] = static_cast<float>(Normal(sd));
  UploadVec(d, f);
  return v;
}

// x [rows, heads * hd] (row stride width + 8) normalized per head with w[hd] (q/k norm); or, with
// post_add, out = residual + RmsNorm(x) * w over the whole row, written over the residual.
void CheckNorm(int rows, int heads, int hd, bool post_add) {
  const int dim = heads * hd, stride = dim + 8;
  const int wn = post_add ? dim : hd;
  Dev x, r, w, y(size_t(rows) * stride * 4);
  const std::vector<double> xv = RandomF32(x, size_t(rows) * stride, 1.0);
  const std::vector<double> rv = RandomF32(r, size_t(rows) * stride, 1.0);
  const std::vector<double> wv = RandomF32(w, wn, 1.0);
  y.Poison();
  kernels::RmsNormParams p;
  p.x = x.as(), p.x_stride = stride, p.w = w.as(), p.w_dtype = DType::kF32;
  p.y = post_add ? r.as() : y.as(), p.y_stride = stride;
  p.dtype = DType::kF32, p.rows = rows, p.dim = dim, p.eps = 1e-6f;
  p.group = post_add ? 0 : hd;
  if (post_add) p.post_add = r.as(), p.post_add_stride = stride;
  CheckLaunch(kernels::LaunchRmsNorm(p, nullptr), "rms norm (family)");
  GPU_CHECK(cudaDeviceSynchronize());
  const int g = post_add ? dim : hd;
  std::vector<double> want(size_t(rows) * stride), tol(want.size(), 0.0);
  for (int i = 0; i < rows; ++i) {
    for (int c0 = 0; c0 < dim; c0 += g) {
      double ss = 0;
      for (int c = c0; c < c0 + g; ++c)
        ss += xv[size_t(i) * stride + c] * xv[size_t(i) * stride + c];
      const double inv = 1.0 / std::sqrt(ss / g + 1e-6);
      for (int c = c0; c < c0 + g; ++c) {
        const size_t e = size_t(i) * stride + c;
        const double n = xv[e] * inv * wv[c - c0 + (post_add ? c0 : 0)];
        want[e] = post_add ? rv[e] + n : n;
        tol[e] = (1 + kRowOpF32Ulps) * kU32 * (std::fabs(n) + (post_add ? std::fabs(rv[e]) : 0));
      }
    }
    for (int c = dim; c < stride; ++c) {  // the row gap: untouched (poison, or the residual)
      const size_t e = size_t(i) * stride + c;
      want[e] = post_add ? rv[e] : NAN;
    }
  }
  std::vector<double> got = Download(post_add ? r : y, want.size(), DType::kF32);
  if (!post_add) {  // the gap must still be NaN: compare it as 0 == 0 when it is
    for (int i = 0; i < rows; ++i) {
      for (int c = dim; c < stride; ++c) {
        const size_t e = size_t(i) * stride + c;
        got[e] = std::isnan(got[e]) ? 0.0 : 1.0;
        want[e] = 0.0;
      }
    }
  }
  char shape[80];
  std::snprintf(shape, sizeof(shape), "[%d, %d x %d] stride %d%s", rows, heads, hd, stride,
                post_add ? " post-norm add (in place)" : " per head");
  Compare(post_add ? "post norm add" : "head rms norm", shape, got, want, tol);
}

void CheckGeGlu(DType t, int rows, int dim) {
  Dev g, u, out(size_t(rows) * dim * ElemBytes(t));
  std::vector<double> gv, uv;
  if (t == DType::kF32) {
    gv = RandomF32(g, size_t(rows) * dim, 3.0);
    uv = RandomF32(u, size_t(rows) * dim, 1.0);
  } else {
    UploadVec(g, RandomHalf(size_t(rows) * dim, t, 3.0, &gv));
    UploadVec(u, RandomHalf(size_t(rows) * dim, t, 1.0, &uv));
  }
  out.Poison();
  kernels::SwiGluParams p;
  p.gate = g.as(), p.gate_stride = dim, p.up = u.as(), p.up_stride = dim, p.out = out.as();
  p.out_stride = dim, p.dtype = t, p.rows = rows, p.dim = dim, p.gelu_tanh = true;
  CheckLaunch(kernels::LaunchSwiGlu(p, nullptr), "geglu");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> want(gv.size()), tol(gv.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const double x = gv[i], z = std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
    want[i] = 0.5 * x * (1 + std::tanh(z)) * uv[i];
    // g / (1 + e^(-2z)) in f32: e^(-2z) inherits the rounding of its argument times 2|z| (a large
    // negative g gives a tiny result with that relative error).
    tol[i] =
        (UnitRoundoff(t) + (kRowOpF32Ulps + 8 * std::fabs(2 * z)) * kU32) * std::fabs(want[i]) +
        SubnormalFloor(t);
  }
  char shape[48];
  std::snprintf(shape, sizeof(shape), "[%d, %d] %s", rows, dim, Name(t));
  Compare("geglu", shape, Download(out, want.size(), t), want, tol);
}

void CheckScaledEmbedding(DType table_t, int vocab, int dim, int tokens) {
  Dev table, ids_d, out(size_t(tokens) * dim * 4);
  std::vector<double> tv;
  UploadVec(table, RandomHalf(size_t(vocab) * dim, table_t, 1.0, &tv));
  std::vector<int32_t> ids(tokens);
  for (int32_t& id : ids) id = static_cast<int32_t>(Rng()() % vocab);
  UploadVec(ids_d, ids);
  out.Poison();
  const float scale = std::sqrt(static_cast<float>(dim));  // Gemma's sqrt(n_embd)
  kernels::EmbeddingParams p;
  p.table = table.as(), p.table_dtype = table_t, p.vocab = vocab, p.ids = ids_d.as<int32_t>();
  p.out = out.as(), p.out_stride = dim, p.out_dtype = DType::kF32, p.num_tokens = tokens;
  p.dim = dim, p.scale = scale;
  CheckLaunch(kernels::LaunchEmbedding(p, nullptr), "scaled embedding");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> want(size_t(tokens) * dim);
  for (int t = 0; t < tokens; ++t) {
    for (int j = 0; j < dim; ++j) want[size_t(t) * dim + j] = tv[size_t(ids[t]) * dim + j] * scale;
  }
  char shape[64];
  std::snprintf(shape, sizeof(shape), "vocab %d dim %d x%d %s scale %.3f", vocab, dim, tokens,
                Name(table_t), scale);
  Compare("scaled embedding", shape, Download(out, want.size(), DType::kF32), want,
          RoundingTol(want, DType::kF32, false));
}

void CheckSoftcap(int rows, int cols, float cap) {
  const int stride = cols + 5;
  Dev y;
  const std::vector<double> yv = RandomF32(y, size_t(rows) * stride, 3 * cap);
  kernels::SoftcapParams p;
  p.y = y.as<float>(), p.stride = stride, p.rows = rows, p.cols = cols, p.cap = cap;
  CheckLaunch(kernels::LaunchSoftcap(p, nullptr), "softcap");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> want(yv.size()), tol(yv.size(), 0.0);
  for (size_t i = 0; i < yv.size(); ++i) {
    const bool gap = static_cast<int>(i % stride) >= cols;  // must stay as it was
    want[i] = gap ? yv[i] : cap * std::tanh(yv[i] / cap);
    // tanhf (a few ulps) of y / cap (one rounding of the argument), times cap.
    tol[i] = gap ? 0.0 : 8 * kU32 * (std::fabs(want[i]) + std::fabs(yv[i]));
  }
  char shape[48];
  std::snprintf(shape, sizeof(shape), "[%d, %d] stride %d cap %g", rows, cols, stride, cap);
  Compare("logit softcap", shape, Download(y, yv.size(), DType::kF32), want, tol);
}

// RoPE with YaRN (ext_factor, correction dims) and a magnitude factor, q rotated in place.
void CheckRopeYarn(DType act, bool neox, int n_rot, int head_dim, float ext_factor,
                   float attn_factor) {
  const int tokens = 9, nh = 4, nkv = 1, slots = 16;
  const float base = 1000000.f, freq_scale = 0.25f;
  const int n_ctx_orig = 256;
  Dev q, k, pos_d, slot_d, kc(size_t(slots) * nkv * head_dim * 2), vc(kc.bytes());
  std::vector<double> qv;
  if (act == DType::kF32) {
    qv = RandomF32(q, size_t(tokens) * nh * head_dim, 1.0);
  } else {
    UploadVec(q, RandomHalf(size_t(tokens) * nh * head_dim, act, 1.0, &qv));
  }
  k.Resize(size_t(tokens) * nkv * head_dim * ElemBytes(act));
  std::vector<int32_t> pos(tokens), slot(tokens, -1);  // no cache writes: q only
  for (int t = 0; t < tokens; ++t) pos[t] = static_cast<int32_t>(Rng()() % 4096);
  pos[0] = 0, pos[1] = n_ctx_orig + 1;
  UploadVec(pos_d, pos);
  UploadVec(slot_d, slot);
  kernels::RopeKvWriteParams p;
  p.q = q.as(), p.q_stride = nh * head_dim, p.k = k.as(), p.k_stride = nkv * head_dim;
  p.v = k.as(), p.v_stride = nkv * head_dim, p.act_dtype = act, p.positions = pos_d.as<int32_t>();
  p.slot_mapping = slot_d.as<int32_t>(), p.k_cache = kc.as(), p.v_cache = vc.as();
  p.num_slots = slots, p.cache_dtype = DType::kF16, p.num_tokens = tokens, p.n_heads = nh;
  p.n_kv_heads = nkv, p.head_dim = head_dim, p.neox = neox, p.n_rot = n_rot;
  p.theta_scale = kernels::RopeThetaScale(base, n_rot), p.freq_scale = freq_scale;
  p.ext_factor = ext_factor;
  kernels::RopeYarnCorrDims(n_rot, base, n_ctx_orig, 32.f, 1.f, &p.corr_lo, &p.corr_hi);
  p.mscale = kernels::RopeMscale(attn_factor, ext_factor, freq_scale);
  CheckLaunch(kernels::LaunchRopeKvWrite(p, nullptr), "rope yarn");
  GPU_CHECK(cudaDeviceSynchronize());
  // ggml's angles in f32 (each operation rounded on its own, as the kernel's __f*_rn do), cos
  // and sin in float64 times the f32 magnitude.
  std::vector<double> want = qv, tol(qv.size());
  const int half = n_rot / 2;
  for (int t = 0; t < tokens; ++t) {
    float theta = static_cast<float>(pos[t]);
    for (int i = 0; i < half; ++i) {
      const volatile float extrap = theta;
      volatile float a = freq_scale * extrap;
      if (ext_factor != 0.f) {
        const float y =
            (static_cast<float>(i) - p.corr_lo) / std::max(0.001f, p.corr_hi - p.corr_lo);
        const volatile float ramp = (1 - std::min(1.f, std::max(0.f, y))) * ext_factor;
        const volatile float interp_part = a * (1 - ramp);
        const volatile float extrap_part = extrap * ramp;
        a = interp_part + extrap_part;
      }
      const double c = std::cos(double(a)) * p.mscale, s = std::sin(double(a)) * p.mscale;
      for (int h = 0; h < nh; ++h) {
        const size_t b = (size_t(t) * nh + h) * head_dim;
        const size_t i0 = b + (neox ? i : 2 * i), i1 = b + (neox ? i + half : 2 * i + 1);
        const double x0 = qv[i0], x1 = qv[i1];
        want[i0] = x0 * c - x1 * s;
        want[i1] = x0 * s + x1 * c;
        const double m = 16 * kU32 * p.mscale * (std::fabs(x0) + std::fabs(x1));
        tol[i0] = UnitRoundoff(act) * std::fabs(want[i0]) + m + SubnormalFloor(act);
        tol[i1] = UnitRoundoff(act) * std::fabs(want[i1]) + m + SubnormalFloor(act);
      }
      theta *= p.theta_scale;
    }
    for (int h = 0; h < nh; ++h) {  // dims past n_rot: untouched
      for (int e = n_rot; e < head_dim; ++e) tol[(size_t(t) * nh + h) * head_dim + e] = 0.0;
    }
  }
  char shape[96];
  std::snprintf(shape, sizeof(shape), "%s %s n_rot %d hd %d ext %g attn %g (mscale %.4f)",
                Name(act), neox ? "neox" : "normal", n_rot, head_dim, ext_factor, attn_factor,
                p.mscale);
  Compare("rope yarn q", shape, Download(q, qv.size(), act), want, tol);
}

void CheckMoeRoute(int rows, int E, int k, bool normalize) {
  std::vector<float> x(size_t(rows) * E);
  for (int r = 0; r < rows; ++r) {  // distinct logits 0.05 apart (no near-ties), shuffled
    std::vector<int> perm(E);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), Rng());
    for (int e = 0; e < E; ++e) x[size_t(r) * E + e] = static_cast<float>(0.05 * perm[e] - 2);
  }
  for (int e = 0; e < E; ++e) x[e] = 0.f;                    // row 0: all equal (lower ids win)
  for (int e = 0; e < E; ++e) x[size_t(E) + e] = -INFINITY;  // row 1: all masked (weights 0)
  Dev xd, w(size_t(rows) * k * 4), ids(size_t(rows) * k * 4);
  UploadVec(xd, x);
  w.Poison();
  ids.Poison();
  kernels::MoeRouteParams p;
  p.logits = xd.as<float>(), p.logits_stride = E, p.weights = w.as<float>(), p.weights_stride = k;
  p.ids = ids.as<int32_t>(), p.rows = rows, p.n_experts = E, p.k = k, p.normalize = normalize;
  CheckLaunch(kernels::LaunchMoeRoute(p, nullptr), "moe route");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<int32_t> got_ids(size_t(rows) * k);
  ids.Download(got_ids.data(), got_ids.size() * 4);
  std::vector<double> want(size_t(rows) * k), tol(want.size());
  size_t id_bad = 0;
  for (int r = 0; r < rows; ++r) {
    const float* xr = &x[size_t(r) * E];
    const double mx = *std::max_element(xr, xr + E);
    std::vector<double> pr(E, 0.0);
    double sum = 0;
    for (int e = 0; e < E && mx != -INFINITY; ++e) sum += pr[e] = std::exp(xr[e] - mx);
    for (int e = 0; e < E && sum > 0; ++e) pr[e] /= sum;
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return pr[a] > pr[b]; });
    double ks = 0;
    for (int s = 0; s < k; ++s) ks += pr[order[s]];
    for (int s = 0; s < k; ++s) {
      const size_t i = size_t(r) * k + s;
      id_bad += got_ids[i] != order[s];
      want[i] = normalize ? pr[order[s]] / std::max(ks, 6.103515625e-5) : pr[order[s]];
      tol[i] = 32 * kU32 * want[i] + 1e-30;
    }
  }
  char shape[64];
  std::snprintf(shape, sizeof(shape), "%d rows x %d experts, top %d%s", rows, E, k,
                normalize ? " normalized" : "");
  Report("moe route ids", shape, id_bad == 0,
         id_bad == 0 ? "exact" : std::to_string(id_bad) + " ids differ");
  Compare("moe route weights", shape, Download(w, want.size(), DType::kF32), want, tol);
}

// Expert weights [E, N, K] of type t in the device layout (Q8_0/Q6_K planar over E * N rows).
std::vector<double> UploadExperts(Dev& d, DType t, int E, int N, int K) {
  const HostWeights w = RandomWeights(t, int64_t(E) * N, K);
  if (t == DType::kQ8_0) {
    std::vector<uint8_t> planar(kernels::Q8_0PlanarBytes(int64_t(E) * N, K));
    kernels::RepackQ8_0ToPlanar(w.bytes.data(), int64_t(E) * N, K, planar.data());
    UploadVec(d, planar);
  } else if (t == DType::kQ6_K) {
    std::vector<uint8_t> planar(kernels::Q6KPlanar(int64_t(E) * N, K).bytes);
    kernels::RepackQ6_KToPlanar(w.bytes.data(), int64_t(E) * N, K, planar.data());
    UploadVec(d, planar);
  } else {
    UploadVec(d, w.bytes);
  }
  return w.values;
}

void CheckExpertGemv(DType t, int E, int tokens, int top_k, bool per_slot) {
  const int K = 512, ldx = K + 4;
  const int n_out[2] = {101, 64};  // a column tail; two products (gate and up) in one launch
  const int R = tokens * top_k;
  Dev x, ids_d, ws(kernels::ExpertWorkspaceBytes(E, R));
  const std::vector<double> xv = RandomF32(x, size_t(per_slot ? R : tokens) * ldx, 1.0);
  // Each token: top_k distinct experts (a shuffled prefix); a token's last slot of row 0 gets an
  // id out of range when there is more than one slot (its row must come out 0).
  std::vector<int32_t> ids(R);
  for (int t0 = 0; t0 < tokens; ++t0) {
    std::vector<int32_t> perm(E);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), Rng());
    for (int s = 0; s < top_k; ++s) ids[size_t(t0) * top_k + s] = perm[s];
  }
  if (top_k > 1) ids[top_k - 1] = E;
  UploadVec(ids_d, ids);
  Dev w[2], y[2];
  std::vector<double> wv[2];
  kernels::ExpertGemvParams p;
  for (int o = 0; o < 2; ++o) {
    wv[o] = UploadExperts(w[o], t, E, n_out[o], K);
    y[o].Resize(size_t(R) * (n_out[o] + 3) * 4);
    y[o].Poison();
    p.out[o].w = w[o].as(), p.out[o].y = y[o].as<float>(), p.out[o].ldy = n_out[o] + 3;
    p.out[o].n = n_out[o];
  }
  p.num_outputs = 2;
  p.x = x.as<float>(), p.ldx = ldx, p.x_per_slot = per_slot, p.ids = ids_d.as<int32_t>();
  p.tokens = tokens, p.top_k = top_k, p.n_experts = E, p.k = K, p.w_dtype = t;
  p.workspace = ws.as();
  CheckLaunch(kernels::LaunchExpertGemv(p, nullptr), "expert gemv");
  GPU_CHECK(cudaDeviceSynchronize());
  char shape[96];
  std::snprintf(shape, sizeof(shape), "%s E %d tokens %d top %d K %d x %s", Name(t), E, tokens,
                top_k, K, per_slot ? "per slot" : "per token");
  for (int o = 0; o < 2; ++o) {
    const int N = n_out[o], ldy = N + 3;
    const std::vector<double> got_all = Download(y[o], size_t(R) * ldy, DType::kF32);
    std::vector<double> got, want, abs_sum;
    for (int r = 0; r < R; ++r) {
      const double* xr = &xv[size_t(per_slot ? r : r / top_k) * ldx];
      for (int n = 0; n < N; ++n) {
        got.push_back(got_all[size_t(r) * ldy + n]);
        double s = 0, a = 0;
        if (ids[r] >= 0 && ids[r] < E) {
          const double* wr = &wv[o][(size_t(ids[r]) * N + n) * K];
          for (int c = 0; c < K; ++c) s += xr[c] * wr[c], a += std::fabs(xr[c] * wr[c]);
        }
        want.push_back(s);
        abs_sum.push_back(a);
      }
    }
    Compare(o == 0 ? "expert gemv (out 0)" : "expert gemv (out 1)", shape, got, want,
            DotTol(want, abs_sum, K, DType::kF32));
  }
}

void CheckMoeCombine(int rows, int k, int dim) {
  Dev y, w, res;
  const std::vector<double> yv = RandomF32(y, size_t(rows) * k * dim, 1.0);
  const std::vector<double> wv = RandomF32(w, size_t(rows) * k, 0.5);
  const std::vector<double> rv = RandomF32(res, size_t(rows) * dim, 1.0);
  kernels::MoeCombineParams p;
  p.y = y.as<float>(), p.y_stride = dim, p.weights = w.as<float>(), p.weights_stride = k;
  p.residual = res.as<float>(), p.residual_stride = dim, p.out = res.as<float>();  // in place
  p.out_stride = dim, p.rows = rows, p.k = k, p.dim = dim;
  CheckLaunch(kernels::LaunchMoeCombine(p, nullptr), "moe combine");
  GPU_CHECK(cudaDeviceSynchronize());
  std::vector<double> want(rv.size()), tol(rv.size());
  for (int t = 0; t < rows; ++t) {
    for (int d = 0; d < dim; ++d) {
      double s = 0, a = 0;
      for (int j = 0; j < k; ++j) {
        const double v = wv[size_t(t) * k + j] * yv[(size_t(t) * k + j) * dim + d];
        s += v, a += std::fabs(v);
      }
      const size_t e = size_t(t) * dim + d;
      want[e] = s + rv[e];
      tol[e] = 2 * (k + 2) * kU32 * (a + std::fabs(rv[e])) + 1e-30;
    }
  }
  char shape[48];
  std::snprintf(shape, sizeof(shape), "%d rows x top %d, dim %d (in place)", rows, k, dim);
  Compare("moe combine", shape, Download(res, want.size(), DType::kF32), want, tol);
}

}  // namespace

void RunFamilyTests(bool check, bool bench) {
  (void)bench;  // correctness only: these kernels move little data next to the GEMMs
  if (!check) return;
  for (int hd : {64, 128}) {
    CheckNorm(7, 5, hd, false);  // q/k norm: 5 heads per row
    CheckNorm(3, 2, hd, false);
  }
  CheckNorm(5, 1, 1000, true);
  CheckNorm(2, 1, 4096, true);
  for (DType t : {DType::kF32, DType::kF16, DType::kBF16}) CheckGeGlu(t, 9, 1000);
  CheckScaledEmbedding(DType::kF16, 1000, 512, 17);
  CheckScaledEmbedding(DType::kBF16, 1000, 2304, 5);
  CheckSoftcap(3, 1000, 5.f);
  CheckSoftcap(2, 32000, 30.f);
  for (DType act : {DType::kF32, DType::kF16}) {
    CheckRopeYarn(act, false, 128, 128, 1.f, 1.f);      // YaRN
    CheckRopeYarn(act, true, 64, 128, 1.f, 0.9f);       // YaRN, NeoX, partial rotation
    CheckRopeYarn(act, true, 96, 96 + 32, 0.f, 1.19f);  // magnitude only (Phi-3 longrope)
  }
  for (int E : {7, 8, 60, 128}) {
    for (int k : {1, 2, 8}) {
      if (k > E) continue;
      CheckMoeRoute(37, E, k, true);
      CheckMoeRoute(5, E, k, false);
    }
  }
  for (DType t : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K}) {
    CheckExpertGemv(t, 5, 1, 1, false);   // batch 1, top 1: four experts unselected
    CheckExpertGemv(t, 9, 3, 2, false);   // odd expert count, an out-of-range id
    CheckExpertGemv(t, 9, 16, 8, false);  // 128 rows: several 8-row passes per expert
    CheckExpertGemv(t, 7, 5, 2, true);    // per-slot inputs (the down projection)
  }
  CheckMoeCombine(13, 2, 1000);
  CheckMoeCombine(3, 8, 2048);
}

}  // namespace phx::gpu_test
