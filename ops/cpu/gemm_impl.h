// Weight-panel decoders and the blocked GEMM loops shared by the ISA levels. Included by each
// matmul_<isa>.cc after defining PHX_ISA_NS (scalar, avx2, avx512): everything here lands in
// namespace phx::ops::cpu::PHX_ISA_NS and is compiled with that file's -m flags, so the
// same portable loops get that level's vector code and no symbol is shared between levels.
//
// Blocking: a task owns output columns [n0, n1) and rows [m0, m1). It walks panels of kNc
// weight rows (kGroupRows when the task has few rows: decode-and-use in L1) and chunks of the
// K dimension; each panel chunk is decoded once into scratch and then swept by the ISA's
// register-blocked tile over all of the task's activation rows, accumulating into y.
#ifndef PHX_ISA_NS
#error "define PHX_ISA_NS before including gemm_impl.h"
#endif

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "base/dtype.h"
#include "ops/cpu/decode_blocks.h"
#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"

// Full unrolling of the register-tile loops, so tile accumulators stay in registers.
#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::PHX_ISA_NS {

// Defined in this level's vec_<isa>.cc.
void F16ToF32Row(const uint16_t* x, float* y, int64_t n);

inline float HalfToFloat(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
#if defined(__F16C__)
  return _cvtsh_ss(h);
#else
  return F16ToF32(h);
#endif
}

constexpr int64_t kNc = 64;        // weight rows per panel
constexpr int64_t kKcPairs = 16;   // q8 family: K chunk in 64-value pairs (1024 values)
constexpr int64_t kKcSuper = 4;    // k family: K chunk in super-blocks (1024 values)
constexpr int64_t kKcFloat = 512;  // float family: K chunk in values

// Decodes pairs [pair0, pair0 + np) of `rows` (<= kGroupRows) weight rows of a q8-family type
// (decode_blocks.h) into one group (packed_formats.h), values stored + `off`. Missing rows and
// blocks decode to zero weights.
inline void PackQ8Group(DType t, const uint8_t* __restrict w, int64_t pitch, int rows,
                        int64_t pair0, int64_t np, int64_t nb, int off, uint8_t* __restrict out) {
  for (int64_t p = 0; p < np; ++p) {
    for (int r = 0; r < kGroupRows; ++r) {
      uint8_t* o = out + p * kQ8WGroupPairBytes + r * kQ8WRowPairBytes;
      float dw[16], mw[16] = {};
      for (int h = 0; h < 2; ++h) {
        const int64_t b = 2 * (pair0 + p) + h;
        uint8_t* q = o + 32 * h;
        float d = 0.f, m = 0.f;
        if (r >= rows || b >= nb) {
          std::memset(q, off, 32);
        } else {
          int8_t v[32];
          DecodeBlock32(t, w + r * pitch, b, v, &d, &m);
          for (int j = 0; j < 32; ++j) q[j] = static_cast<uint8_t>(v[j] + off);
        }
        for (int i = 0; i < 8; ++i) dw[8 * h + i] = d;
        mw[8 * h] = m * (-1.f / 128);  // times the activation's -128 * sum(q) (exact)
      }
      std::memcpy(o + kQ8WDOffset, dw, sizeof(dw));
      std::memcpy(o + kQ8WMinOffset, mw, sizeof(mw));
    }
  }
}

// Decodes super-blocks [sb0, sb0 + ns) of `rows` K-quant weight rows into one group.
inline void PackKGroup(DType t, const uint8_t* __restrict w, int64_t pitch, int rows, int64_t sb0,
                       int64_t ns, uint8_t* __restrict out) {
  for (int64_t s = 0; s < ns; ++s) {
    for (int r = 0; r < kGroupRows; ++r) {
      uint8_t* o = out + (s * kGroupRows + r) * kKWRowBytes;
      if (r >= rows) {
        std::memset(o, 0, kKWRowBytes);
        continue;
      }
      int16_t sc16[16];
      float mins[16];
      float d;
      uint8_t nat[256];
      DecodeSuperK(t, w + r * pitch, sb0 + s, nat, sc16, mins, &d);
      for (int c = 0; c < 8; ++c) std::memcpy(o + 32 * c, nat + 32 * kKLaneSubBlock[c], 32);
      int16_t sc[128];
      for (int i = 0; i < 128; ++i) sc[i] = sc16[KLaneToNatural(2 * i) / 16];
      std::memcpy(o + kKWScOffset, sc, sizeof(sc));
      std::memcpy(o + kKWMinsOffset, mins, sizeof(mins));
      std::memcpy(o + kKWDOffset, &d, sizeof(d));
    }
  }
}

// Converts columns [k0, k0 + kc) of `rows` F16/BF16 weight rows to f32 rows of pitch kc.
inline void PackFloatPanel(DType t, const uint8_t* w, int64_t pitch, int64_t rows, int64_t k0,
                           int64_t kc, float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const auto* src = reinterpret_cast<const uint16_t*>(w + r * pitch) + k0;
    float* dst = out + r * kc;
    if (t == DType::kF16) {
      F16ToF32Row(src, dst, kc);
    } else {
      for (int64_t i = 0; i < kc; ++i) {
        const uint32_t u = static_cast<uint32_t>(src[i]) << 16;
        std::memcpy(dst + i, &u, 4);
      }
    }
  }
}

