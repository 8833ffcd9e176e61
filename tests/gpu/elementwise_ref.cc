#include "tests/gpu/elementwise_ref.h"

#include <cmath>

#include "tests/gpu/harness.h"

namespace phx::gpu_test {
namespace {

constexpr int kNormThreads = 256;  // kernels/rms_norm.cu

// The rotated pair (i0, i1) of pair index i of a head.
void PairOf(const RopeSpec& s, int i, int* i0, int* i1) {
  if (s.neox) {
    *i0 = i;
    *i1 = i + s.n_rot / 2;
  } else {
    *i0 = 2 * i;
    *i1 = 2 * i + 1;
  }
}

// ggml's f32 angle of pair i at position pos.
float RopeAngle(const RopeSpec& s, int32_t pos, int i, RopeBug bug) {
  float theta = static_cast<float>(bug == RopeBug::kPositionPlusOne ? pos + 1 : pos);
  for (int j = 0; j < i; ++j) theta *= s.theta_scale;
  const float ff =
      s.freq_factors != nullptr && bug != RopeBug::kNoFreqFactors ? (*s.freq_factors)[i] : 1.f;
  return s.freq_scale * (theta / ff);
}

}  // namespace

RmsRef ReferenceRmsNorm(const std::vector<double>& x, const std::vector<double>* residual,
                        const std::vector<double>& w, int rows, int dim, DType t, double eps,
                        RmsBug bug) {
  RmsRef r;
  r.h.resize(static_cast<size_t>(rows) * dim);
  r.y.resize(r.h.size());
  for (int i = 0; i < rows; ++i) {
    double ss = 0;
    for (int j = 0; j < dim; ++j) {
      const size_t e = static_cast<size_t>(i) * dim + j;
      // The kernel rounds x + r once to t (f32 add of two t values, then t): the same as
      // rounding the exact sum to f32, then to t, which RoundTo does.
      r.h[e] = residual != nullptr && bug != RmsBug::kNoResidual ? RoundTo(x[e] + (*residual)[e], t)
                                                                 : x[e];
      if (!(bug == RmsBug::kDropLastInSum && j == dim - 1)) ss += r.h[e] * r.h[e];
    }
    const double inv = 1.0 / std::sqrt(ss / dim + eps);
    for (int j = 0; j < dim; ++j) {
      const size_t e = static_cast<size_t>(i) * dim + j;
      r.y[e] = r.h[e] * inv * w[j];
    }
  }
  return r;
}

std::vector<double> EmulateRmsNorm(const std::vector<double>& x,
                                   const std::vector<double>* residual,
                                   const std::vector<double>& w, int rows, int dim, DType t,
                                   double eps) {
  std::vector<double> y(static_cast<size_t>(rows) * dim);
  std::vector<float> h(dim), part(kNormThreads);
  for (int i = 0; i < rows; ++i) {
    std::fill(part.begin(), part.end(), 0.f);
    for (int j = 0; j < dim; ++j) {
      const size_t e = static_cast<size_t>(i) * dim + j;
      float v = static_cast<float>(x[e]);
      if (residual != nullptr) {
        v = static_cast<float>(
            RoundTo(static_cast<float>(v + static_cast<float>((*residual)[e])), t));
      }
      h[j] = v;
      part[j % kNormThreads] = std::fma(v, v, part[j % kNormThreads]);
    }
    float ss = 0.f;
    for (float p : part) ss += p;
    const float inv = 1.f / std::sqrt(ss / static_cast<float>(dim) + static_cast<float>(eps));
    for (int j = 0; j < dim; ++j) {
      y[static_cast<size_t>(i) * dim + j] = RoundTo(h[j] * inv * static_cast<float>(w[j]), t);
    }
  }
  return y;
}

std::vector<double> RowOpTol(const std::vector<double>& want, DType t) {
  const double u = UnitRoundoff(t) + kRowOpF32Ulps * UnitRoundoff(DType::kF32);
  std::vector<double> tol(want.size());
  for (size_t i = 0; i < want.size(); ++i) tol[i] = u * std::fabs(want[i]) + SubnormalFloor(t);
  return tol;
}

std::vector<double> ReferenceSwiGlu(const std::vector<double>& g, const std::vector<double>& u,
                                    int rows, int dim, SwiGluBug bug) {
  std::vector<double> out(g.size());
  for (int i = 0; i < rows; ++i) {
    for (int j = 0; j < dim; ++j) {
      const size_t e = static_cast<size_t>(i) * dim + j;
      const size_t eu = bug == SwiGluBug::kUpShifted
                            ? static_cast<size_t>(i) * dim + static_cast<size_t>((j + 1) % dim)
                            : e;
      out[e] = g[e] / (1 + std::exp(-g[e])) * u[eu];
    }
  }
  return out;
}

std::vector<double> EmulateSwiGlu(const std::vector<double>& g, const std::vector<double>& u,
                                  DType t) {
  std::vector<double> out(g.size());
  for (size_t e = 0; e < g.size(); ++e) {
    const float gf = static_cast<float>(g[e]);
    out[e] = RoundTo(gf / (1.f + std::exp(-gf)) * static_cast<float>(u[e]), t);
  }
  return out;
}

void ReferenceRope(std::vector<double>& x, int tokens, int heads, const std::vector<int32_t>& pos,
                   const RopeSpec& s, RopeBug bug) {
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < s.n_rot / 2; ++i) {
      const double a = RopeAngle(s, pos[t], i, bug);
      int i0, i1;
      PairOf(s, i, &i0, &i1);
      if (bug == RopeBug::kPairsSwapped) {  // normal <-> NeoX pairing
        RopeSpec other = s;
        other.neox = !s.neox;
        PairOf(other, i, &i0, &i1);
      }
      for (int h = 0; h < heads; ++h) {
        double* r = &x[(static_cast<size_t>(t) * heads + h) * s.head_dim];
        const double x0 = r[i0], x1 = r[i1];
        r[i0] = x0 * std::cos(a) - x1 * std::sin(a);
        r[i1] = x0 * std::sin(a) + x1 * std::cos(a);
      }
    }
  }
}

