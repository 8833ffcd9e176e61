#include "ops/reference/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/dtype.h"

namespace phx::ops::ref {

std::vector<double> ToDouble(const Tensor& t) {
  const int64_t rows = t.rows(), cols = t.cols();
  std::vector<double> out(static_cast<size_t>(rows * cols));
  if (cols == 0) return out;
  std::vector<float> tmp(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = t.row(r);
    double* dst = out.data() + r * cols;
    if (t.dtype == DType::kI32) {
      for (int64_t c = 0; c < cols; ++c) {
        int32_t v;
        std::memcpy(&v, src + 4 * c, 4);
        dst[c] = v;
      }
      continue;
    }
    if (!DequantizeRow(t.dtype, src, tmp.data(), cols)) {
      std::fill(dst, dst + cols, std::nan(""));
      continue;
    }
    for (int64_t c = 0; c < cols; ++c) dst[c] = tmp[c];
  }
  return out;
}

std::vector<float> ToFloat(std::span<const double> v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = static_cast<float>(v[i]);
  return out;
}

std::vector<double> QuantizeDequantizeQ8_0(std::span<const float> x) {
  std::vector<double> out(x.size());
  for (size_t b = 0; b + kQK8_0 <= x.size(); b += kQK8_0) {
    float amax = 0.f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127.f;
    const float id = amax != 0.f ? 127.f / amax : 0.f;
    const double dq = F16ToF32(F32ToF16(d));
    for (int j = 0; j < kQK8_0; ++j) out[b + j] = std::nearbyint(x[b + j] * id) * dq;
  }
  return out;
}

std::vector<double> QuantizeDequantizeQ8_K(std::span<const float> x) {
  std::vector<double> out(x.size(), 0.0);
  for (size_t b = 0; b + kQK_K <= x.size(); b += kQK_K) {
    float amax = 0.f, max = 0.f;
    for (int j = 0; j < kQK_K; ++j) {
      if (std::fabs(x[b + j]) > amax) {
        amax = std::fabs(x[b + j]);
        max = x[b + j];
      }
    }
    if (amax == 0.f) continue;
    const float iscale = -127.f / max;
    const float d = 1.f / iscale;
    for (int j = 0; j < kQK_K; ++j) {
      const float q = std::min(127.f, std::nearbyint(iscale * x[b + j]));
      out[b + j] = static_cast<double>(q) * d;
    }
  }
  return out;
}

std::vector<double> Matmul(std::span<const double> x, std::span<const double> w,
                           std::span<const double> bias, int64_t M, int64_t N, int64_t K) {
  std::vector<double> y(static_cast<size_t>(M * N));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double s = bias.empty() ? 0.0 : bias[n];
      for (int64_t k = 0; k < K; ++k) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
  }
  return y;
}

std::vector<double> RmsNorm(std::span<const double> x, std::span<const double> w, int64_t M,
                            int64_t D, double eps) {
  const int64_t G = static_cast<int64_t>(w.size());
  std::vector<double> y(static_cast<size_t>(M * D));
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t g0 = 0; g0 < D; g0 += G) {
      const double* xr = x.data() + m * D + g0;
      double ss = 0;
      for (int64_t i = 0; i < G; ++i) ss += xr[i] * xr[i];
      const double scale = 1.0 / std::sqrt(ss / G + eps);
      for (int64_t i = 0; i < G; ++i) y[m * D + g0 + i] = xr[i] * scale * w[i];
    }
  }
  return y;
}

std::vector<double> PostNormAdd(std::span<const double> residual, std::span<const double> x,
                                std::span<const double> w, int64_t M, int64_t D, double eps) {
  std::vector<double> y = RmsNorm(x, w, M, D, eps);
  for (size_t i = 0; i < y.size(); ++i) y[i] += residual[i];
  return y;
}