// Tiles must provide: kRM (rows per tile), kDirect (and, if true, kDirectMaxRows, a constexpr
// HasDirect(type) and kDirectTile<rows, type>, a pointer to the tile function
// (act, act_pitch, w, K, y, y_pitch, ncols, bias) for 1..kRM rows: below) and
//   Q8:    static void Run(int rm, const uint8_t* act, int64_t act_pitch, const uint8_t* wg,
//                          int64_t np, float* y, int64_t y_pitch, int ncols, const float* bias,
//                          bool accumulate, bool has_min);  (has_min: Q4_1/Q5_1's block mins)
//   K:     same with `ns` super-blocks;
//   Float: static void Run(int rm, const float* x, int64_t x_pitch, const uint8_t* const* wrows,
//                          DType wt, int64_t kc, float* y, int64_t y_pitch, int ncols,
//                          const float* bias, bool accumulate);
// Output: accumulate ? y += tile : y = tile + bias.

// Few activation rows (decode, small batches: up to Tiles::kDirectMaxRows) of a type with
// Tiles::HasDirect(type): Tiles::kDirectTile reads the blocks straight from the weight rows
// instead of decoding a panel first. Each group of kGroupRows weight rows is swept by every tile
// of activation rows while it is in L1, so memory sees the weights once; re-decoding a block per
// tile costs less than packing a panel that few rows would reuse.

// f(std::integral_constant<int, rm>{}) for rm in 1..kMax (<= 4): a tile's row count as a constant.
template <int kMax, class F>
inline void WithRows(int rm, F&& f) {
  static_assert(kMax >= 1 && kMax <= 4);
  if constexpr (kMax >= 4) {
    if (rm == 4) return f(std::integral_constant<int, 4>{});
  }
  if constexpr (kMax >= 3) {
    if (rm == 3) return f(std::integral_constant<int, 3>{});
  }
  if constexpr (kMax >= 2) {
    if (rm == 2) return f(std::integral_constant<int, 2>{});
  }
  f(std::integral_constant<int, 1>{});
}

template <typename Tiles>
void GemmDirect(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1) {
  WithQuantType(a.wtype, [&](auto type) {  // the type picked once per call
    constexpr DType T = decltype(type)::value;
    if constexpr (Tiles::HasDirect(T)) {
      for (int64_t n = n0; n < n1; n += kGroupRows) {
        const int ncols = static_cast<int>(std::min<int64_t>(kGroupRows, n1 - n));
        const uint8_t* rows[kGroupRows];
        for (int i = 0; i < kGroupRows; ++i) {
          rows[i] = a.w + (n + std::min(i, ncols - 1)) * a.w_pitch;
        }
        for (int64_t m = m0; m < m1; m += Tiles::kRM) {
          WithRows<Tiles::kRM>(
              static_cast<int>(std::min<int64_t>(Tiles::kRM, m1 - m)), [&](auto rm) {
                Tiles::template kDirectTile<decltype(rm)::value, T>(
                    a.act + m * a.act_pitch, a.act_pitch, rows, a.K, a.y + m * a.y_pitch + n,
                    a.y_pitch, ncols, a.bias ? a.bias + n : nullptr);
              });
        }
      }
    }
  });
}

template <typename Tiles, int kOffset>
void GemmQ8Driver(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                  uint8_t* scratch) {
  if constexpr (Tiles::kDirect) {
    if (m1 - m0 <= Tiles::kDirectMaxRows && Tiles::HasDirect(a.wtype)) {
      return GemmDirect<Tiles>(a, n0, n1, m0, m1);
    }
  }
  const bool has_min = Block32HasMin(a.wtype);
  const int64_t nb = a.K / 32, np_total = (nb + 1) / 2;
  const int64_t nc_rows = (m1 - m0) <= Tiles::kRM ? kGroupRows : kNc;
  for (int64_t nc = n0; nc < n1; nc += nc_rows) {
    const int64_t rows = std::min(nc_rows, n1 - nc);
    const int64_t groups = (rows + kGroupRows - 1) / kGroupRows;
    for (int64_t pc = 0; pc < np_total; pc += kKcPairs) {
      const int64_t np = std::min(kKcPairs, np_total - pc);
      for (int64_t g = 0; g < groups; ++g) {
        PackQ8Group(a.wtype, a.w + (nc + g * kGroupRows) * a.w_pitch, a.w_pitch,
                    static_cast<int>(std::min<int64_t>(kGroupRows, rows - g * kGroupRows)), pc, np,
                    nb, kOffset, scratch + g * np * kQ8WGroupPairBytes);
      }
      for (int64_t m = m0; m < m1; m += Tiles::kRM) {
        const int rm = static_cast<int>(std::min<int64_t>(Tiles::kRM, m1 - m));
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t n = nc + g * kGroupRows;
          Tiles::Run(rm, a.act + m * a.act_pitch + pc * kQ8ActPairBytes, a.act_pitch,
                     scratch + g * np * kQ8WGroupPairBytes, np, a.y + m * a.y_pitch + n, a.y_pitch,
                     static_cast<int>(std::min<int64_t>(kGroupRows, n1 - n)),
                     a.bias ? a.bias + n : nullptr, pc > 0, has_min);
        }
      }
    }
  }
}