void EmulateRope(std::vector<double>& x, int tokens, int heads, const std::vector<int32_t>& pos,
                 const RopeSpec& s) {
  for (int t = 0; t < tokens; ++t) {
    for (int i = 0; i < s.n_rot / 2; ++i) {
      const float a = RopeAngle(s, pos[t], i, RopeBug::kNone);
      const float c = std::cos(a), sn = std::sin(a);
      int i0, i1;
      PairOf(s, i, &i0, &i1);
      for (int h = 0; h < heads; ++h) {
        double* r = &x[(static_cast<size_t>(t) * heads + h) * s.head_dim];
        const float x0 = static_cast<float>(r[i0]), x1 = static_cast<float>(r[i1]);
        r[i0] = x0 * c - x1 * sn;
        r[i1] = x0 * sn + x1 * c;
      }
    }
  }
}

std::vector<double> RopeTol(const std::vector<double>& want, const std::vector<double>& input,
                            int tokens, int heads, const RopeSpec& s, DType out) {
  const double u = UnitRoundoff(out), u32 = UnitRoundoff(DType::kF32);
  std::vector<double> tol(want.size());
  for (size_t e = 0; e < want.size(); ++e) tol[e] = u * std::fabs(want[e]) + SubnormalFloor(out);
  for (int t = 0; t < tokens; ++t) {
    for (int h = 0; h < heads; ++h) {
      const size_t base = (static_cast<size_t>(t) * heads + h) * s.head_dim;
      for (int i = 0; i < s.n_rot / 2; ++i) {
        int i0, i1;
        PairOf(s, i, &i0, &i1);
        const double mag = std::fabs(input[base + i0]) + std::fabs(input[base + i1]);
        tol[base + i0] += 16 * u32 * mag;
        tol[base + i1] += 16 * u32 * mag;
      }
    }
  }
  return tol;
}

}  // namespace phx::gpu_test
