#include "tests/gpu/harness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace phx::gpu_test {

std::mt19937_64& Rng() {
  static std::mt19937_64 rng(kDefaultSeed);
  return rng;
}
double Uniform(double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(Rng());
}
double Normal(double sd) {
  static std::normal_distribution<double> unit(0.0, 1.0);
  return sd * unit(Rng());
}

double FastNormal(double sd) {
  const uint64_t r = Rng()();
  const double sum =
      static_cast<double>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48)) /
      65536.0;
  return sd * (sum - 2.0) * 1.7320508075688772;  // variance of the sum: 4 / 12
}

uint16_t ToBits(float f, DType t) { return t == DType::kBF16 ? F32ToBF16(f) : F32ToF16(f); }
float FromBits(uint16_t h, DType t) { return t == DType::kBF16 ? BF16ToF32(h) : F16ToF32(h); }

double RoundTo(double x, DType t) {
  const float f = static_cast<float>(x);
  if (t == DType::kF32) return f;
  return FromBits(ToBits(f, t), t);
}

std::vector<uint16_t> RandomHalf(size_t n, DType t, double sd, std::vector<double>* values) {
  std::vector<uint16_t> bits(n);
  values->resize(n);
  for (size_t i = 0; i < n; ++i) {
    bits[i] = ToBits(static_cast<float>(Normal(sd)), t);
    (*values)[i] = FromBits(bits[i], t);
  }
  return bits;
}

std::vector<uint16_t> FastRandomHalf(size_t n, DType t, double sd) {
  std::vector<uint16_t> bits(n);
  for (uint16_t& b : bits) b = ToBits(static_cast<float>(FastNormal(sd)), t);
  return bits;
}

size_t ElemBytes(DType t) { return t == DType::kF32 ? 4 : 2; }

double UnitRoundoff(DType t) {
  switch (t) {
    case DType::kF16:
      return std::ldexp(1.0, -11);
    case DType::kBF16:
      return std::ldexp(1.0, -8);
    default:
      return std::ldexp(1.0, -24);
  }
}

double SubnormalFloor(DType t) {
  return t == DType::kF16 ? std::ldexp(1.0, -25) : std::ldexp(1.0, -150);
}

Verdict Judge(const std::vector<double>& got, const std::vector<double>& want,
              const std::vector<double>& tol) {
  Verdict v;
  v.n = want.size();
  if (got.size() != want.size() || tol.size() != want.size()) {
    v.bad = std::max<size_t>(1, v.n);
    v.worst = std::numeric_limits<double>::infinity();
    return v;
  }
  for (size_t i = 0; i < v.n; ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const bool ok = err <= tol[i];  // NaN fails
    const double ratio = std::isnan(err) ? std::numeric_limits<double>::infinity()
                         : tol[i] > 0    ? err / tol[i]
                         : err > 0       ? std::numeric_limits<double>::infinity()
                                         : 0.0;
    if (!ok && v.bad++ == 0) v.first = i;
    if (i == 0 || ratio > v.worst) {
      v.worst = ratio;
      v.worst_at = i;
    }
  }
  return v;
}

std::string Describe(const Verdict& v, const std::vector<double>& got,
                     const std::vector<double>& want, const std::vector<double>& tol) {
  char b[200];
  if (v.n == 0 || got.size() != want.size() || tol.size() != want.size()) {
    std::snprintf(b, sizeof(b), "size mismatch (got %zu, want %zu, tol %zu)", got.size(),
                  want.size(), tol.size());
  } else if (v.bad == 0) {
    std::snprintf(b, sizeof(b), "worst err/tol %.3g at [%zu] (err %.3g, tol %.3g)", v.worst,
                  v.worst_at, std::fabs(got[v.worst_at] - want[v.worst_at]), tol[v.worst_at]);
  } else {
    std::snprintf(b, sizeof(b), "%zu/%zu bad; first [%zu] got %.7g want %.7g tol %.3g; worst %.3g",
                  v.bad, v.n, v.first, got[v.first], want[v.first], tol[v.first], v.worst);
  }
  return b;
}

std::vector<double> RoundingTol(const std::vector<double>& want, DType out, bool f32_intermediate) {
  const double u = UnitRoundoff(out) + (f32_intermediate ? 2 * UnitRoundoff(DType::kF32) : 0.0);
  const double floor = SubnormalFloor(out);
  std::vector<double> tol(want.size());
  for (size_t i = 0; i < want.size(); ++i) tol[i] = u * std::fabs(want[i]) + floor;
  return tol;
}

double DotF32Factor(int64_t k) {
  return 2.0 * UnitRoundoff(DType::kF32) * (static_cast<double>(k) / 8.0 + 64.0);
}

std::vector<double> DotTol(const std::vector<double>& want, const std::vector<double>& abs_sum,
                           int64_t k, DType out) {
  const double u = UnitRoundoff(out), f = DotF32Factor(k), floor = SubnormalFloor(out);
  std::vector<double> tol(want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    tol[i] = u * std::fabs(want[i]) + f * abs_sum[i] + floor;
  }
  return tol;
}

}  // namespace phx::gpu_test