template <typename Tiles>
void GemmKDriver(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                 uint8_t* scratch) {
  if constexpr (Tiles::kDirect) {
    if (m1 - m0 <= Tiles::kDirectMaxRows && Tiles::HasDirect(a.wtype)) {
      return GemmDirect<Tiles>(a, n0, n1, m0, m1);
    }
  }
  const int64_t ns_total = a.K / 256;
  const int64_t nc_rows = (m1 - m0) <= Tiles::kRM ? kGroupRows : kNc;
  for (int64_t nc = n0; nc < n1; nc += nc_rows) {
    const int64_t rows = std::min(nc_rows, n1 - nc);
    const int64_t groups = (rows + kGroupRows - 1) / kGroupRows;
    for (int64_t sc = 0; sc < ns_total; sc += kKcSuper) {
      const int64_t ns = std::min(kKcSuper, ns_total - sc);
      for (int64_t g = 0; g < groups; ++g) {
        PackKGroup(a.wtype, a.w + (nc + g * kGroupRows) * a.w_pitch, a.w_pitch,
                   static_cast<int>(std::min<int64_t>(kGroupRows, rows - g * kGroupRows)), sc, ns,
                   scratch + g * ns * kKWGroupBytes);
      }
      for (int64_t m = m0; m < m1; m += Tiles::kRM) {
        const int rm = static_cast<int>(std::min<int64_t>(Tiles::kRM, m1 - m));
        for (int64_t g = 0; g < groups; ++g) {
          const int64_t n = nc + g * kGroupRows;
          Tiles::Run(rm, a.act + m * a.act_pitch + sc * kKActBytes, a.act_pitch,
                     scratch + g * ns * kKWGroupBytes, ns, a.y + m * a.y_pitch + n, a.y_pitch,
                     static_cast<int>(std::min<int64_t>(kGroupRows, n1 - n)),
                     a.bias ? a.bias + n : nullptr, sc > 0);
        }
      }
    }
  }
}

template <typename Tiles>
void GemmFloatDriver(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                     uint8_t* scratch) {
  // F16/BF16 panels are converted to f32 once when enough activation rows reuse them.
  const bool convert = a.wtype != DType::kF32 && (m1 - m0) > 2 * Tiles::kRM;
  const int64_t esize = a.wtype == DType::kF32 ? 4 : 2;
  auto* panel = reinterpret_cast<float*>(scratch);
  for (int64_t nc = n0; nc < n1; nc += kNc) {
    const int64_t rows = std::min(kNc, n1 - nc);
    for (int64_t k0 = 0; k0 < a.K; k0 += kKcFloat) {
      const int64_t kc = std::min(kKcFloat, a.K - k0);
      if (convert) PackFloatPanel(a.wtype, a.w + nc * a.w_pitch, a.w_pitch, rows, k0, kc, panel);
      for (int64_t m = m0; m < m1; m += Tiles::kRM) {
        const int rm = static_cast<int>(std::min<int64_t>(Tiles::kRM, m1 - m));
        for (int64_t r = 0; r < rows; r += kGroupRows) {
          const int ncols = static_cast<int>(std::min<int64_t>(kGroupRows, rows - r));
          const uint8_t* wrows[kGroupRows];
          for (int i = 0; i < kGroupRows; ++i) {
            const int64_t ri = r + std::min(i, ncols - 1);  // missing rows repeat the last one
            wrows[i] = convert ? reinterpret_cast<const uint8_t*>(panel + ri * kc)
                               : a.w + (nc + ri) * a.w_pitch + k0 * esize;
          }
          const float* x = reinterpret_cast<const float*>(a.act + m * a.act_pitch) + k0;
          Tiles::Run(rm, x, a.act_pitch / 4, wrows, convert ? DType::kF32 : a.wtype, kc,
                     a.y + m * a.y_pitch + nc + r, a.y_pitch, ncols,
                     a.bias ? a.bias + nc + r : nullptr, k0 > 0);
        }
      }
    }
  }
}

// Stores a finished tile row: accumulate ? y += v : y = v + bias.
inline void StoreRow(const float* v, float* y, int ncols, const float* bias, bool accumulate) {
  for (int c = 0; c < ncols; ++c) {
    y[c] = accumulate ? y[c] + v[c] : v[c] + (bias ? bias[c] : 0.f);
  }
}

}  // namespace phx::ops::cpu::PHX_ISA_NS
