// The tile driver of the AVX-512 matmuls over repacked 16-row weight groups against 8-row
// activation panels (matmul_kx16_avx512.cc, matmul_q32x16_avx512.cc; included by AVX-512
// translation units only). Each kernel supplies its block loop; this walks the output.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "ops/cpu/kernels.h"
#include "ops/cpu/packed_formats.h"
#include "ops/cpu/repack_formats.h"

namespace phx::ops::cpu::avx512::tile16 {

// The 4-byte int32 and float at p (any alignment).
inline __attribute__((always_inline)) int32_t Load32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline __attribute__((always_inline)) float LoadF(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// Rows [0, rm) of a 16-column tile of sums plus the bias (if any) into y (rows yp apart): the
// first ncols columns.
inline void Store(const __m512* f, int rm, float* y, int64_t yp, int ncols, const float* bias) {
  const __mmask16 mask = static_cast<__mmask16>((1u << ncols) - 1);
  const __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
  for (int m = 0; m < rm; ++m) _mm512_mask_storeu_ps(y + m * yp, mask, _mm512_add_ps(f[m], bv));
}

// Decode: calls with at most this many activation rows, which stream each weight group once
// (the kernels' software-prefetch policies differ for them).
inline constexpr int kDecodeRows = 4;

// s + the dot products of w's unsigned bytes with the four signed bytes at p, broadcast by the
// instruction itself ({1to16}): GCC would load a _mm512_set1_epi32 operand with a separate
// vpbroadcastd, one more vector uop per chunk and activation row.
inline __attribute__((always_inline)) __m512i DpbusdBcast(__m512i s, __m512i w, const uint8_t* p) {
  asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(s) : "v"(w), "m"(*reinterpret_cast<const int32_t*>(p)));
  return s;
}

// The activation panels are made of 4-byte units stored row-inner: unit j of row r at byte
// 4 * (P * j + r), in every section (quants, scales, corrections). PanelOff<PR>(x) is where a
// section at byte x of an 8-row panel starts in a PR-row one (PR = 1: one row's copy;
// PanelUnit in packed_formats.h); the kernels that call it assert that their panels have 8 rows.
template <int PR>
constexpr int64_t PanelOff(int64_t x) {
  return PanelUnit(x, 0, PR);
}

// Decode (one activation row, m0): every weight group reads the row compactly (its units
// contiguous: the same bytes, so the same sums), from a few L1 lines instead of one unit in 8
// across the panel. A call of one row (a.act_compact) has it so already; otherwise row m0 % P
// of its panel, `panel_bytes` long, is copied into `scratch`. one(group, row, f) adds the whole
// K of that row against a group into f[0]. Returns false (nothing done) when the copy does not
// fit the scratch.
// With `pair` (not nullptr), the full groups go in two streams: pair(group, gap, row, f) adds
// the row against `group` into f[0] and against the group `gap` bytes later into f[1], for
// group i of the first half of the range with group i of the second half; an odd full group
// and a padded last group go through `one`.
template <int64_t P, class One, class Pair = std::nullptr_t>
inline __attribute__((always_inline)) bool OneRow(const GemmArgs& a, int64_t n0, int64_t n1,
                                                  int64_t m0, int64_t panel_bytes, uint8_t* scratch,
                                                  One one, Pair pair = nullptr) {
  const uint8_t* row = a.act;
  if (!a.act_compact) {
    if (scratch == nullptr || panel_bytes / P > kGemmScratchBytes) return false;
    const uint8_t* src = a.act + (m0 / P) * a.act_pitch + 4 * (m0 % P);
    for (int64_t j = 0; j < panel_bytes / (4 * P); ++j) {
      std::memcpy(scratch + 4 * j, src + 4 * P * j, 4);
    }
    row = scratch;
  }
  float* y = a.y + m0 * a.y_pitch;
  const auto bias = [&](int64_t n) { return a.bias ? a.bias + n : nullptr; };
  int64_t n = n0;
  if constexpr (!std::is_null_pointer_v<Pair>) {
    const int64_t half = (n1 - n0) / kRepackRows / 2, gap = half * kRepackRows;
    for (; n < n0 + gap; n += kRepackRows) {
      __m512 f[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
      pair(a.w + (n / kRepackRows) * a.w_pitch, half * a.w_pitch, row, f);
      Store(&f[0], 1, y + n, a.y_pitch, kRepackRows, bias(n));
      Store(&f[1], 1, y + n + gap, a.y_pitch, kRepackRows, bias(n + gap));
    }
    n = n0 + 2 * gap;
  }
  for (; n < n1; n += kRepackRows) {
    const int ncols = static_cast<int>(std::min<int64_t>(kRepackRows, n1 - n));
    __m512 f = _mm512_setzero_ps();
    one(a.w + (n / kRepackRows) * a.w_pitch, row, &f);
    Store(&f, 1, y + n, a.y_pitch, ncols, bias(n));
  }
  return true;
}

// y[m0:m1, n0:n1] (n0 % 16 == 0, m0 % P == 0) over the weight groups (a.w, a.w_pitch apart)
// and the P-row activation panels (a.act, a.act_pitch apart), each `blocks` blocks long.
// full(group, panel, b0, b1, f) adds blocks [b0, b1) of a whole panel into f[0..P);
// part(rm, group, panel, b0, b1, f) those of the panel's first rm rows. Rows go in tiles of two
// panels, which meet each step of kStep blocks together (while the group's blocks are in L1),
// then the rest one panel at a time.
template <int64_t P, int64_t kStep, class Full, class Part>
inline __attribute__((always_inline)) void Gemm(const GemmArgs& a, int64_t n0, int64_t n1,
                                                int64_t m0, int64_t m1, int64_t blocks, Full full,
                                                Part part) {
  for (int64_t n = n0; n < n1; n += kRepackRows) {
    const int ncols = static_cast<int>(std::min<int64_t>(kRepackRows, n1 - n));
    const uint8_t* group = a.w + (n / kRepackRows) * a.w_pitch;
    const float* bias = a.bias ? a.bias + n : nullptr;
    int64_t m = m0;
    for (; m + 2 * P <= m1; m += 2 * P) {
      const uint8_t* p0 = a.act + (m / P) * a.act_pitch;
      const uint8_t* p1 = p0 + a.act_pitch;
      __m512 f[2 * P];
      for (auto& v : f) v = _mm512_setzero_ps();
      for (int64_t b = 0; b < blocks; b += kStep) {
        const int64_t e = std::min(blocks, b + kStep);
        full(group, p0, b, e, f);
        full(group, p1, b, e, f + P);
      }
      Store(f, P, a.y + m * a.y_pitch + n, a.y_pitch, ncols, bias);
      Store(f + P, P, a.y + (m + P) * a.y_pitch + n, a.y_pitch, ncols, bias);
    }
    for (; m < m1; m += P) {
      const int rm = static_cast<int>(std::min(P, m1 - m));
      __m512 f[P];
      for (auto& v : f) v = _mm512_setzero_ps();
      part(rm, group, a.act + (m / P) * a.act_pitch, 0, blocks, f);
      Store(f, rm, a.y + m * a.y_pitch + n, a.y_pitch, ncols, bias);
    }
  }
}

}  // namespace phx::ops::cpu::avx512::tile16
