#include "tests/support/reference_model.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "base/dtype.h"
#include "base/strings.h"
#include "ops/reference/reference.h"

namespace phx::testing {
namespace {

using Vec = std::vector<double>;

Vec MatVec(const double* w, int64_t rows, int64_t cols, const Vec& x) {
  Vec y(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t c = 0; c < cols; ++c) s += w[r * cols + c] * x[c];
    y[r] = s;
  }
  return y;
}
Vec MatVec(const Vec& w, int64_t rows, int64_t cols, const Vec& x) {
  return MatVec(w.data(), rows, cols, x);
}

// RMSNorm of x[off, off + n) times w[0, n).
void RmsNormInPlace(double* x, int64_t n, const Vec& w, double eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const double inv = 1.0 / std::sqrt(ss / n + eps);
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] * inv * w[i];
}
Vec RmsNorm(Vec x, const Vec& w, double eps) {
  RmsNormInPlace(x.data(), static_cast<int64_t>(x.size()), w, eps);
  return x;
}

void AddBias(Vec& x, const Vec& b) {
  for (size_t i = 0; i < b.size(); ++i) x[i] += b[i];
}

struct RopeSpec {
  bool neox = false;
  int64_t n_rot = 0;
  double base = 10000, freq_scale = 1;
  bool yarn = false;
  double orig_ctx = 0, attn_factor = 1;
  Vec factors;  // empty: none
};

// RoPE in double: theta_extrap = pos * base^(-2i/n_rot) / factor_i; YaRN mixes it with the
// interpolated freq_scale * theta_extrap by a ramp over the pair index between the correction
// dims of beta_fast = 32 and beta_slow = 1, and multiplies the magnitude by
// 1 + 0.1 ln(1 / freq_scale); attn_factor multiplies it always.
void Rope(Vec& x, int64_t heads, int64_t hd, int64_t pos, const RopeSpec& r) {
  double lo = 0, hi = 0, mag = r.attn_factor;
  if (r.yarn) {
    auto corr = [&](double beta) {
      return r.n_rot * std::log(r.orig_ctx / (beta * 2 * M_PI)) / (2 * std::log(r.base));
    };
    lo = std::max(0.0, std::floor(corr(32)));
    hi = std::min(static_cast<double>(r.n_rot - 1), std::ceil(corr(1)));
    mag *= 1 + 0.1 * std::log(1 / r.freq_scale);
  }
  for (int64_t h = 0; h < heads; ++h) {
    double* v = x.data() + h * hd;
    for (int64_t i = 0; i < r.n_rot / 2; ++i) {
      double extrap = pos * std::pow(r.base, -2.0 * i / r.n_rot);
      if (!r.factors.empty()) extrap /= r.factors[i];
      double theta = r.freq_scale * extrap;
      if (r.yarn) {
        const double ramp = 1 - std::clamp((i - lo) / std::max(0.001, hi - lo), 0.0, 1.0);
        theta = theta * (1 - ramp) + extrap * ramp;
      }
      const double c = std::cos(theta) * mag, s = std::sin(theta) * mag;
      const int64_t a = r.neox ? i : 2 * i;
      const int64_t b = r.neox ? i + r.n_rot / 2 : 2 * i + 1;
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * c - x1 * s;
      v[b] = x0 * s + x1 * c;
    }
  }
}

double Gelu(double g) {
  return 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g)));
}
double Silu(double g) { return g / (1 + std::exp(-g)); }

}  // namespace

ReferenceModel::ReferenceModel(const gguf::File& file, const model::ModelConfig& config,
                               int64_t context_length)
    : f_(file), c_(config), ctx_(context_length > 0 ? context_length : config.context_length) {}