std::vector<float> RopeAngles(int32_t pos, const RopeParams& p) {
  const int32_t pairs = p.n_rot / 2;
  std::vector<float> angles(static_cast<size_t>(pairs));
  const float theta_scale = powf(p.freq_base, -2.0f / static_cast<float>(p.n_rot));
  float theta = static_cast<float>(pos);
  for (int32_t i = 0; i < pairs; ++i) {
    const float ff = p.freq_factors != nullptr ? p.freq_factors[i] : 1.0f;
    angles[i] = p.freq_scale * (theta / ff);
    theta *= theta_scale;
  }
  return angles;
}

std::vector<std::pair<double, double>> RopeCosSin(int32_t pos, const RopeParams& p) {
  const std::vector<float> extrap = RopeAngles(pos, RopeParams{.mode = p.mode,
                                                               .n_rot = p.n_rot,
                                                               .freq_base = p.freq_base,
                                                               .freq_scale = 1.f,
                                                               .freq_factors = p.freq_factors});
  // YaRN's correction range (ggml_rope_yarn_corr_dims) in f32.
  auto corr_dim = [&](float beta) {
    return static_cast<float>(p.n_rot) *
           logf(static_cast<float>(p.n_ctx_orig) / (beta * 2 * static_cast<float>(M_PI))) /
           (2 * logf(p.freq_base));
  };
  const float lo = std::max(0.f, floorf(corr_dim(p.beta_fast)));
  const float hi = std::min(static_cast<float>(p.n_rot - 1), ceilf(corr_dim(p.beta_slow)));
  std::vector<std::pair<double, double>> out(extrap.size());
  for (size_t i = 0; i < extrap.size(); ++i) {
    const float theta_extrap = extrap[i];
    const float theta_interp = p.freq_scale * theta_extrap;
    float theta = theta_interp, mscale = p.attn_factor;
    if (p.ext_factor != 0.f) {
      const float y = (static_cast<float>(i) - lo) / std::max(0.001f, hi - lo);
      const float ramp = (1 - std::min(1.f, std::max(0.f, y))) * p.ext_factor;
      theta = theta_interp * (1 - ramp) + theta_extrap * ramp;
      mscale *= 1.0f + 0.1f * logf(1.0f / p.freq_scale);
    }
    out[i] = {std::cos(static_cast<double>(theta)) * mscale,
              std::sin(static_cast<double>(theta)) * mscale};
  }
  return out;
}

void Rope(std::span<double> x, int64_t T, int64_t head_dim, std::span<const int32_t> positions,
          const RopeParams& p) {
  const int64_t width = static_cast<int64_t>(x.size()) / std::max<int64_t>(T, 1);
  const int64_t heads = width / head_dim;
  const int64_t half = p.n_rot / 2;
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<std::pair<double, double>> cs = RopeCosSin(positions[t], p);
    for (int64_t h = 0; h < heads; ++h) {
      double* v = x.data() + t * width + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t i0 = p.mode == RopeMode::kNormal ? 2 * i : i;
        const int64_t i1 = p.mode == RopeMode::kNormal ? 2 * i + 1 : i + half;
        const double c = cs[i].first, s = cs[i].second;
        const double x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
      }
    }
  }
}

void WriteKv(std::span<const double> k, std::span<const double> v, std::span<const int32_t> slots,
             KvCache& cache) {
  const int64_t width = cache.n_kv_heads * cache.head_dim;
  for (size_t t = 0; t < slots.size(); ++t) {
    const int64_t base = cache.Index(slots[t], 0);
    for (int64_t i = 0; i < width; ++i) {
      cache.k[base + i] = k[t * width + i];
      cache.v[base + i] = v[t * width + i];
    }
  }
}

