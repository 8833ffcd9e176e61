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

inline void AddVec(const float* a, const float* b, float* o, int64_t n) {
  int64_t i = 0;
  for (; i + kW <= n; i += kW) Store(o + i, Load(a + i) + Load(b + i));
  for (; i < n; ++i) o[i] = a[i] + b[i];
}

inline float MaxVec(const float* x, int64_t n) {
  float m = -INFINITY;
  int64_t i = 0;
  if (n >= kW) {
    VF acc = Load(x);
    for (i = kW; i + kW <= n; i += kW) {
      const VF v = Load(x + i);
      acc = v > acc ? v : acc;
    }
    for (int j = 0; j < kW; ++j) m = std::fmax(m, acc[j]);
  }
  for (; i < n; ++i) m = std::fmax(m, x[i]);
  return m;
}

inline float ExpSum(float* x, float m, int64_t n) {
  VF acc{};
  int64_t i = 0;
  for (; i + kW <= n; i += kW) {
    const VF e = Exp(Load(x + i) - m);
    Store(x + i, e);
    acc += e;
  }
  float s = HSum(acc);
  for (; i < n; ++i) s += (x[i] = std::exp(x[i] - m));
  return s;
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

// out[i] = sum of the lanes of a[i], i < 4, with shuffles (about 3 ops per sum instead of 8).
inline void HSum4(const VF (&a)[4], float* out) {
#if defined(__clang__)
  // clang's vector shuffles need constant masks; a lane loop gives the same sums.
  for (int i = 0; i < 4; ++i) {
    float sum = 0.f;
    for (int j = 0; j < kW; ++j) sum += a[i][j];
    out[i] = sum;
  }
  return;
#else
  VI lo, hi;  // pairwise fold of two vectors: halves of each side by side
  for (int i = 0; i < kW; ++i) {
    const int half = kW / 2;
    lo[i] = i < half ? i : kW + i - half;
    hi[i] = lo[i] + half;
  }
  const VF t01 = __builtin_shuffle(a[0], a[1], lo) + __builtin_shuffle(a[0], a[1], hi);
  const VF t23 = __builtin_shuffle(a[2], a[3], lo) + __builtin_shuffle(a[2], a[3], hi);
  VI lo2, hi2;  // [t01 quarter 0, quarter 2 | t23 quarter 0, quarter 2] and the odd quarters
  for (int i = 0; i < kW; ++i) {
    const int q = kW / 4, blk = i / q, off = i % q;
    const int src = (blk < 2 ? 0 : kW) + (blk % 2) * 2 * q + off;
    lo2[i] = src;
    hi2[i] = src + q;
  }
  VF u = __builtin_shuffle(t01, t23, lo2) + __builtin_shuffle(t01, t23, hi2);
  // u: 4 groups of kW/4 lanes, group g holding partial sums of a[g].
  for (int i = 0; i < 4; ++i) {
    float sum = 0.f;
    for (int j = 0; j < kW / 4; ++j) sum += u[i * (kW / 4) + j];
    out[i] = sum;
  }
#endif
}

// s[v * s_pitch + j] = scale * dot(q[v * hd ..], k[j * hd ..]) for v < nv, j < n: 4 x 4 tiles of
// vector accumulators reduced once per (v, j).
inline void QkBlock(const float* q, int nv, const float* k, int n, int hd, float scale, float* s,
                    int s_pitch) {
  for (int v0 = 0; v0 < nv; v0 += 4) {
    const int nvt = nv - v0 < 4 ? nv - v0 : 4;
    for (int j0 = 0; j0 < n; j0 += 4) {
      const int njt = n - j0 < 4 ? n - j0 : 4;
      VF acc[4][4] = {};
      int i = 0;
      for (; i + kW <= hd; i += kW) {
        VF kv[4], qv[4];
        _Pragma("GCC unroll 4") for (int j = 0; j < 4; ++j) {
          kv[j] = Load(k + static_cast<int64_t>(j0 + (j < njt ? j : 0)) * hd + i);
        }
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; ++v) {
          qv[v] = Load(q + static_cast<int64_t>(v0 + (v < nvt ? v : 0)) * hd + i);
        }
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; ++v) {
          _Pragma("GCC unroll 4") for (int j = 0; j < 4; ++j) acc[v][j] += qv[v] * kv[j];
        }
      }
      for (int v = 0; v < nvt; ++v) {
        float sums[4];
        HSum4(acc[v], sums);
        for (int j = 0; j < njt; ++j) {
          float d = sums[j];
          const float* qq = q + static_cast<int64_t>(v0 + v) * hd;
          const float* kk = k + static_cast<int64_t>(j0 + j) * hd;
          for (int t = i; t < hd; ++t) d += qq[t] * kk[t];
          s[(v0 + v) * s_pitch + j0 + j] = d * scale;
        }
      }
    }
  }
}

