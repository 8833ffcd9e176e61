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
  std::vector<double> y(static_cast<size_t>(M * D));
  for (int64_t m = 0; m < M; ++m) {
    double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += x[m * D + i] * x[m * D + i];
    const double scale = 1.0 / std::sqrt(ss / D + eps);
    for (int64_t i = 0; i < D; ++i) y[m * D + i] = x[m * D + i] * scale * w[i];
  }
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

void Rope(std::span<double> x, int64_t T, int64_t head_dim, std::span<const int32_t> positions,
          const RopeParams& p) {
  const int64_t width = static_cast<int64_t>(x.size()) / std::max<int64_t>(T, 1);
  const int64_t heads = width / head_dim;
  const int64_t half = p.n_rot / 2;
  for (int64_t t = 0; t < T; ++t) {
    const std::vector<float> angles = RopeAngles(positions[t], p);
    for (int64_t h = 0; h < heads; ++h) {
      double* v = x.data() + t * width + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t i0 = p.mode == RopeMode::kNormal ? 2 * i : i;
        const int64_t i1 = p.mode == RopeMode::kNormal ? 2 * i + 1 : i + half;
        const double c = std::cos(static_cast<double>(angles[i]));
        const double s = std::sin(static_cast<double>(angles[i]));
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
                              const AttentionBatch& batch, int64_t n_heads, double scale) {
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
      const int64_t pos = kv_len - nq + j;  // attends to 0..pos
      for (int64_t h = 0; h < n_heads; ++h) {
        const double* qv = q.data() + (q0 + j) * width + h * hd;
        const int64_t kvh = h / group;
        std::vector<double> sc(static_cast<size_t>(pos + 1));
        double mx = -INFINITY;
        for (int64_t p = 0; p <= pos; ++p) {
          const double* kr = cache.k.data() + cache.Index(slot[p], kvh);
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += qv[i] * kr[i];
          sc[p] = d * scale;
          mx = std::max(mx, sc[p]);
        }
        double sum = 0;
        for (auto& e : sc) sum += (e = std::exp(e - mx));
        double* o = out.data() + (q0 + j) * width + h * hd;
        for (int64_t p = 0; p <= pos; ++p) {
          const double* vr = cache.v.data() + cache.Index(slot[p], kvh);
          for (int64_t i = 0; i < hd; ++i) o[i] += sc[p] / sum * vr[i];
        }
      }
    }
  }
  return out;
}

std::vector<double> SwiGlu(std::span<const double> gate, std::span<const double> up) {
  std::vector<double> out(gate.size());
  for (size_t i = 0; i < gate.size(); ++i) out[i] = gate[i] / (1.0 + std::exp(-gate[i])) * up[i];
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