std::vector<double> Attention(std::span<const double> q, const KvCache& cache,
                              const AttentionBatch& batch, int64_t n_heads, double scale,
                              double softcap, int64_t window) {
  const int64_t hd = cache.head_dim;
  const int64_t group = n_heads / cache.n_kv_heads;
  const int64_t width = n_heads * hd;
  std::vector<double> out(q.size(), 0.0);
  for (int32_t s = 0; s < batch.num_seqs(); ++s) {
    const int64_t kv_len = batch.kv_len(s);
    const int64_t q0 = batch.q_indptr[s], nq = batch.q_indptr[s + 1] - q0;
    std::vector<int64_t> slot(static_cast<size_t>(kv_len));
    for (int64_t p = 0; p < kv_len; ++p) {
      slot[p] = static_cast<int64_t>(batch.kv_indices[batch.kv_indptr[s] + p / batch.block_size]) *
                    batch.block_size +
                p % batch.block_size;
    }
    for (int64_t j = 0; j < nq; ++j) {
      const int64_t pos = batch.causal ? kv_len - nq + j : kv_len - 1;  // attends to 0..pos
      for (int64_t h = 0; h < n_heads; ++h) {
        const double* qv = q.data() + (q0 + j) * width + h * hd;
        const int64_t kvh = h / group;
        const int64_t first = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
        std::vector<double> sc(static_cast<size_t>(pos + 1), 0.0);
        double mx = -INFINITY;
        for (int64_t p = first; p <= pos; ++p) {
          const double* kr = cache.k.data() + cache.Index(slot[p], kvh);
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += qv[i] * kr[i];
          sc[p] = d * scale;
          if (softcap > 0) sc[p] = softcap * std::tanh(sc[p] / softcap);
          mx = std::max(mx, sc[p]);
        }
        double sum = 0;
        for (int64_t p = first; p <= pos; ++p) sum += (sc[p] = std::exp(sc[p] - mx));
        double* o = out.data() + (q0 + j) * width + h * hd;
        for (int64_t p = first; p <= pos; ++p) {
          const double* vr = cache.v.data() + cache.Index(slot[p], kvh);
          for (int64_t i = 0; i < hd; ++i) o[i] += sc[p] / sum * vr[i];
        }
      }
    }
  }
  return out;
}

std::vector<double> LayerNorm(std::span<const double> x, std::span<const double> w,
                              std::span<const double> b, int64_t M, int64_t D, double eps) {
  std::vector<double> y(x.size());
  for (int64_t m = 0; m < M; ++m) {
    const double* xr = x.data() + m * D;
    double mean = 0;
    for (int64_t i = 0; i < D; ++i) mean += xr[i];
    mean /= static_cast<double>(D);
    double var = 0;
    for (int64_t i = 0; i < D; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(D);
    const double scale = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < D; ++i) y[m * D + i] = (xr[i] - mean) * scale * w[i] + b[i];
  }
  return y;
}

std::vector<double> Gelu(std::span<const double> x) {
  const double k = std::sqrt(2.0 / M_PI);
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const double g = x[i];
    // As GeGlu: g / (1 + e^(-2z)) keeps its relative accuracy where 1 + tanh z cancels.
    out[i] = g / (1.0 + std::exp(-2.0 * k * (g + 0.044715 * g * g * g)));
  }
  return out;
}

std::vector<double> SwiGlu(std::span<const double> gate, std::span<const double> up) {
  std::vector<double> out(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) out[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
  return out;
}

std::vector<double> GeGlu(std::span<const double> gate, std::span<const double> up) {
  const double k = std::sqrt(2.0 / M_PI);
  std::vector<double> out(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = gate[i];
    // 0.5 g (1 + tanh z) == g / (1 + e^(-2z)), the form that keeps its relative accuracy
    // where 1 + tanh z cancels (large negative g).
    out[i] = g / (1.0 + std::exp(-2.0 * k * (g + 0.044715 * g * g * g))) * up[i];
  }
  return out;
}

std::vector<double> Softcap(std::span<const double> x, double cap) {
  std::vector<double> out(x.size());
  for (size_t i = 0; i < x.size(); ++i) out[i] = cap * std::tanh(x[i] / cap);
  return out;
}

Routing MoeRoute(std::span<const double> logits, int64_t T, int64_t E, int64_t k, bool normalize) {
  Routing r;
  r.weights.resize(static_cast<size_t>(T * k));
  r.ids.resize(static_cast<size_t>(T * k));
  const std::vector<double> p = Softmax(logits, T, E, 1.0);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int32_t> order(static_cast<size_t>(E));
    for (int64_t e = 0; e < E; ++e) order[e] = static_cast<int32_t>(e);
    const double* pr = p.data() + t * E;
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return pr[a] > pr[b]; });
    double sum = 0;
    for (int64_t s = 0; s < k; ++s) sum += pr[order[s]];
    const double div = normalize ? std::max(sum, 6.103515625e-5) : 1.0;
    for (int64_t s = 0; s < k; ++s) {
      r.ids[t * k + s] = order[s];
      r.weights[t * k + s] = pr[order[s]] / div;
    }
  }
  return r;
}

