// Paged prefill attention, FlashAttention-2 style on mma.sync tensor cores (included by the
// per-instantiation .cu files).
//
// One CTA (4 warps) per (PrefillTile, KV head). The tile's 64 rows are "packed" query rows:
// row r is query token (row_begin + r) / group and query head (row_begin + r) % group of the KV
// head's group, so one pass over K/V serves every head of the group (FlashInfer's GQA packing).
// Each warp owns 16 rows. Per 64-token KV step: S = Q K^T (ldmatrix + m16n8k16), causal and
// length masking where the step crosses a row's horizon, online softmax in the log2 domain, then
// O += P V with P taken straight from the S accumulators. K and V are gathered page by page with
// cp.async (tokens past kv_len are zero-filled, never read): V[j] loads while S is computed,
// K[j+1] while P V runs. Query row j of a sequence sees positions 0..kv_len - nq + j, which is
// also chunked prefill over a cached prefix. kExt: a sliding window masks the keys at or below
// limit - window of each row and skips the KV steps wholly below the tile's first row's window;
// soft-capped scores are cap * tanh(q.k * scale / cap), then taken to the log2 domain.
#pragma once

#include <cmath>

#include "kernels/attention.h"
#include "kernels/device_types.cuh"
#include "kernels/mma.cuh"

namespace phx::kernels {

template <int kHeadDim>
constexpr int PrefillSmemBytes() {
  return 3 * kPrefillTileRows * (kHeadDim + 8) * 2;
}

template <int kHeadDim, typename T, bool kExt>
__global__ void __launch_bounds__(128) PagedPrefillKernel(const PagedPrefillParams p) {
  constexpr int kBr = kPrefillTileRows;
  constexpr int kBc = kPrefillTileKv;
  static_assert(kBr == kBc, "shared-memory sizing assumes equal Q and KV tiles");
  constexpr int kStride = kHeadDim + 8;  // padded row (elements): conflict-free ldmatrix
  constexpr int kChunks = kHeadDim / 8;  // 16-byte chunks per row
  constexpr int kKSteps = kHeadDim / 16;
  constexpr int kSTiles = kBc / 8;       // n8 tiles of S per warp
  constexpr int kOTiles = kHeadDim / 8;  // n8 tiles of O per warp
  constexpr float kLog2e = 1.4426950408889634f;

  extern __shared__ uint4 smem[];
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + kBr * kStride;
  T* sV = sK + kBc * kStride;

  const PrefillTile tile = p.tiles[blockIdx.x];
  const int kvh = blockIdx.y;
  const int n_kv = p.kv.n_kv_heads;
  const int group = p.n_heads / n_kv;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2;
  const int t = lane & 3;

  // ---- Q tile (rows past the sequence's packed rows are zero) ----
  const T* qbase = static_cast<const T*>(p.q);
  for (int c = tid; c < kBr * kChunks; c += blockDim.x) {
    const int r = c / kChunks, part = c % kChunks;
    const int packed = tile.row_begin + r;
    const int qi = packed / group;
    const bool ok = qi < tile.nq;
    const T* src = qbase;
    if (ok) {
      src += static_cast<int64_t>(tile.q_begin + qi) * p.q_stride +
             static_cast<int64_t>(kvh * group + packed % group) * kHeadDim + part * 8;
    }
    CpAsync16(sQ + r * kStride + part * 8, src, ok);
  }

  // ---- Causal extent of the tile ----
  const int first_q = tile.row_begin / group;
  const int last_q = min(tile.nq - 1, (tile.row_begin + kBr - 1) / group);
  const int kv_end = tile.kv_len - tile.nq + last_q + 1;  // tokens any row sees
  const int min_limit = tile.kv_len - tile.nq + first_q;  // the first row's last position
  const int n_steps = (kv_end + kBc - 1) / kBc;
  // With a window, the steps wholly below the first row's window hold no key any row sees.
  const bool windowed = kExt && p.window > 0;
  const int j_first = windowed ? max(0, min_limit - p.window + 1) / kBc : 0;

  const int32_t* pages = p.kv_indices + p.kv_indptr[tile.seq];
  const int bs = p.kv.block_size;
  const int64_t slot_stride = static_cast<int64_t>(n_kv) * kHeadDim;
  const T* kcache = static_cast<const T*>(p.kv.k) + static_cast<int64_t>(kvh) * kHeadDim;
  const T* vcache = static_cast<const T*>(p.kv.v) + static_cast<int64_t>(kvh) * kHeadDim;
  auto load_kv = [&](T* dst, const T* cache, int kv0) {
    for (int c = tid; c < kBc * kChunks; c += blockDim.x) {
      const int r = c / kChunks, part = c % kChunks;
      const int tok = kv0 + r;
      const bool ok = tok < tile.kv_len;
      const T* src = cache;
      if (ok) {
        const int64_t slot = static_cast<int64_t>(pages[tok / bs]) * bs + tok % bs;
        src = cache + slot * slot_stride + part * 8;
      }
      CpAsync16(dst + r * kStride + part * 8, src, ok);
    }
  };

  load_kv(sK, kcache, j_first * kBc);
  CpAsyncCommit();
  CpAsyncWait<0>();
  __syncthreads();

  uint32_t qf[kKSteps][4];
#pragma unroll
  for (int kk = 0; kk < kKSteps; ++kk) {
    LdMatrixX4(qf[kk], sQ + (warp * 16 + (lane % 16)) * kStride + kk * 16 + (lane / 16) * 8);
  }

  // This thread's two rows: r0 = warp*16 + g and r0 + 8. Padding rows see everything (finite).
  auto row_limit = [&](int r) {
    const int qi = (tile.row_begin + r) / group;
    return qi < tile.nq ? tile.kv_len - tile.nq + qi : tile.kv_len - 1;
  };
  const int lim0 = row_limit(warp * 16 + g);
  const int lim1 = row_limit(warp * 16 + g + 8);

  float o[kOTiles][4];
#pragma unroll
  for (int d = 0; d < kOTiles; ++d) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
  const float scale_log2 = p.scale * kLog2e;
  const bool capped = kExt && p.softcap > 0.f;
  const float cap_scale = capped ? p.scale / p.softcap : 0.f;  // score / cap
  const float cap_log2 = capped ? p.softcap * kLog2e : 0.f;

  for (int j = j_first; j < n_steps; ++j) {
    const int kv0 = j * kBc;
    load_kv(sV, vcache, kv0);
    CpAsyncCommit();
    CpAsyncWait<1>();  // K[j] landed
    __syncthreads();

    float s[kSTiles][4];
#pragma unroll
    for (int n = 0; n < kSTiles; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
#pragma unroll
      for (int jp = 0; jp < kSTiles / 2; ++jp) {
        uint32_t b[4];
        LdMatrixX4(b, sK + (jp * 16 + (lane % 8) + (lane / 16) * 8) * kStride + kk * 16 +
                          ((lane / 8) % 2) * 8);
        Mma16816<T>(s[2 * jp], qf[kk], b[0], b[1]);
        Mma16816<T>(s[2 * jp + 1], qf[kk], b[2], b[3]);
      }
    }

    // Every row's limit is at most kv_len - 1: a step starting past kv_len - 1 - window holds
    // no key below any row's window.
    const bool need_mask =
        kv0 + kBc - 1 > min_limit || (windowed && kv0 <= tile.kv_len - 1 - p.window);
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int n = 0; n < kSTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = capped ? cap_log2 * tanhf(s[n][e] * cap_scale) : s[n][e] * scale_log2;
        if (need_mask) {
          const int tok = kv0 + n * 8 + 2 * t + (e & 1);
          const int lim = e < 2 ? lim0 : lim1;
          if (tok > lim || (windowed && tok <= lim - p.window)) v = -INFINITY;
        }
        s[n][e] = v;
      }
      mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
      mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
    }
#pragma unroll
    for (int off = 1; off <= 2; off <<= 1) {
      mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, off));
      mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, off));
    }
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    const float base0 = mn0 == -INFINITY ? 0.f : mn0;
    const float base1 = mn1 == -INFINITY ? 0.f : mn1;
    const float c0 = exp2f(m0 - base0), c1 = exp2f(m1 - base1);
    m0 = mn0;
    m1 = mn1;
    l0 *= c0;
    l1 *= c1;