std::vector<double> ReferenceModel::Matrix(const std::string& name, int64_t* rows,
                                           int64_t* cols) const {
  const gguf::TensorInfo* t = f_.FindTensor(name);
  if (t == nullptr) throw std::runtime_error("missing tensor " + name);
  *cols = t->dims[0];
  *rows = 1;
  for (size_t i = 1; i < t->dims.size(); ++i) *rows *= t->dims[i];
  const uint64_t row_bytes = *RowBytes(t->type, static_cast<uint64_t>(*cols));
  std::vector<float> row(static_cast<size_t>(*cols));
  Vec out(static_cast<size_t>(*rows * *cols));
  for (int64_t r = 0; r < *rows; ++r) {
    DequantizeRow(t->type, t->data + r * row_bytes, row.data(), *cols);
    for (int64_t c = 0; c < *cols; ++c) out[r * *cols + c] = row[c];
  }
  return out;
}

DType ReferenceModel::Type(const std::string& name) const {
  const gguf::TensorInfo* t = f_.FindTensor(name);
  if (t == nullptr) throw std::runtime_error("missing tensor " + name);
  return t->type;
}

std::vector<double> ReferenceModel::Vector(const std::string& name) const {
  int64_t r, c;
  return Matrix(name, &r, &c);
}

// The activation row an integer-dot matmul sees for a weight of type t, as llama.cpp defines
// it (the type's vec_dot_type): Q8_0 blocks for the 32-element types (Q8_1 for Q4_1/Q5_1
// rounds the same values), Q8_K blocks for the k-quants and IQ4_XS, bf16-rounded values for
// BF16 weights where the backend multiplies bf16 activations (`bf16_acts_`: AVX-512 BF16), the
// values themselves (rounded to f32) for other float weights. Each rounding that sits within
// kAmbiguous (relative) of its boundary is recorded in ambiguous_, and rounded the other way
// when it is one of flips_.
std::vector<double> ReferenceModel::Input(const std::vector<double>& x, DType t,
                                          const char* input) const {
  enum Kind { kExact, kQ8_0, kQ8_K, kBf16 } kind = kExact;
  switch (t) {
    case DType::kQ8_0:
    case DType::kQ4_0:
    case DType::kQ4_1:
    case DType::kQ5_0:
    case DType::kQ5_1:
    case DType::kIQ4_NL:
    case DType::kMXFP4:
      kind = kQ8_0;
      break;
    case DType::kQ2_K:
    case DType::kQ3_K:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K:
    case DType::kIQ4_XS:
      kind = kQ8_K;
      break;
    case DType::kBF16:
      kind = bf16_acts_ ? kBf16 : kExact;
      break;
    default:
      break;
  }
  if (kind == kExact) return x;
  const std::vector<float> f(x.begin(), x.end());
  // Whether the rounding of `index` (-1 - b: block b's f16 scale), `dist` (relative) from its
  // boundary, is to be flipped.
  auto flip = [&](int64_t index, double dist) {
    if (!(dist < kAmbiguous)) return false;
    const Rounding r{at_layer_, at_pos_, input, index, dist};
    auto same = [&](const Rounding& o) {
      return o.layer == r.layer && o.pos == r.pos && o.input == r.input && o.index == r.index;
    };
    if (std::none_of(ambiguous_.begin(), ambiguous_.end(), same)) ambiguous_.push_back(r);
    return std::any_of(flips_.begin(), flips_.end(), same);
  };
  const int64_t n = static_cast<int64_t>(x.size());
  Vec r(x.size());
  if (kind == kBf16) {
    for (int64_t i = 0; i < n; ++i) {
      r[i] = BF16ToF32(F32ToBF16(f[i]));
      if (x[i] == 0) continue;
      int e;
      std::frexp(x[i], &e);
      const double ulp = std::ldexp(1.0, e - 8), lo = std::floor(x[i] / ulp) * ulp;
      if (flip(i, std::fabs(x[i] - (lo + ulp / 2)) / std::fabs(x[i]))) {
        r[i] += r[i] > x[i] ? -ulp : ulp;
      }
    }
    return r;
  }
  r = kind == kQ8_0 ? ops::ref::QuantizeDequantizeQ8_0(f) : ops::ref::QuantizeDequantizeQ8_K(f);
  const int64_t bs = kind == kQ8_0 ? 32 : 256;
  for (int64_t b = 0; b < n / bs; ++b) {
    float amax = 0.f, max = 0.f;
    for (int64_t j = b * bs; j < (b + 1) * bs; ++j) {
      if (std::fabs(f[j]) > amax) amax = std::fabs(f[j]), max = f[j];
    }
    if (amax == 0.f) continue;
    // The scale the reference multiplies by, and the one a value's step is divided by.
    double d = kind == kQ8_0 ? F16ToF32(F32ToF16(amax / 127.f)) : 1.f / (-127.f / max);
    if (d == 0) continue;  // an f16 scale that underflows: every value 0
    const double id = kind == kQ8_0 ? 127.f / amax : -127.f / max;
    if (kind == kQ8_0) {  // the f16 rounding of amax / 127
      const double exact = amax / 127.0;
      int e;
      std::frexp(exact, &e);
      const double ulp = std::ldexp(1.0, std::max(e - 11, -24));
      const double mid = std::floor(exact / ulp) * ulp + ulp / 2;
      if (flip(-1 - b, std::fabs(exact - mid) / exact)) {
        const double d2 = d > exact ? d - ulp : d + ulp;
        for (int64_t j = b * bs; j < (b + 1) * bs; ++j) r[j] = r[j] / d * d2;
        d = d2;
      }
    }
    // A value's distance from its boundary relative to the block's largest (the error of an
    // f32 activation scales with the row, not with the value).
    for (int64_t j = b * bs; j < (b + 1) * bs; ++j) {
      const double v = x[j] * id, q = std::round(r[j] / d);
      if (!flip(j, std::fabs(v - std::floor(v) - 0.5) / 127)) continue;
      const double q2 = q > v ? q - 1 : q + 1;
      if (kind == kQ8_0 || q2 <= 127) r[j] = q2 * d;
    }
  }
  return r;
}

