// F32/F16 (and BF16 where the CPU lacks AVX-512 BF16) weights, AVX-512, every M: one summation
// order per output element by construction. Output column n is lane n % 64 of a 64-column
// panel; within each K block of kKc values it is one sequential FMA chain over k (starting at
// zero), and the blocks are combined in order (y = block 0 + bias, then y += each next block).
// Nothing else adds into a column: no horizontal reduction, no K tail masking, no per-M or
// per-thread variant. So a row's result does not depend on how many rows it came with, on the
// thread split or on which of the two paths below ran:
// - weights repacked at load (PrepareMatmul: the 64-row group layout of repack_formats.h,
//   k-major, in the weight's own type): GemmFloatGroups reads each group as one sequential
//   stream. Up to kDirectRows rows per task (decode) convert the weights in registers as they
//   are loaded; more rows convert a K block of F16/BF16 into an f32 panel in scratch first
//   (F32 blocks are read in place) and sweep it with the 6-row tile;
// - weights where they lie (PHX_CPU_COPY_FLOAT=0, expert slices that are not whole groups):
//   GemmFloatPanel packs a panel of 64 rows x kKc values per task into scratch (transposed,
//   converted) and sweeps it the same way.
// The tile: RM activation rows x 64 columns = 4 * RM zmm accumulators; per value 4 panel loads
// and RM broadcast activations feed 4 * RM FMAs.
#define PHX_ISA_NS avx512
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "ops/cpu/kernels.h"
#include "ops/cpu/repack_formats.h"
#include "ops/cpu/transpose_avx512.h"

#define PHX_UNROLL _Pragma("GCC unroll 16")

namespace phx::ops::cpu::avx512 {
namespace {

constexpr int kCols = kFloatGroupRows;  // weight rows per panel: 4 zmm of 16 columns
static_assert(kCols == 64);
constexpr int kRM = 6;                 // activation rows per microkernel tile
constexpr int64_t kKc = kFloatKBlock;  // K block in values
constexpr int64_t kRowBytes = 4 * kCols;
constexpr int64_t kDirectRows = 4;  // up to this many rows read F16/BF16 groups without a panel
static_assert(kKc * kRowBytes <= kGemmScratchBytes);

// Packs values [k0, k0 + kc) of `rows` (<= kCols) F32, F16 or BF16 weight rows; missing rows and
// values are zeros (the panel holds ceil(kc / 16) * 16 rows).
void PackPanel(const uint8_t* w, int64_t pitch, DType t, int rows, int64_t k0, int64_t kc,
               uint8_t* panel) {
  for (int g = 0; g < kCols / 16; ++g) {
    for (int64_t k = 0; k < kc; k += 16) {
      const int64_t left = kc - k;
      const __mmask16 mask = left >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << left) - 1);
      __m512i r[16];
      PHX_UNROLL
      for (int i = 0; i < 16; ++i) {
        const int row = 16 * g + i;
        if (row >= rows) {
          r[i] = _mm512_setzero_si512();
        } else if (t == DType::kF16) {
          const __m256i h = _mm256_maskz_loadu_epi16(mask, w + row * pitch + 2 * (k0 + k));
          r[i] = _mm512_castps_si512(_mm512_cvtph_ps(h));
        } else if (t == DType::kBF16) {
          const __m256i h = _mm256_maskz_loadu_epi16(mask, w + row * pitch + 2 * (k0 + k));
          r[i] = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
        } else {
          r[i] = _mm512_maskz_loadu_epi32(mask, w + row * pitch + 4 * (k0 + k));
        }
      }
      Transpose16x16(r);
      uint8_t* out = panel + k * kRowBytes + 64 * g;
      PHX_UNROLL
      for (int i = 0; i < 16; ++i) _mm512_store_si512(out + i * kRowBytes, r[i]);
    }
  }
}

// The 64 f32 weights of value k (WT = F32 or F16: at p + k * 64 values) or of the pair k / 2
// (BF16: 32-bit units (w[2j], w[2j + 1]) at p + (k / 2) * 256 bytes; `hi` picks w[2j + 1]).
template <DType WT>
inline void LoadGroupValue(const uint8_t* p, int64_t k, bool hi, __m512 (&wv)[4]) {
  if constexpr (WT == DType::kF32) {
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) wv[g] = _mm512_loadu_ps(p + k * 256 + 64 * g);
  } else if constexpr (WT == DType::kF16) {
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) {
      wv[g] =
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + k * 128) + g));
    }
  } else {
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) {
      const __m512i u = _mm512_loadu_si512(p + (k / 2) * 256 + 64 * g);
      wv[g] = _mm512_castsi512_ps(hi ? _mm512_and_si512(u, _mm512_set1_epi32(-65536))
                                     : _mm512_slli_epi32(u, 16));
    }
  }
}

