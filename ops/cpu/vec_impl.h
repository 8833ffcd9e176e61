// Vector helpers (VecKernels) written once with GCC/Clang vector extensions. Included by each
// vec_<isa>.cc after defining PHX_ISA_NS and PHX_VEC_WIDTH (floats per vector: 4 for the
// portable level, 8 for AVX2, 16 for AVX-512); the compiler lowers the generic vectors to that
// file's ISA. Everything lands in namespace phx::ops::cpu::PHX_ISA_NS.
#if !defined(PHX_ISA_NS) || !defined(PHX_VEC_WIDTH)
#error "define PHX_ISA_NS and PHX_VEC_WIDTH before including vec_impl.h"
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "base/dtype.h"
#include "ops/cpu/kernels.h"

namespace phx::ops::cpu::PHX_ISA_NS {

constexpr int kW = PHX_VEC_WIDTH;
typedef float VF __attribute__((vector_size(4 * kW)));
typedef int32_t VI __attribute__((vector_size(4 * kW)));
typedef double VD __attribute__((vector_size(8 * kW)));

inline VF Load(const float* p) {
  VF v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void Store(float* p, VF v) { std::memcpy(p, &v, sizeof(v)); }
inline VF Splat(float f) { return VF{} + f; }
inline float HSum(VF v) {
  float s = 0.f;
  for (int i = 0; i < kW; ++i) s += v[i];
  return s;
}

// exp(x) with Cody-Waite range reduction and Cephes' degree-6 polynomial (about 1 ulp over the
// clamped range); exactly 0 below ln(FLT_MIN) so masked (-inf) scores give zero weight.
inline VF Exp(VF x) {
  const VI tiny = x < -87.3365447505f;
  x = x > 88.0f ? Splat(88.0f) : x;
  x = x < -87.3365447505f ? Splat(-87.3365447505f) : x;
  const VF fx = x * 1.44269504088896341f + 0.5f;
  VI n = __builtin_convertvector(fx, VI);
  VF fn = __builtin_convertvector(n, VF);
  const VI adj = fn > fx;  // -1 where truncation rounded up (negative fx)
  n += adj;
  fn = __builtin_convertvector(n, VF);
  VF r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  VF p = Splat(1.9875691500E-4f);
  p = p * r + 1.3981999507E-3f;
  p = p * r + 8.3334519073E-3f;
  p = p * r + 4.1665795894E-2f;
  p = p * r + 1.6666665459E-1f;
  p = p * r + 5.0000001201E-1f;
  const VF y = p * (r * r) + r + 1.0f;
  VI bits = (n + 127) << 23;
  VF scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  const VF res = y * scale;
  return tiny ? Splat(0.f) : res;
}

// tanh(x): an odd polynomial near 0 (relative error ~1e-9 below 1/8), 1 - 2 / (e^(2|x|) + 1)
// beyond (absolute error a few 1e-8); saturates to +-1 (Exp clamps its argument).
inline VF Tanh(VF x) {
  const VF ax = x < 0.f ? -x : x;
  const VF x2 = x * x;
  const VF poly = x + x * x2 * (-1.f / 3 + x2 * (2.f / 15 + x2 * (-17.f / 315)));
  VF t = 1.f - 2.f / (Exp(ax + ax) + 1.f);
  t = x < 0.f ? -t : t;
  return ax < 0.125f ? poly : t;
}
inline float TanhScalar(float x) { return Tanh(Splat(x))[0]; }

inline double SumSq(const float* x, int64_t n) {
  VD acc{};
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    const VF v = Load(x + i);
    acc += __builtin_convertvector(v * v, VD);
  }
  double s = 0;
  for (int j = 0; j < kW; ++j) s += acc[j];
  for (; i < n; ++i) s += static_cast<double>(x[i] * x[i]);
  return s;
}

inline void ScaleMul(const float* x, float s, const float* w, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Store(y + i, (Load(x + i) * s) * Load(w + i));
  for (; i < n; ++i) y[i] = (x[i] * s) * w[i];
}

inline void SiluMul(const float* g, const float* u, float* o, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    const VF gv = Load(g + i);
    Store(o + i, gv / (1.0f + Exp(-gv)) * Load(u + i));
  }
  for (; i < n; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

inline VF GeluMul(VF g, VF u) {
  const VF z = 0.79788456080286535588f * (g + 0.044715f * g * g * g);
  return g / (1.0f + Exp(-2.f * z)) * u;
}
inline void GeluMulRow(const float* g, const float* u, float* o, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Store(o + i, GeluMul(Load(g + i), Load(u + i)));
  for (; i < n; ++i) o[i] = GeluMul(Splat(g[i]), Splat(u[i]))[0];
}

inline void SoftcapRow(float* x, float cap, int64_t n) {
  const float inv = 1.f / cap;
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Store(x + i, cap * Tanh(Load(x + i) * inv));
  for (; i < n; ++i) x[i] = cap * TanhScalar(x[i] * inv);
}

inline void AddVec(const float* a, const float* b, float* o, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Store(o + i, Load(a + i) + Load(b + i));
  for (; i < n; ++i) o[i] = a[i] + b[i];
}

inline void ScaleVec(float* x, float s, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Store(x + i, Load(x + i) * s);
  for (; i < n; ++i) x[i] *= s;
}

inline float Dot(const float* a, const float* b, int64_t n) {
  VF acc0{}, acc1{};
  int64_t i = 0;
  for (; i + 2 * kW <= n; i += 2 * kW) {
    acc0 += Load(a + i) * Load(b + i);
    acc1 += Load(a + i + kW) * Load(b + i + kW);
  }
  for (; i + kW <= n; i += kW) acc0 += Load(a + i) * Load(b + i);
  float s = HSum(acc0 + acc1);
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

inline void Axpy(float a, const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Store(y + i, Load(y + i) + a * Load(x + i));
  for (; i < n; ++i) y[i] += a * x[i];
}

void F16ToF32Row(const uint16_t* x, float* y, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(y + i,
                     _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i))));
  }
#endif
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(y + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  }
  for (; i < n; ++i) y[i] = _cvtsh_ss(x[i]);
#else
  for (; i < n; ++i) y[i] = F16ToF32(x[i]);
#endif
}

inline void F32ToF16Row(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
#endif
  for (; i < n; ++i) y[i] = F32ToF16(x[i]);
}

}  // namespace phx::ops::cpu::PHX_ISA_NS

#include "ops/cpu/vec_attend_impl.h"

namespace phx::ops::cpu::PHX_ISA_NS {

inline VecKernels MakeVecKernels() {
  VecKernels v;
  v.sum_sq = SumSq;
  v.scale_mul = ScaleMul;
  v.silu_mul = SiluMul;
  v.gelu_mul = GeluMulRow;
  v.softcap = SoftcapRow;
  v.add = AddVec;
  v.scale = ScaleVec;
  v.dot = Dot;
  v.axpy = Axpy;
  v.f32_to_f16 = F32ToF16Row;
  v.attend_block = AttendBlock;
  return v;
}

}  // namespace phx::ops::cpu::PHX_ISA_NS