std::vector<std::vector<double>> ReferenceModel::Logits(const std::vector<int32_t>& tokens) const {
  const std::vector<Vec> hidden = Hidden(tokens);
  const std::string out_name = c_.tied_output ? "token_embd.weight" : "output.weight";
  int64_t rows = 0, cols = 0;
  const Vec out = Matrix(out_name, &rows, &cols);
  std::vector<Vec> logits(hidden.size());
  at_layer_ = -1;
  for (size_t t = 0; t < hidden.size(); ++t) {
    at_pos_ = static_cast<int64_t>(t);
    logits[t] = MatVec(out, rows, c_.n_embd, Input(hidden[t], Type(out_name), "output"));
    if (c_.final_softcap > 0) {
      for (double& v : logits[t]) v = c_.final_softcap * std::tanh(v / c_.final_softcap);
    }
  }
  return logits;
}

std::vector<std::vector<double>> ReferenceModel::Hidden(const std::vector<int32_t>& tokens) const {
  ambiguous_.clear();
  at_layer_ = -1;
  const int64_t T = static_cast<int64_t>(tokens.size());
  const int64_t D = c_.n_embd, H = c_.n_head, KVH = c_.n_head_kv, hd = c_.head_dim;
  const int64_t QD = H * hd, KVD = KVH * hd;
  RopeSpec rope;
  rope.neox = c_.rope_type == model::RopeType::kNeox;
  rope.n_rot = c_.n_rot;
  rope.yarn = c_.rope_scaling == model::RopeScaling::kYarn;
  rope.orig_ctx = static_cast<double>(c_.rope_orig_context);
  rope.attn_factor = c_.rope_attn_factor;
  if (rope.yarn) {  // llama.cpp keeps get_mscale(factor) and cancels ggml's own YaRN gain
    const double f = c_.rope_scale_factor;
    rope.attn_factor *= (f <= 1 ? 1 : 0.1 * std::log(f) + 1) / (1 + 0.1 * std::log(f));
  }
  if (c_.has_rope_freq_factors) {
    rope.factors = Vector("rope_freqs.weight");
  } else if (c_.has_longrope_factors) {
    rope.factors = Vector(ctx_ > c_.rope_orig_context ? "rope_factors_long.weight"
                                                      : "rope_factors_short.weight");
  }
  int64_t rows, cols;
  const Vec emb = Matrix("token_embd.weight", &rows, &cols);
  std::vector<Vec> x(T);
  for (int64_t t = 0; t < T; ++t) {
    at_pos_ = t;
    x[t] = Vec(emb.begin() + tokens[t] * D, emb.begin() + (tokens[t] + 1) * D);
    for (double& e : x[t]) e *= c_.embd_scale;
  }
  auto act = [&](double g, double u) {
    return (c_.ffn_act == model::FfnAct::kGeGlu ? Gelu(g) : Silu(g)) * u;
  };

  for (int64_t l = 0; l < c_.n_layer; ++l) {
    at_layer_ = l;
    const std::string p = StrCat("blk.", l, ".");
    const model::LayerConfig& lc = c_.layers[l];
    rope.base = lc.rope_base;
    rope.freq_scale = lc.rope_freq_scale;
    int64_t r0, c0;
    const Vec attn_norm = Vector(p + "attn_norm.weight");
    Vec wqkv, wq, wk, wv, bq, bk, bv, bo, qn, kn, post_a, post_f;
    if (c_.fused_qkv) {
      wqkv = Matrix(p + "attn_qkv.weight", &r0, &c0);
    } else {
      wq = Matrix(p + "attn_q.weight", &r0, &c0);
      wk = Matrix(p + "attn_k.weight", &r0, &c0);
      wv = Matrix(p + "attn_v.weight", &r0, &c0);
    }
    if (c_.qkv_bias && !c_.fused_qkv) {
      bq = Vector(p + "attn_q.bias");
      bk = Vector(p + "attn_k.bias");
      bv = Vector(p + "attn_v.bias");
    }
    const Vec bqkv = c_.qkv_bias && c_.fused_qkv ? Vector(p + "attn_qkv.bias") : Vec{};
    const Vec wo = Matrix(p + "attn_output.weight", &r0, &c0);
    if (c_.out_bias) bo = Vector(p + "attn_output.bias");
    if (c_.qk_norm) {
      qn = Vector(p + "attn_q_norm.weight");
      kn = Vector(p + "attn_k_norm.weight");
    }
    if (c_.post_norms) {
      post_a = Vector(p + "post_attention_norm.weight");
      post_f = Vector(p + "post_ffw_norm.weight");
    }
    const Vec ffn_norm = Vector(p + "ffn_norm.weight");

    std::vector<Vec> q(T), k(T), v(T);
    auto type = [&](const char* name) { return Type(p + name); };
    for (int64_t t = 0; t < T; ++t) {
      at_pos_ = t;
      const Vec h = RmsNorm(x[t], attn_norm, c_.rms_eps);
      if (c_.fused_qkv) {
        Vec all = MatVec(wqkv, QD + 2 * KVD, D, Input(h, type("attn_qkv.weight"), "attn_in"));
        AddBias(all, bqkv);
        q[t] = Vec(all.begin(), all.begin() + QD);
        k[t] = Vec(all.begin() + QD, all.begin() + QD + KVD);
        v[t] = Vec(all.begin() + QD + KVD, all.end());
      } else {
        q[t] = MatVec(wq, QD, D, Input(h, type("attn_q.weight"), "attn_in"));
        k[t] = MatVec(wk, KVD, D, Input(h, type("attn_k.weight"), "attn_in"));
        v[t] = MatVec(wv, KVD, D, Input(h, type("attn_v.weight"), "attn_in"));
        AddBias(q[t], bq);
        AddBias(k[t], bk);
        AddBias(v[t], bv);
      }
      if (c_.qk_norm) {
        for (int64_t i = 0; i < H; ++i) RmsNormInPlace(q[t].data() + i * hd, hd, qn, c_.rms_eps);
        for (int64_t i = 0; i < KVH; ++i) RmsNormInPlace(k[t].data() + i * hd, hd, kn, c_.rms_eps);
      }
      Rope(q[t], H, hd, t, rope);
      Rope(k[t], KVH, hd, t, rope);
    }
    const int64_t window = lc.sliding ? c_.sliding_window : 0;
    for (int64_t t = 0; t < T; ++t) {
      at_pos_ = t;
      Vec attn(QD, 0.0);
      const int64_t first = window > 0 ? std::max<int64_t>(0, t - window + 1) : 0;
      for (int64_t h = 0; h < H; ++h) {
        const int64_t kh = h / (H / KVH);
        Vec s(t + 1, 0.0);
        double mx = -1e300;
        for (int64_t j = first; j <= t; ++j) {
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += q[t][h * hd + i] * k[j][kh * hd + i];
          s[j] = d * c_.attn_scale;
          if (c_.attn_softcap > 0) s[j] = c_.attn_softcap * std::tanh(s[j] / c_.attn_softcap);
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (int64_t j = first; j <= t; ++j) z += (s[j] = std::exp(s[j] - mx));
        for (int64_t j = first; j <= t; ++j) {
          for (int64_t i = 0; i < hd; ++i) attn[h * hd + i] += s[j] / z * v[j][kh * hd + i];
        }
      }
      Vec o = MatVec(wo, D, QD, Input(attn, type("attn_output.weight"), "attn_out"));
      AddBias(o, bo);
      if (c_.post_norms) o = RmsNorm(o, post_a, c_.rms_eps);
      for (int64_t i = 0; i < D; ++i) x[t][i] += o[i];
    }
    // FFN: dense (separate or fused gate/up) or mixture of experts.
    int64_t gr, gc;
    Vec router, gate_e, up_e, down_e, wg, wu, wd;
    if (c_.moe()) {
      router = Matrix(p + "ffn_gate_inp.weight", &gr, &gc);
      gate_e = Matrix(p + "ffn_gate_exps.weight", &gr, &gc);
      up_e = Matrix(p + "ffn_up_exps.weight", &gr, &gc);
      down_e = Matrix(p + "ffn_down_exps.weight", &gr, &gc);
    } else {
      if (!c_.fused_gate_up) wg = Matrix(p + "ffn_gate.weight", &gr, &gc);
      wu = Matrix(p + "ffn_up.weight", &gr, &gc);
      wd = Matrix(p + "ffn_down.weight", &gr, &gc);
    }
    for (int64_t t = 0; t < T; ++t) {
      at_pos_ = t;
      const Vec h = RmsNorm(x[t], ffn_norm, c_.rms_eps);
      Vec out(D, 0.0);
      if (c_.moe()) {
        const int64_t E = c_.n_expert, K = c_.n_expert_used, F = c_.n_ff_expert;
        const Vec logits = MatVec(router, E, D, Input(h, type("ffn_gate_inp.weight"), "ffn_in"));
        const double mx = *std::max_element(logits.begin(), logits.end());
        Vec prob(E);
        double z = 0;
        for (int64_t e = 0; e < E; ++e) z += (prob[e] = std::exp(logits[e] - mx));
        for (double& pe : prob) pe /= z;
        std::vector<int64_t> order(E);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return prob[a] > prob[b]; });
        double wsum = 0;
        for (int64_t s = 0; s < K; ++s) wsum += prob[order[s]];
        for (int64_t s = 0; s < K; ++s) {
          const int64_t e = order[s];
          const double w = prob[e] / (c_.expert_weights_norm ? std::max(wsum, 6.103515625e-5) : 1);
          const Vec g = MatVec(gate_e.data() + e * F * D, F, D,
                               Input(h, type("ffn_gate_exps.weight"), "ffn_in"));
          const Vec u =
              MatVec(up_e.data() + e * F * D, F, D, Input(h, type("ffn_up_exps.weight"), "ffn_in"));
          Vec a(F);
          for (int64_t i = 0; i < F; ++i) a[i] = act(g[i], u[i]);
          const Vec d =
              MatVec(down_e.data() + e * D * F, D, F,
                     Input(a, type("ffn_down_exps.weight"), StrCat("ffn_down_exps.", e).c_str()));
          for (int64_t i = 0; i < D; ++i) out[i] += w * d[i];
        }
      } else {
        const int64_t F = c_.n_ff;
        Vec g, u;
        if (c_.fused_gate_up) {
          const Vec gu = MatVec(wu, 2 * F, D, Input(h, type("ffn_up.weight"), "ffn_in"));
          g = Vec(gu.begin(), gu.begin() + F);
          u = Vec(gu.begin() + F, gu.end());
        } else {
          g = MatVec(wg, F, D, Input(h, type("ffn_gate.weight"), "ffn_in"));
          u = MatVec(wu, F, D, Input(h, type("ffn_up.weight"), "ffn_in"));
        }
        for (int64_t i = 0; i < F; ++i) g[i] = act(g[i], u[i]);
        out = MatVec(wd, D, F, Input(g, type("ffn_down.weight"), "ffn_down"));
      }
      if (c_.post_norms) out = RmsNorm(out, post_f, c_.rms_eps);
      for (int64_t i = 0; i < D; ++i) x[t][i] += out[i];
    }
  }
  const Vec out_norm = Vector("output_norm.weight");
  std::vector<Vec> hidden(T);
  for (int64_t t = 0; t < T; ++t) hidden[t] = RmsNorm(x[t], out_norm, c_.rms_eps);
  return hidden;
}

