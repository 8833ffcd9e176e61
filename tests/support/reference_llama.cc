#include "tests/support/reference_llama.h"

#include <cmath>
#include <stdexcept>

#include "base/dtype.h"
#include "base/strings.h"

namespace phx::testing {
namespace {

using Vec = std::vector<double>;

Vec MatVec(const Vec& w, int64_t rows, int64_t cols, const Vec& x) {
  Vec y(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += w[r * cols + c] * x[c];
    y[r] = s;
  }
  return y;
}

Vec RmsNorm(const Vec& x, const Vec& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / x.size() + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

void Rope(Vec& x, int64_t heads, int64_t hd, int64_t n_rot, int64_t pos, double base,
          double freq_scale, bool neox, const Vec& factors) {
  for (int64_t h = 0; h < heads; ++h) {
    double* v = x.data() + h * hd;
    for (int64_t i = 0; i < n_rot / 2; ++i) {
      double theta = pos * freq_scale * std::pow(base, -2.0 * i / n_rot);
      if (!factors.empty()) theta /= factors[i];
      const double c = std::cos(theta), s = std::sin(theta);
      const int64_t a = neox ? i : 2 * i;
      const int64_t b = neox ? i + n_rot / 2 : 2 * i + 1;
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

}  // namespace

ReferenceLlama::ReferenceLlama(const gguf::File& file, const model::ModelConfig& config)
    : f_(file), c_(config) {}

std::vector<double> ReferenceLlama::Matrix(const std::string& name, int64_t* rows,
                                           int64_t* cols) const {
  const gguf::TensorInfo* t = f_.FindTensor(name);
  if (t == nullptr) throw std::runtime_error("missing tensor " + name);
  *cols = t->dims[0];
  *rows = t->dims.size() > 1 ? t->dims[1] : 1;
  const uint64_t row_bytes = *RowBytes(t->type, static_cast<uint64_t>(*cols));
  std::vector<float> row(static_cast<size_t>(*cols));
  Vec out(static_cast<size_t>(*rows * *cols));
  for (int64_t r = 0; r < *rows; ++r) {
    DequantizeRow(t->type, t->data + r * row_bytes, row.data(), *cols);
    for (int64_t c = 0; c < *cols; ++c) out[r * *cols + c] = row[c];
  }
  return out;
}

std::vector<double> ReferenceLlama::Vector(const std::string& name) const {
  int64_t r, c;
  return Matrix(name, &r, &c);
}

std::vector<std::vector<double>> ReferenceLlama::Logits(const std::vector<int32_t>& tokens) const {
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t D = c_.n_embd, H = c_.n_head, KVH = c_.n_head_kv, hd = c_.head_dim;
  const bool neox = c_.rope_type == model::RopeType::kNeox;
  const double freq_scale =
      c_.rope_scaling == model::RopeScaling::kLinear ? 1.0 / c_.rope_scale_factor : 1.0;
  Vec factors;
  if (c_.has_rope_freq_factors) factors = Vector("rope_freqs.weight");
  int64_t rows, cols;
  const Vec emb = Matrix("token_embd.weight", &rows, &cols);
  std::vector<Vec> x(T);
  for (int64_t t = 0; t < T; ++t)
    x[t] = Vec(emb.begin() + tokens[t] * D, emb.begin() + (tokens[t] + 1) * D);

  for (int64_t l = 0; l < c_.n_layer; ++l) {
    const std::string p = StrCat("blk.", l, ".");
    int64_t qr, kr, vr, orr, gr, ur, dr, cc;
    const Vec attn_norm = Vector(p + "attn_norm.weight"), ffn_norm = Vector(p + "ffn_norm.weight");
    const Vec wq = Matrix(p + "attn_q.weight", &qr, &cc),
              wk = Matrix(p + "attn_k.weight", &kr, &cc);
    const Vec wv = Matrix(p + "attn_v.weight", &vr, &cc),
              wo = Matrix(p + "attn_output.weight", &orr, &cc);
    const Vec wg = Matrix(p + "ffn_gate.weight", &gr, &cc),
              wu = Matrix(p + "ffn_up.weight", &ur, &cc);
    const Vec wd = Matrix(p + "ffn_down.weight", &dr, &cc);
    Vec bq, bk, bv;
    if (c_.qkv_bias) {
      bq = Vector(p + "attn_q.bias");
      bk = Vector(p + "attn_k.bias");
      bv = Vector(p + "attn_v.bias");
    }
    std::vector<Vec> q(T), k(T), v(T);
    for (int64_t t = 0; t < T; ++t) {
      const Vec h = RmsNorm(x[t], attn_norm, c_.rms_eps);
      q[t] = MatVec(wq, qr, D, h);
      k[t] = MatVec(wk, kr, D, h);
      v[t] = MatVec(wv, vr, D, h);
      for (size_t i = 0; i < bq.size(); ++i) q[t][i] += bq[i];
      for (size_t i = 0; i < bk.size(); ++i) k[t][i] += bk[i];
      for (size_t i = 0; i < bv.size(); ++i) v[t][i] += bv[i];
      Rope(q[t], H, hd, c_.n_rot, t, c_.rope_freq_base, freq_scale, neox, factors);
      Rope(k[t], KVH, hd, c_.n_rot, t, c_.rope_freq_base, freq_scale, neox, factors);
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    for (int64_t t = 0; t < T; ++t) {
      Vec attn(H * hd, 0.0);
      for (int64_t h = 0; h < H; ++h) {
        const int64_t kh = h / (H / KVH);
        Vec s(t + 1);
        double mx = -1e300;
        for (int64_t j = 0; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[t][h * hd + i] * k[j][kh * hd + i];
          s[j] = d * scale;
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= t; ++j) {
          for (int64_t i = 0; i < hd; ++i) attn[h * hd + i] += s[j] / z * v[j][kh * hd + i];
        }
      }
      const Vec o = MatVec(wo, D, H * hd, attn);
      for (int64_t i = 0; i < D; ++i) x[t][i] += o[i];
      const Vec h2 = RmsNorm(x[t], ffn_norm, c_.rms_eps);
      Vec g = MatVec(wg, gr, D, h2);
      const Vec u = MatVec(wu, ur, D, h2);
      for (int64_t i = 0; i < gr; ++i) g[i] = g[i] / (1.0 + std::exp(-g[i])) * u[i];
      const Vec d = MatVec(wd, D, gr, g);
      for (int64_t i = 0; i < D; ++i) x[t][i] += d[i];
    }
  }
  const Vec out_norm = Vector("output_norm.weight");
  const Vec out = Matrix(c_.tied_output ? "token_embd.weight" : "output.weight", &rows, &cols);
  std::vector<Vec> logits(T);
  for (int64_t t = 0; t < T; ++t)
    logits[t] = MatVec(out, rows, D, RmsNorm(x[t], out_norm, c_.rms_eps));
  return logits;
}

}  // namespace phx::testing
