// Mixture-of-experts kernels: the router (one CTA per row: softmax in shared memory, then k
// rounds of a block argmax), the device grouping of routed rows by expert (one CTA: counts, a
// scan, then each row's place in its expert's segment) and the weighted combination.
#include <algorithm>
#include <climits>

#include "kernels/device_types.cuh"
#include "kernels/dispatch.h"
#include "kernels/moe.h"

namespace phx::kernels {
namespace {

constexpr int kRouteThreads = 256;
constexpr int kGroupThreads = 1024;

// (value, index) of the largest value, the lower index on ties, across the CTA.
__device__ __forceinline__ void ArgMaxPair(float& v, int& i) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float vo = __shfl_xor_sync(0xffffffffu, v, o);
    const int io = __shfl_xor_sync(0xffffffffu, i, o);
    if (vo > v || (vo == v && io < i)) {
      v = vo;
      i = io;
    }
  }
}

__global__ void __launch_bounds__(kRouteThreads) MoeRouteKernel(const MoeRouteParams p) {
  __shared__ float s_p[kMaxRouteExperts];
  __shared__ float s_wv[kRouteThreads / 32];
  __shared__ int s_wi[kRouteThreads / 32];
  __shared__ double s_sum[kRouteThreads / 32];
  __shared__ float s_w[kMaxRouteTopK];
  const int64_t row = blockIdx.x;
  const int E = p.n_experts;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float* x = p.logits + row * p.logits_stride;

  // Softmax as the CPU's SoftmaxRow: e = exp(x - max) in f32, the sum in double, p = e * (1/sum).
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < E; i += kRouteThreads) mx = fmaxf(mx, x[i]);
  mx = WarpMax(mx);
  if (lane == 0) s_wv[warp] = mx;
  __syncthreads();
  mx = s_wv[0];
  for (int w = 1; w < kRouteThreads / 32; ++w) mx = fmaxf(mx, s_wv[w]);
  const bool masked = mx == -INFINITY;  // every logit -inf: no mass anywhere
  double sum = 0;
  for (int i = threadIdx.x; i < E; i += kRouteThreads) {
    const float e = masked ? 0.f : expf(x[i] - mx);
    s_p[i] = e;
    sum += e;
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  if (lane == 0) s_sum[warp] = sum;
  __syncthreads();
  double total = 0;
  for (int w = 0; w < kRouteThreads / 32; ++w) total += s_sum[w];
  const float inv = masked ? 0.f : static_cast<float>(1.0 / total);
  for (int i = threadIdx.x; i < E; i += kRouteThreads) s_p[i] *= inv;
  __syncthreads();

  // Top k: a block argmax per slot; the chosen expert drops to -1 (below every probability).
  int32_t* ids = p.ids + row * p.k;
  for (int s = 0; s < p.k; ++s) {
    float v = -2.f;
    int idx = INT_MAX;
    for (int i = threadIdx.x; i < E; i += kRouteThreads) {
      if (s_p[i] > v) {  // ascending i: the first of equal values stays
        v = s_p[i];
        idx = i;
      }
    }
    ArgMaxPair(v, idx);
    if (lane == 0) {
      s_wv[warp] = v;
      s_wi[warp] = idx;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      float bv = s_wv[0];
      int bi = s_wi[0];
      for (int w = 1; w < kRouteThreads / 32; ++w) {
        if (s_wv[w] > bv || (s_wv[w] == bv && s_wi[w] < bi)) {
          bv = s_wv[w];
          bi = s_wi[w];
        }
      }
      ids[s] = bi;
      s_w[s] = bv;
      s_p[bi] = -1.f;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    float* w = p.weights + row * p.weights_stride;
    float ws = 0.f;
    for (int s = 0; s < p.k; ++s) ws += s_w[s];
    const float div = p.normalize ? fmaxf(ws, 6.103515625e-5f) : 1.f;
    for (int s = 0; s < p.k; ++s) w[s] = p.normalize ? s_w[s] / div : s_w[s];
  }
}

// Workspace: offs[E + 2] (segment e = [offs[e], offs[e+1]); segment E holds rows with a bad id),
// then order[R] (routed rows by expert).
__global__ void __launch_bounds__(kGroupThreads) ExpertGroupKernel(const ExpertGemvParams p) {
  __shared__ int s_count[kMaxRouteExperts + 1];
  __shared__ int s_next[kMaxRouteExperts + 1];
  const int E = p.n_experts;
  const int R = p.tokens * p.top_k;
  int* offs = static_cast<int*>(p.workspace);
  int* order = offs + E + 2;
  for (int e = threadIdx.x; e <= E; e += kGroupThreads) s_count[e] = 0;
  __syncthreads();
  for (int r = threadIdx.x; r < R; r += kGroupThreads) {
    const int e = p.ids[r];
    atomicAdd(&s_count[e >= 0 && e < E ? e : E], 1);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int acc = 0;
    for (int e = 0; e <= E; ++e) {
      offs[e] = acc;
      s_next[e] = acc;
      acc += s_count[e];
    }
    offs[E + 1] = acc;
  }
  __syncthreads();
  for (int r = threadIdx.x; r < R; r += kGroupThreads) {
    const int e = p.ids[r];
    order[atomicAdd(&s_next[e >= 0 && e < E ? e : E], 1)] = r;
  }
}

__global__ void __launch_bounds__(256) MoeCombineKernel(const MoeCombineParams p) {
  const int64_t total = static_cast<int64_t>(p.rows) * p.dim;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / p.dim, d = i % p.dim;
    const float* w = p.weights + t * p.weights_stride;
    float acc = 0.f;
    for (int s = 0; s < p.k; ++s) acc = fmaf(w[s], p.y[(t * p.k + s) * p.y_stride + d], acc);
    p.out[t * p.out_stride + d] = acc + p.residual[t * p.residual_stride + d];
  }
}

}  // namespace

cudaError_t LaunchMoeRoute(const MoeRouteParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateMoeRoute(p); e != cudaSuccess) return e;
  if (p.rows == 0) return cudaSuccess;
  MoeRouteKernel<<<p.rows, kRouteThreads, 0, stream>>>(p);
  return LaunchStatus();
}

cudaError_t LaunchExpertGemv(const ExpertGemvParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateExpertGemv(p); e != cudaSuccess) return e;
  if (p.tokens == 0) return cudaSuccess;
  ExpertGroupKernel<<<1, kGroupThreads, 0, stream>>>(p);
  if (cudaError_t e = LaunchStatus(); e != cudaSuccess) return e;
  switch (p.w_dtype) {
    case DType::kF16:
      return RunExpertGemv<DType::kF16>(p, stream);
    case DType::kBF16:
      return RunExpertGemv<DType::kBF16>(p, stream);
    case DType::kQ8_0:
      return RunExpertGemv<DType::kQ8_0>(p, stream);
    case DType::kQ6_K:
      return RunExpertGemv<DType::kQ6_K>(p, stream);
    default:
      return RunExpertGemv<DType::kQ4_K>(p, stream);
  }
}

cudaError_t LaunchMoeCombine(const MoeCombineParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateMoeCombine(p); e != cudaSuccess) return e;
  const int64_t total = static_cast<int64_t>(p.rows) * p.dim;
  if (total == 0) return cudaSuccess;
  const int64_t blocks = std::min<int64_t>((total + 255) / 256, 132 * 16);
  MoeCombineKernel<<<static_cast<unsigned>(blocks), 256, 0, stream>>>(p);
  return LaunchStatus();
}

}  // namespace phx::kernels
