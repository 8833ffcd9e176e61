// On-device sampling (semantics in kernels/sampling.h): one CTA of kSamplingThreads per row.
// Thresholds are found by 4-pass radix selection over order-preserving 32-bit keys of the logits
// (8 bits per pass, 256-bin shared histograms of counts for top-k and of fixed-point masses for
// top-p); integer atomics make every histogram exact. The final draw walks contiguous per-thread
// chunks of the vocabulary after an exclusive block scan of their masses.
#include <cmath>

#include "kernels/device_types.cuh"
#include "kernels/philox.h"
#include "kernels/sampling.h"

namespace phx::kernels {
namespace {

constexpr int kThreads = kSamplingThreads;
constexpr int kWarps = kThreads / 32;
using u64 = unsigned long long;

// Order-preserving map of a float to uint32 (larger float -> larger key).
__device__ __forceinline__ uint32_t FloatKey(float f) {
  const uint32_t b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

struct Shared {
  u64 bins[256];
  u64 warp_u64[kWarps];
  float warp_f[kWarps];
  int warp_i[kWarps];
  u64 scalar_u64;
  uint32_t scalar_u32;
  float scalar_f;
  int scalar_i;
};

// Block-wide max of (value, index), lowest index on ties; every thread gets the result.
__device__ void BlockArgMax(Shared& s, float v, int i, float* out_v, int* out_i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > v || (ov == v && oi < i)) v = ov, i = oi;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) s.warp_f[warp] = v, s.warp_i[warp] = i;
  __syncthreads();
  if (warp == 0) {
    v = s.warp_f[lane];
    i = s.warp_i[lane];
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      const float ov = __shfl_xor_sync(0xffffffffu, v, o);
      const int oi = __shfl_xor_sync(0xffffffffu, i, o);
      if (ov > v || (ov == v && oi < i)) v = ov, i = oi;
    }
    if (lane == 0) s.scalar_f = v, s.scalar_i = i;
  }
  __syncthreads();
  *out_v = s.scalar_f;
  *out_i = s.scalar_i;
  __syncthreads();
}

// Block-wide exclusive prefix sum of v; *total gets the sum.
__device__ u64 BlockExclusiveScan(Shared& s, u64 v, u64* total) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  u64 incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const u64 n = __shfl_up_sync(0xffffffffu, incl, o);
    if (lane >= o) incl += n;
  }
  if (lane == 31) s.warp_u64[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    const u64 wv = s.warp_u64[lane];
    u64 wincl = wv;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const u64 n = __shfl_up_sync(0xffffffffu, wincl, o);
      if (lane >= o) wincl += n;
    }
    s.warp_u64[lane] = wincl - wv;  // exclusive warp offsets
    if (lane == 31) s.scalar_u64 = wincl;
  }
  __syncthreads();
  const u64 result = s.warp_u64[warp] + incl - v;
  *total = s.scalar_u64;
  __syncthreads();
  return result;
}

struct RowView {
  const float* logits;
  int vocab;
  float inv_t;
  float zmax;
  __device__ float Z(int i) const { return logits[i] * inv_t; }
  __device__ u64 Mass(int i) const {
    const float e = expf(Z(i) - zmax);
    return __float2ull_rn(e * static_cast<float>(1ull << kSamplingMassBits));
  }
};

// The largest key t with weight(keys >= t) >= need, among tokens with key >= floor_key; weight is
// 1 per token (kMass false) or its mass.
template <bool kMass>
__device__ uint32_t RadixSelect(Shared& s, const RowView& r, uint32_t floor_key, u64 need) {
  uint32_t prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < 256; b += kThreads) s.bins[b] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < r.vocab; i += kThreads) {
      const uint32_t key = FloatKey(r.logits[i]);
      if (key < floor_key || (key & mask) != prefix) continue;
      const u64 w = kMass ? r.Mass(i) : 1ull;
      if (w != 0) atomicAdd(&s.bins[(key >> shift) & 255u], w);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      u64 cum = 0;
      int d = 255;
      for (; d > 0; --d) {
        if (cum + s.bins[d] >= need) break;
        cum += s.bins[d];
      }
      s.scalar_u64 = need - cum;
      s.scalar_u32 = static_cast<uint32_t>(d);
    }
    __syncthreads();
    need = s.scalar_u64;
    prefix |= s.scalar_u32 << shift;
    mask |= 255u << shift;
    __syncthreads();
  }
  return prefix;
}

__global__ void __launch_bounds__(kThreads) SamplingKernel(const SamplingParams p) {
  __shared__ Shared s;
  const int row = blockIdx.x;
  const SamplingRow rp = p.row_params[row];
  RowView r{p.logits + static_cast<int64_t>(row) * p.logits_stride, p.vocab, 1.f, 0.f};

  float best = -INFINITY;
  int best_i = 0;
  for (int i = threadIdx.x; i < r.vocab; i += kThreads) {
    const float v = r.logits[i];
    if (v > best) best = v, best_i = i;  // strided order: the first hit is the lowest index
  }
  float lmax;
  int argmax;
  BlockArgMax(s, best, best_i, &lmax, &argmax);
  if (!(rp.temperature > 0.f) || lmax == -INFINITY) {
    if (threadIdx.x == 0) p.tokens[row] = argmax;
    return;
  }
  r.inv_t = 1.f / rp.temperature;
  r.zmax = lmax * r.inv_t;

  uint32_t floor_key = 0;
  if (rp.top_k > 0 && rp.top_k < r.vocab) {
    floor_key = RadixSelect<false>(s, r, 0, static_cast<u64>(rp.top_k));
  }
  if (rp.top_p < 1.f) {
    u64 mass = 0;
    for (int i = threadIdx.x; i < r.vocab; i += kThreads) {
      if (FloatKey(r.logits[i]) >= floor_key) mass += r.Mass(i);
    }
    u64 total;
    BlockExclusiveScan(s, mass, &total);
    const double want = ceil(static_cast<double>(rp.top_p) * static_cast<double>(total));
    const u64 need = want < 1.0 ? 1ull : static_cast<u64>(want);
    floor_key = RadixSelect<true>(s, r, floor_key, need);
  }

  // Contiguous chunks, an exclusive scan of their kept masses, then the owner of the target
  // walks its chunk.
  const int chunk = (r.vocab + kThreads - 1) / kThreads;
  const int c0 = min(r.vocab, static_cast<int>(threadIdx.x) * chunk);
  const int c1 = min(r.vocab, c0 + chunk);
  u64 mine = 0;
  for (int i = c0; i < c1; ++i) {
    if (FloatKey(r.logits[i]) >= floor_key) mine += r.Mass(i);
  }
  u64 total;
  const u64 before = BlockExclusiveScan(s, mine, &total);
  const u64 target = ScaleToRange(PhiloxBits64(rp.seed, rp.counter), total);
  if (target >= before && target < before + mine) {
    u64 cum = before;
    for (int i = c0; i < c1; ++i) {
      if (FloatKey(r.logits[i]) < floor_key) continue;
      cum += r.Mass(i);
      if (cum > target) {
        p.tokens[row] = i;
        break;
      }
    }
  }
}

}  // namespace

cudaError_t LaunchSampling(const SamplingParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateSampling(p); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  SamplingKernel<<<p.rows, kThreads, 0, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