std::vector<double> MatmulExperts(std::span<const double> x, std::span<const double> w,
                                  std::span<const int32_t> ids, int64_t T, int64_t k, int64_t N,
                                  int64_t K) {
  const bool per_slot = static_cast<int64_t>(x.size()) == T * k * K;
  std::vector<double> y(static_cast<size_t>(T * k * N));
  for (int64_t r = 0; r < T * k; ++r) {
    const double* xr = x.data() + (per_slot ? r : r / k) * K;
    const double* we = w.data() + static_cast<int64_t>(ids[r]) * N * K;
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t i = 0; i < K; ++i) s += xr[i] * we[n * K + i];
      y[r * N + n] = s;
    }
  }
  return y;
}

std::vector<double> MoeCombine(std::span<const double> y, std::span<const double> weights,
                               std::span<const double> residual, int64_t T, int64_t k, int64_t D) {
  std::vector<double> out(residual.begin(), residual.end());
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t s = 0; s < k; ++s) {
      for (int64_t i = 0; i < D; ++i) out[t * D + i] += weights[t * k + s] * y[(t * k + s) * D + i];
    }
  }
  return out;
}

std::vector<double> Add(std::span<const double> a, std::span<const double> b) {
  std::vector<double> out(a.size());
  for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + b[i];
  return out;
}

std::vector<double> Embedding(std::span<const double> table, int64_t D,
                              std::span<const int32_t> ids) {
  std::vector<double> out(ids.size() * static_cast<size_t>(D));
  for (size_t t = 0; t < ids.size(); ++t) {
    std::copy_n(table.begin() + ids[t] * D, D, out.begin() + static_cast<int64_t>(t) * D);
  }
  return out;
}

std::vector<double> Softmax(std::span<const double> x, int64_t M, int64_t N, double temperature) {
  std::vector<double> out(x.size());
  for (int64_t m = 0; m < M; ++m) {
    const double* r = x.data() + m * N;
    const double mx = *std::max_element(r, r + N);
    if (mx == -INFINITY) continue;  // every logit masked: all 0 (out starts at 0)
    double sum = 0;
    for (int64_t i = 0; i < N; ++i) sum += (out[m * N + i] = std::exp((r[i] - mx) / temperature));
    for (int64_t i = 0; i < N; ++i) out[m * N + i] /= sum;
  }
  return out;
}

void ApplyPenalties(std::span<double> logits, int64_t M, int64_t V,
                    std::span<const PenaltyRow> rows) {
  for (int64_t m = 0; m < M && m < static_cast<int64_t>(rows.size()); ++m) {
    const PenaltyRow& p = rows[m];
    for (size_t i = 0; i < p.tokens.size(); ++i) {
      const int32_t c = p.counts[i];
      if (c <= 0) continue;
      double& l = logits[m * V + p.tokens[i]];
      l = l > 0 ? l / p.repetition : l * p.repetition;
      l -= static_cast<double>(c) * p.frequency + p.presence;
    }
  }
}

}  // namespace phx::ops::ref