// o[v * hd ..] += sum_{j < cnt[v]} p[v * p_pitch + j] * vb[j * hd ..] for v < nv: rank-1
// updates of a 4-vector x up-to-4-vector-register output tile, no reductions.
inline void PvBlock(const float* p, int p_pitch, const int* cnt, int nv, const float* vb, int hd,
                    float* o) {
  for (int v0 = 0; v0 < nv; v0 += 4) {
    const int nvt = nv - v0 < 4 ? nv - v0 : 4;
    int jmax = 0;
    for (int v = 0; v < nvt; ++v) jmax = cnt[v0 + v] > jmax ? cnt[v0 + v] : jmax;
    int i = 0;
    for (; i + kW <= hd; i += kW) {
      const int nc = (hd - i) / kW < 4 ? (hd - i) / kW : 4;  // vector columns in this pass
      VF acc[4][4] = {};
      for (int j = 0; j < jmax; ++j) {
        VF vv[4];
        _Pragma("GCC unroll 4") for (int c = 0; c < 4; ++c) {
          vv[c] = c < nc ? Load(vb + static_cast<int64_t>(j) * hd + i + c * kW) : VF{};
        }
        _Pragma("GCC unroll 4") for (int v = 0; v < 4; ++v) {
          // Weights beyond a vector's causal count are zero.
          const float w = v < nvt && j < cnt[v0 + v] ? p[(v0 + v) * p_pitch + j] : 0.f;
          _Pragma("GCC unroll 4") for (int c = 0; c < 4; ++c) acc[v][c] += w * vv[c];
        }
      }
      for (int v = 0; v < nvt; ++v) {
        for (int c = 0; c < nc; ++c) {
          float* dst = o + static_cast<int64_t>(v0 + v) * hd + i + c * kW;
          Store(dst, Load(dst) + acc[v][c]);
        }
      }
      i += (nc - 1) * kW;
    }
    for (; i < hd; ++i) {
      for (int v = 0; v < nvt; ++v) {
        float a = 0.f;
        for (int j = 0; j < cnt[v0 + v]; ++j) a += p[(v0 + v) * p_pitch + j] * vb[j * hd + i];
        o[(v0 + v) * hd + i] += a;
      }
    }
  }
}

inline VecKernels MakeVecKernels() {
  VecKernels v;
  v.sum_sq = SumSq;
  v.scale_mul = ScaleMul;
  v.silu_mul = SiluMul;
  v.add = AddVec;
  v.max = MaxVec;
  v.exp_sum = ExpSum;
  v.scale = ScaleVec;
  v.dot = Dot;
  v.axpy = Axpy;
  v.f16_to_f32 = F16ToF32Row;
  v.f32_to_f16 = F32ToF16Row;
  v.qk_block = QkBlock;
  v.pv_block = PvBlock;
  return v;
}

}  // namespace phx::ops::cpu::PHX_ISA_NS