std::string Agreement::Describe() const {
  std::string s = StrCat(ambiguous, " ambiguous roundings, flipped:");
  if (flips.empty()) s += " none";
  for (const auto& r : flips) {
    s += StrCat(" layer ", r.layer, " pos ", r.pos, " ", r.input, "[", r.index, "] (", r.dist,
                " from its boundary)");
  }
  return s;
}

Agreement CompareLogits(ReferenceModel& ref, const std::vector<int32_t>& tokens,
                        const std::vector<std::vector<float>>& got, double tol) {
  struct Error {
    double worst = 0, sq = 0;
    std::string where;
  };
  auto error = [&](const std::vector<std::vector<double>>& want) {
    Error e;
    if (got.size() != want.size()) return Error{INFINITY, INFINITY, "the number of positions"};
    for (size_t p = 0; p < want.size(); ++p) {
      if (got[p].size() != want[p].size()) return Error{INFINITY, INFINITY, "the vocabulary"};
      double scale = 0;
      for (double v : want[p]) scale = std::max(scale, std::fabs(v));
      for (size_t j = 0; j < want[p].size(); ++j) {
        double err = std::fabs(got[p][j] - want[p][j]) / scale;
        if (std::isnan(err)) err = INFINITY;
        if (!(err <= e.worst)) e.worst = err, e.where = StrCat("position ", p, " token ", j);
        e.sq += err * err;
      }
    }
    return e;
  };
  ref.set_flips({});
  Error err = error(ref.Logits(tokens));
  Agreement a;
  const std::vector<ReferenceModel::Rounding> ambiguous = ref.ambiguous();
  a.ambiguous = ambiguous.size();
  for (int round = 0; round < 3 && !(err.worst <= tol); ++round) {
    Error best = err;
    size_t pick = ambiguous.size();
    for (size_t i = 0; i < ambiguous.size() && !(best.worst <= tol); ++i) {
      auto flips = a.flips;
      flips.push_back(ambiguous[i]);
      ref.set_flips(std::move(flips));
      const Error e = error(ref.Logits(tokens));
      if (e.sq < best.sq) best = e, pick = i;
    }
    if (pick == ambiguous.size()) break;
    a.flips.push_back(ambiguous[pick]);
    err = best;
  }
  ref.set_flips({});
  a.worst = err.worst;
  a.where = err.where;
  return a;
}

}  // namespace phx::testing