#pragma unroll
    for (int d = 0; d < kOTiles; ++d) {
      o[d][0] *= c0;
      o[d][1] *= c0;
      o[d][2] *= c1;
      o[d][3] *= c1;
    }
#pragma unroll
    for (int n = 0; n < kSTiles; ++n) {
      s[n][0] = exp2f(s[n][0] - base0);
      s[n][1] = exp2f(s[n][1] - base0);
      s[n][2] = exp2f(s[n][2] - base1);
      s[n][3] = exp2f(s[n][3] - base1);
      l0 += s[n][0] + s[n][1];
      l1 += s[n][2] + s[n][3];
    }

    CpAsyncWait<0>();  // V[j] landed
    __syncthreads();   // ...for every thread; and every warp is done with sK
    if (j + 1 < n_steps) load_kv(sK, kcache, kv0 + kBc);
    CpAsyncCommit();

#pragma unroll
    for (int kk = 0; kk < kBc / 16; ++kk) {
      const uint32_t a[4] = {Pack2<T>(s[2 * kk][0], s[2 * kk][1]),
                             Pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                             Pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             Pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < kOTiles / 2; ++dp) {
        uint32_t b[4];
        LdMatrixX4Trans(b, sV + (kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8) * kStride + dp * 16 +
                               (lane / 16) * 8);
        Mma16816<T>(o[2 * dp], a, b[0], b[1]);
        Mma16816<T>(o[2 * dp + 1], a, b[2], b[3]);
      }
    }
    __syncthreads();  // every warp is done with sV before the next step overwrites it
  }

#pragma unroll
  for (int off = 1; off <= 2; off <<= 1) {
    l0 += __shfl_xor_sync(0xffffffffu, l0, off);
    l1 += __shfl_xor_sync(0xffffffffu, l1, off);
  }
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int packed = tile.row_begin + warp * 16 + g + half * 8;
    const int qi = packed / group;
    if (qi >= tile.nq) continue;
    const float inv = 1.f / (half == 0 ? l0 : l1);
    T* orow = static_cast<T*>(p.out) + static_cast<int64_t>(tile.q_begin + qi) * p.out_stride +
              static_cast<int64_t>(kvh * group + packed % group) * kHeadDim;
#pragma unroll
    for (int d = 0; d < kOTiles; ++d) {
      *reinterpret_cast<uint32_t*>(orow + d * 8 + 2 * t) =
          Pack2<T>(o[d][2 * half] * inv, o[d][2 * half + 1] * inv);
    }
  }
}

template <int kHeadDim, DType kKv, bool kExt>
cudaError_t RunPagedPrefill(const PagedPrefillParams& p, cudaStream_t stream) {
  using T = typename DevType<kKv>::type;
  constexpr int kSmem = PrefillSmemBytes<kHeadDim>();
  // Cheap host call; repeated per launch so it holds on whichever device is current.
  if (cudaError_t e = cudaFuncSetAttribute(PagedPrefillKernel<kHeadDim, T, kExt>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem);
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid(p.num_tiles, p.kv.n_kv_heads);
  PagedPrefillKernel<kHeadDim, T, kExt><<<grid, 128, kSmem, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
