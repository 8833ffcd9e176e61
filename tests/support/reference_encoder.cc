#include "tests/support/reference_encoder.h"

#include <cmath>
#include <stdexcept>

#include "base/dtype.h"
#include "base/strings.h"

namespace phx::testing {
namespace {

using Vec = std::vector<double>;

Vec Linear(const Vec& w, const Vec& b, int64_t rows, int64_t cols, const Vec& x) {
  Vec y(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double s = b.empty() ? 0.0 : b[r];
    for (int64_t c = 0; c < cols; ++c) s += w[r * cols + c] * x[c];
    y[r] = s;
  }
  return y;
}

Vec LayerNorm(const Vec& x, const Vec& w, const Vec& b, double eps) {
  const double n = static_cast<double>(x.size());
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= n;
  for (double v : x) var += (v - mean) * (v - mean);
  const double inv = 1.0 / std::sqrt(var / n + eps);
  Vec y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = (x[i] - mean) * inv * w[i] + b[i];
  return y;
}

double Gelu(double g) {
  return 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g)));
}

}  // namespace

Vec ReferenceEncoder::Tensor(const std::string& name, int64_t* rows, int64_t* cols) const {
  const gguf::TensorInfo* t = f_.FindTensor(name);
  if (t == nullptr) throw std::runtime_error("missing tensor " + name);
  if (IsQuantized(t->type)) throw std::runtime_error("quantized tensor " + name);
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

Vec ReferenceEncoder::Vector(const std::string& name) const {
  int64_t r, c;
  return Tensor(name, &r, &c);
}

std::vector<Vec> ReferenceEncoder::Hidden(const std::vector<int32_t>& tokens) const {
  const int64_t T = static_cast<int64_t>(tokens.size()), D = c_.n_embd, H = c_.n_head;
  const int64_t hd = c_.head_dim, F = c_.n_ff;
  const double eps = c_.norm_eps;
  int64_t r, cols;
  const Vec tok = Tensor("token_embd.weight", &r, &cols);
  const Vec pos = Tensor("position_embd.weight", &r, &cols);
  Vec types;
  if (f_.FindTensor("token_types.weight") != nullptr)
    types = Tensor("token_types.weight", &r, &cols);
  const Vec en_w = Vector("token_embd_norm.weight"), en_b = Vector("token_embd_norm.bias");
  std::vector<Vec> x(T);
  for (int64_t t = 0; t < T; ++t) {
    Vec e(static_cast<size_t>(D));
    for (int64_t i = 0; i < D; ++i) {
      e[i] = tok[tokens[t] * D + i] + (types.empty() ? 0.0 : types[i]) + pos[t * D + i];
    }
    x[t] = LayerNorm(e, en_w, en_b, eps);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  for (int64_t l = 0; l < c_.n_layer; ++l) {
    const std::string p = StrCat("blk.", l, ".");
    auto opt = [&](const std::string& n) { return f_.FindTensor(p + n) ? Vector(p + n) : Vec{}; };
    const Vec wq = Tensor(p + "attn_q.weight", &r, &cols), bq = Vector(p + "attn_q.bias");
    const Vec wk = Tensor(p + "attn_k.weight", &r, &cols), bk = Vector(p + "attn_k.bias");
    const Vec wv = Tensor(p + "attn_v.weight", &r, &cols), bv = Vector(p + "attn_v.bias");
    const Vec wo = Tensor(p + "attn_output.weight", &r, &cols), bo = opt("attn_output.bias");
    const Vec wu = Tensor(p + "ffn_up.weight", &r, &cols), bu = opt("ffn_up.bias");
    const Vec wd = Tensor(p + "ffn_down.weight", &r, &cols), bd = opt("ffn_down.bias");
    const Vec n1w = Vector(p + "attn_output_norm.weight"),
              n1b = Vector(p + "attn_output_norm.bias");
    const Vec n2w = Vector(p + "layer_output_norm.weight");
    const Vec n2b = Vector(p + "layer_output_norm.bias");
    std::vector<Vec> q(T), k(T), v(T);
    for (int64_t t = 0; t < T; ++t) {
      q[t] = Linear(wq, bq, H * hd, D, x[t]);
      k[t] = Linear(wk, bk, H * hd, D, x[t]);
      v[t] = Linear(wv, bv, H * hd, D, x[t]);
    }
    std::vector<Vec> next(T);
    for (int64_t t = 0; t < T; ++t) {
      const int64_t last = c_.causal ? t : T - 1;  // the keys this token sees: 0..last
      Vec attn(static_cast<size_t>(H * hd), 0.0);
      for (int64_t h = 0; h < H; ++h) {
        Vec s(static_cast<size_t>(last + 1));
        double mx = -1e300;
        for (int64_t j = 0; j <= last; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[t][h * hd + i] * k[j][h * hd + i];
          s[j] = d * scale;
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= last; ++j) {
          for (int64_t i = 0; i < hd; ++i) attn[h * hd + i] += s[j] / z * v[j][h * hd + i];
        }
      }
      Vec a = Linear(wo, bo, D, H * hd, attn);
      for (int64_t i = 0; i < D; ++i) a[i] += x[t][i];
      const Vec y = LayerNorm(a, n1w, n1b, eps);
      Vec u = Linear(wu, bu, F, D, y);
      for (double& e : u) e = Gelu(e);
      Vec o = Linear(wd, bd, D, F, u);
      for (int64_t i = 0; i < D; ++i) o[i] += y[i];
      next[t] = LayerNorm(o, n2w, n2b, eps);
    }
    x = std::move(next);
  }
  return x;
}

}  // namespace phx::testing