// y[0:RM, 0:ncols] (+)= x[0:RM, k0:k0 + kc] . weights: accumulate ? y += tile : y = tile + bias.
// w points at value k0 of an f32 panel / F32 or F16 group (WT), or at pair k0 / 2 of a BF16
// group (k0 even). Every lane is the chain c = fma(x_k, w_k, c), k = k0, k0 + 1, ... in order.
template <int RM, DType WT>
void Tile(const float* x, int64_t xp, const uint8_t* w, int64_t kc, float* y, int64_t yp, int ncols,
          const float* bias, bool accumulate) {
  __m512 c[RM][4];
  PHX_UNROLL
  for (int m = 0; m < RM; ++m) {
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) c[m][g] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; ++k) {
    __m512 wv[4];
    LoadGroupValue<WT>(w, k, (k & 1) != 0, wv);
    PHX_UNROLL
    for (int m = 0; m < RM; ++m) {
      const __m512 xv = _mm512_set1_ps(x[m * xp + k]);
      PHX_UNROLL
      for (int g = 0; g < 4; ++g) c[m][g] = _mm512_fmadd_ps(xv, wv[g], c[m][g]);
    }
  }
  StoreTile<RM>(c, y, yp, ncols, bias, accumulate);
}

using TileFn = void (*)(const float*, int64_t, const uint8_t*, int64_t, float*, int64_t, int,
                        const float*, bool);
template <DType WT>
constexpr TileFn kTiles[kRM + 1] = {nullptr,     Tile<1, WT>, Tile<2, WT>, Tile<3, WT>,
                                    Tile<4, WT>, Tile<5, WT>, Tile<6, WT>};

// Rows [m0, m1) of y[:, n : n + ncols] for one K block whose weights are `panel` (read as WT).
template <DType WT>
void Sweep(const GemmArgs& a, const uint8_t* panel, int64_t n, int ncols, int64_t k0, int64_t kc,
           int64_t m0, int64_t m1) {
  const int64_t xp = a.act_pitch / 4;
  for (int64_t m = m0; m < m1; m += kRM) {
    const int rm = static_cast<int>(std::min<int64_t>(kRM, m1 - m));
    kTiles<WT>[rm](reinterpret_cast<const float*>(a.act) + m * xp + k0, xp, panel, kc,
                   a.y + m * a.y_pitch + n, a.y_pitch, ncols, a.bias ? a.bias + n : nullptr,
                   k0 > 0);
  }
}

// Converts values [0, kc) of an F16 or BF16 group block (at value / pair 0) into an f32 panel.
template <DType WT>
void ConvertBlock(const uint8_t* w, int64_t kc, uint8_t* panel) {
  for (int64_t k = 0; k < kc; ++k) {
    __m512 wv[4];
    LoadGroupValue<WT>(w, k, (k & 1) != 0, wv);
    PHX_UNROLL
    for (int g = 0; g < 4; ++g) _mm512_store_ps(panel + k * kRowBytes + 64 * g, wv[g]);
  }
}

template <DType WT>
void Groups(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1, uint8_t* scratch) {
  // Bytes of K block k0's start within a group.
  constexpr int64_t kValueBytes = WT == DType::kF32 ? 256 : 128;  // BF16: 256 per pair
  for (int64_t n = n0; n < n1; n += kCols) {
    const int ncols = static_cast<int>(std::min<int64_t>(kCols, n1 - n));
    const uint8_t* group = a.w + (n / kCols) * a.w_pitch;
    for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
      const int64_t kc = std::min(kKc, a.K - k0);
      const uint8_t* block = group + k0 * kValueBytes;
      if (WT == DType::kF32 || m1 - m0 <= kDirectRows) {
        Sweep<WT>(a, block, n, ncols, k0, kc, m0, m1);
      } else {
        ConvertBlock<WT>(block, kc, scratch);
        Sweep<DType::kF32>(a, scratch, n, ncols, k0, kc, m0, m1);
      }
    }
  }
}

}  // namespace

void GemmFloatPanel(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                    uint8_t* scratch) {
  for (int64_t n = n0; n < n1; n += kCols) {
    const int ncols = static_cast<int>(std::min<int64_t>(kCols, n1 - n));
    for (int64_t k0 = 0; k0 < a.K; k0 += kKc) {
      const int64_t kc = std::min(kKc, a.K - k0);
      PackPanel(a.w + n * a.w_pitch, a.w_pitch, a.wtype, ncols, k0, kc, scratch);
      Sweep<DType::kF32>(a, scratch, n, ncols, k0, kc, m0, m1);
    }
  }
}

// a.w: the 64-row group layout (a.w_pitch = FloatGroupBytes), n0 a multiple of 64.
void GemmFloatGroups(const GemmArgs& a, int64_t n0, int64_t n1, int64_t m0, int64_t m1,
                     uint8_t* scratch) {
  switch (a.wtype) {
    case DType::kF16:
      return Groups<DType::kF16>(a, n0, n1, m0, m1, scratch);
    case DType::kBF16:
      return Groups<DType::kBF16>(a, n0, n1, m0, m1, scratch);
    default:
      return Groups<DType::kF32>(a, n0, n1, m0, m1, scratch);
  }
}

}  // namespace phx::ops::cpu::avx512
