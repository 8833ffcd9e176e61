// Paged decode attention, flash-decoding style (included by the per-instantiation .cu files).
//
// One CTA (4 warps) per (work item, KV head, chunk of up to kDecodeHeadsPerCta query heads of
// that KV head's group): K/V rows are read once for all of those heads. A token's head_dim
// values are split across kHeadDim / 8 lanes, 8 values (16 bytes) each, so a warp covers
// 32 / (kHeadDim / 8) tokens per step and every lane issues kUnroll independent 16-byte K and V
// loads before using them. Each lane keeps a running (max, sum, acc[8]) per head in the log2
// domain; lanes, then warps, are merged at the end. A work item covering a whole sequence writes
// the normalized output; a split writes (acc / sum, max + log2 sum) to the workspace and
// DecodeMergeKernel (attention_decode_merge.cu) combines the splits. An item without tokens
// writes 0 (or the partial (0, -inf)). IO is the type of q and out: T, or float (f32_io).
// kExt: a window starts the item at max(kv_begin, kv_len - window) (an item wholly before the
// window has no tokens), and soft-capped scores are cap * tanh(q.k * scale / cap), taken to the
// log2 domain after the cap.
#pragma once

#include <cmath>
#include <type_traits>

#include "kernels/attention.h"
#include "kernels/device_types.cuh"

namespace phx::kernels {

// 8 consecutive values of a q row as floats: one 16-byte load of T, or two of f32.
template <typename T, typename IO>
__device__ __forceinline__ void LoadQ8(const IO* src, float (&out)[8]) {
  if constexpr (std::is_same_v<IO, float>) {
    const float4 a = *reinterpret_cast<const float4*>(src);
    const float4 b = *reinterpret_cast<const float4*>(src + 4);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
    out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
  } else {
    Unpack8<T>(*reinterpret_cast<const uint4*>(src), out);
  }
}

template <int kHeadDim, typename T, typename IO, bool kExt>
__global__ void __launch_bounds__(128) PagedDecodeKernel(const PagedDecodeParams p) {
  constexpr int kVec = 8;
  constexpr int kLanesPerTok = kHeadDim / kVec;   // 16 or 8
  constexpr int kTokPerWarp = 32 / kLanesPerTok;  // 2 or 4
  constexpr int kWarps = 4;
  constexpr int kTokPerPass = kWarps * kTokPerWarp;
  constexpr int kUnroll = 4;
  constexpr int kHeads = kDecodeHeadsPerCta;
  constexpr float kLog2e = 1.4426950408889634f;

  __shared__ float s_m[kWarps][kHeads];
  __shared__ float s_l[kWarps][kHeads];
  __shared__ float s_acc[kWarps][kHeads][kHeadDim];

  const DecodeWorkItem w = p.work[blockIdx.x];
  const int kvh = blockIdx.y;
  const int n_kv = p.kv.n_kv_heads;
  const int group = p.n_heads / n_kv;
  const int head0 = kvh * group + blockIdx.z * kHeads;  // first query head of this CTA
  const int nh = min(kHeads, group - static_cast<int>(blockIdx.z) * kHeads);
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int dim0 = (lane % kLanesPerTok) * kVec;
  const int tok_lane = warp * kTokPerWarp + lane / kLanesPerTok;

  // Query slices, pre-scaled so that scores come out in the log2 domain (with a soft-cap: scaled
  // only; the cap, then log2e, applies to each score).
  const bool capped = kExt && p.softcap > 0.f;
  const float qscale = capped ? p.scale : p.scale * kLog2e;
  const float inv_cap = capped ? 1.f / p.softcap : 0.f;
  const float cap_log2 = capped ? p.softcap * kLog2e : 0.f;
  int kv_begin = w.kv_begin;
  if constexpr (kExt) {
    if (p.window > 0) kv_begin = max(kv_begin, w.kv_len - p.window);
  }
  float q[kHeads][kVec];
  const IO* qrow = static_cast<const IO*>(p.q) + static_cast<int64_t>(w.q_row) * p.q_stride;
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    if (h < nh) {
      LoadQ8<T, IO>(qrow + static_cast<int64_t>(head0 + h) * kHeadDim + dim0, q[h]);
#pragma unroll
      for (int i = 0; i < kVec; ++i) q[h][i] *= qscale;
    } else {
#pragma unroll
      for (int i = 0; i < kVec; ++i) q[h][i] = 0.f;
    }
  }

  float m[kHeads], l[kHeads], acc[kHeads][kVec];
#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    m[h] = -INFINITY;
    l[h] = 0.f;
#pragma unroll
    for (int i = 0; i < kVec; ++i) acc[h][i] = 0.f;
  }

  const int32_t* pages = p.kv_indices + p.kv_indptr[w.seq];
  const int bs = p.kv.block_size;
  const int64_t slot_stride = static_cast<int64_t>(n_kv) * kHeadDim;  // elements per token slot
  const T* kbase = static_cast<const T*>(p.kv.k) + static_cast<int64_t>(kvh) * kHeadDim + dim0;
  const T* vbase = static_cast<const T*>(p.kv.v) + static_cast<int64_t>(kvh) * kHeadDim + dim0;

  for (int t0 = kv_begin; t0 < w.kv_end; t0 += kTokPerPass * kUnroll) {
    uint4 kr[kUnroll], vr[kUnroll];
    bool valid[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int tok = t0 + u * kTokPerPass + tok_lane;
      valid[u] = tok < w.kv_end;
      kr[u] = make_uint4(0, 0, 0, 0);
      vr[u] = make_uint4(0, 0, 0, 0);
      if (valid[u]) {
        const int64_t slot = static_cast<int64_t>(pages[tok / bs]) * bs + tok % bs;
        kr[u] = *reinterpret_cast<const uint4*>(kbase + slot * slot_stride);
        vr[u] = *reinterpret_cast<const uint4*>(vbase + slot * slot_stride);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float kf[kVec], vf[kVec];
      Unpack8<T>(kr[u], kf);
      Unpack8<T>(vr[u], vf);
#pragma unroll
      for (int h = 0; h < kHeads; ++h) {
        float s = 0.f;
#pragma unroll
        for (int i = 0; i < kVec; ++i) s = fmaf(q[h][i], kf[i], s);
#pragma unroll
        for (int o = kLanesPerTok / 2; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (!valid[u] || h >= nh) continue;
        if constexpr (kExt) {
          if (capped) s = cap_log2 * tanhf(s * inv_cap);
        }
        const float m_new = fmaxf(m[h], s);
        const float corr = exp2f(m[h] - m_new);  // 0 when m was -inf
        const float pexp = exp2f(s - m_new);
        l[h] = l[h] * corr + pexp;
#pragma unroll
        for (int i = 0; i < kVec; ++i) acc[h][i] = fmaf(pexp, vf[i], acc[h][i] * corr);
        m[h] = m_new;
      }
    }
  }

  // Merge the lanes that hold the same dims (different tokens) within the warp.
#pragma unroll
  for (int o = kLanesPerTok; o < 32; o <<= 1) {
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      const float mo = __shfl_xor_sync(0xffffffffu, m[h], o);
      const float lo = __shfl_xor_sync(0xffffffffu, l[h], o);
      const float m_new = fmaxf(m[h], mo);
      const float a = m_new == -INFINITY ? 0.f : exp2f(m[h] - m_new);
      const float b = m_new == -INFINITY ? 0.f : exp2f(mo - m_new);
      l[h] = l[h] * a + lo * b;
#pragma unroll
      for (int i = 0; i < kVec; ++i) {
        const float ao = __shfl_xor_sync(0xffffffffu, acc[h][i], o);
        acc[h][i] = acc[h][i] * a + ao * b;
      }
      m[h] = m_new;
    }
  }
  if (lane < kLanesPerTok) {
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      if (lane == 0) {
        s_m[warp][h] = m[h];
        s_l[warp][h] = l[h];
      }
#pragma unroll
      for (int i = 0; i < kVec; ++i) s_acc[warp][h][dim0 + i] = acc[h][i];
    }
  }
  __syncthreads();

  // Merge the warps; one thread per (head, dim).
  for (int idx = threadIdx.x; idx < nh * kHeadDim; idx += blockDim.x) {
    const int h = idx / kHeadDim;
    const int d = idx % kHeadDim;
    float mx = -INFINITY;
#pragma unroll
    for (int wi = 0; wi < kWarps; ++wi) mx = fmaxf(mx, s_m[wi][h]);
    float sum = 0.f, o = 0.f;
#pragma unroll
    for (int wi = 0; wi < kWarps; ++wi) {
      const float f = s_m[wi][h] == -INFINITY ? 0.f : exp2f(s_m[wi][h] - mx);
      sum += s_l[wi][h] * f;
      o += s_acc[wi][h][d] * f;
    }
    const int head = head0 + h;
    const float out = sum > 0.f ? o / sum : 0.f;  // no tokens: 0, not 0/0
    if (w.partial < 0) {
      IO* orow = static_cast<IO*>(p.out) + static_cast<int64_t>(w.q_row) * p.out_stride;
      orow[static_cast<int64_t>(head) * kHeadDim + d] = FromF32<IO>(out);
    } else {
      const int64_t pi = static_cast<int64_t>(w.partial) * p.n_heads + head;
      p.partial_out[pi * kHeadDim + d] = out;
      if (d == 0) p.partial_lse[pi] = sum > 0.f ? mx + log2f(sum) : -INFINITY;
    }
  }
}

template <int kHeadDim, DType kKv, bool kF32Io, bool kExt>
cudaError_t RunPagedDecode(const PagedDecodeParams& p, cudaStream_t stream) {
  using T = typename DevType<kKv>::type;
  using IO = std::conditional_t<kF32Io, float, T>;
  const int group = p.n_heads / p.kv.n_kv_heads;
  const dim3 grid(p.num_work, p.kv.n_kv_heads,
                  (group + kDecodeHeadsPerCta - 1) / kDecodeHeadsPerCta);
  PagedDecodeKernel<kHeadDim, T, IO, kExt><<<grid, 128, 0, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
