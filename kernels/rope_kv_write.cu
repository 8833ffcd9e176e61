// RoPE fused with the paged KV write: one CTA per token computes the token's angles once into
// shared memory (ggml's iterated f32 product), then rotates every q and k head and writes k and
// v into the token's cache slot.
#include <cmath>

#include "kernels/device_types.cuh"
#include "kernels/dispatch.h"
#include "kernels/error.h"
#include "kernels/rope_kv.h"

namespace phx::kernels {
namespace {

template <typename In, typename C>
__global__ void __launch_bounds__(128) RopeKvWriteKernel(const RopeKvWriteParams p) {
  __shared__ float s_cos[128], s_sin[128];
  const int tok = blockIdx.x;
  const int pos = p.positions[tok];
  const int64_t slot = p.slot_mapping[tok];
  const bool write = slot >= 0 && slot < p.num_slots;
  const int half_rot = p.n_rot / 2;
  for (int i = threadIdx.x; i < half_rot; i += blockDim.x) {
    float theta = static_cast<float>(pos);
    for (int j = 0; j < i; ++j) theta *= p.theta_scale;
    const float ff = p.freq_factors != nullptr ? p.freq_factors[i] : 1.f;
    const float extrap = theta / ff;
    float angle = p.freq_scale * extrap;
    if (p.ext_factor != 0.f) {
      const float y = (static_cast<float>(i) - p.corr_lo) / fmaxf(0.001f, p.corr_hi - p.corr_lo);
      const float ramp = (1.f - fminf(1.f, fmaxf(0.f, y))) * p.ext_factor;
      // Rounded product by product (no fused multiply-add), as the CPU computes it.
      angle = __fadd_rn(__fmul_rn(angle, 1.f - ramp), __fmul_rn(extrap, ramp));
    }
    float sn, cs;
    sincosf(angle, &sn, &cs);
    s_sin[i] = sn * p.mscale;
    s_cos[i] = cs * p.mscale;
  }
  __syncthreads();

  const int hd = p.head_dim;
  const int pairs = hd / 2;
  const int n_q = p.q != nullptr ? p.n_heads : 0;
  In* q = p.q != nullptr ? static_cast<In*>(p.q) + tok * p.q_stride : nullptr;
  const In* k = static_cast<const In*>(p.k) + tok * p.k_stride;
  const In* v = static_cast<const In*>(p.v) + tok * p.v_stride;
  C* kc = static_cast<C*>(p.k_cache) + slot * p.n_kv_heads * hd;
  C* vc = static_cast<C*>(p.v_cache) + slot * p.n_kv_heads * hd;

  for (int idx = threadIdx.x; idx < (n_q + p.n_kv_heads) * pairs; idx += blockDim.x) {
    const int h = idx / pairs;
    const int i = idx % pairs;
    const bool is_q = h < n_q;
    if (!is_q && !write) continue;
    const int base = (is_q ? h : h - n_q) * hd;
    int i0 = 2 * i, i1 = 2 * i + 1;
    const bool rot = i < half_rot;
    if (rot && p.neox) {
      i0 = i;
      i1 = i + half_rot;
    }
    const In* src = is_q ? q : k;
    float x0 = ToF32(src[base + i0]), x1 = ToF32(src[base + i1]);
    if (rot) {
      const float c = s_cos[i], s = s_sin[i];
      const float y0 = x0 * c - x1 * s;
      const float y1 = x0 * s + x1 * c;
      x0 = y0;
      x1 = y1;
    }
    if (is_q) {
      if (rot) {
        q[base + i0] = FromF32<In>(x0);
        q[base + i1] = FromF32<In>(x1);
      }
    } else {
      kc[base + i0] = FromF32<C>(x0);
      kc[base + i1] = FromF32<C>(x1);
    }
  }
  if (!write) return;
  for (int idx = threadIdx.x; idx < p.n_kv_heads * hd; idx += blockDim.x) {
    vc[idx] = FromF32<C>(ToF32(v[idx]));
  }
}

template <typename In, DType kCache>
cudaError_t Run(const RopeKvWriteParams& p, cudaStream_t stream) {
  RopeKvWriteKernel<In, typename DevType<kCache>::type><<<p.num_tokens, 128, 0, stream>>>(p);
  return LaunchStatus();
}

}  // namespace

float RopeThetaScale(float freq_base, int32_t n_rot) {
  return powf(freq_base, -2.0f / static_cast<float>(n_rot));
}

void RopeYarnCorrDims(int32_t n_rot, float freq_base, int32_t n_ctx_orig, float beta_fast,
                      float beta_slow, float* lo, float* hi) {
  auto corr_dim = [&](float beta) {
    return static_cast<float>(n_rot) *
           logf(static_cast<float>(n_ctx_orig) / (beta * 2 * static_cast<float>(M_PI))) /
           (2 * logf(freq_base));
  };
  *lo = fmaxf(0.f, floorf(corr_dim(beta_fast)));
  *hi = fminf(static_cast<float>(n_rot - 1), ceilf(corr_dim(beta_slow)));
}

float RopeMscale(float attn_factor, float ext_factor, float freq_scale) {
  return ext_factor != 0.f ? attn_factor * (1.0f + 0.1f * logf(1.0f / freq_scale)) : attn_factor;
}

cudaError_t ValidateRopeKvWrite(const RopeKvWriteParams& p) {
  if (p.num_tokens < 0 || p.n_heads < 0 || p.n_kv_heads <= 0) {
    return InvalidArgument("rope/kv write: num_tokens %d, n_heads %d, n_kv_heads %d", p.num_tokens,
                           p.n_heads, p.n_kv_heads);
  }
  if (p.head_dim <= 0 || p.head_dim % 2 != 0 || p.head_dim > 256) {
    return InvalidArgument("rope/kv write: head_dim %d must be even and at most 256", p.head_dim);
  }
  if (p.n_rot < 0 || p.n_rot % 2 != 0 || p.n_rot > p.head_dim) {
    return InvalidArgument("rope/kv write: n_rot %d must be even and at most head_dim %d", p.n_rot,
                           p.head_dim);
  }
  if (!std::isfinite(p.ext_factor) || !std::isfinite(p.mscale) || !std::isfinite(p.freq_scale) ||
      !std::isfinite(p.corr_lo) || !std::isfinite(p.corr_hi)) {
    return InvalidArgument(
        "rope/kv write: ext_factor %g, mscale %g, freq_scale %g, corr dims [%g, %g] must be "
        "finite",
        p.ext_factor, p.mscale, p.freq_scale, p.corr_lo, p.corr_hi);
  }
  if (p.act_dtype != DType::kF32 && p.act_dtype != DType::kF16 && p.act_dtype != DType::kBF16) {
    return InvalidArgument(
        "rope/kv write: activation dtype %s is not supported "
        "(supported: f32, f16, bf16)",
        KernelTypeName(p.act_dtype));
  }
  if (p.cache_dtype != DType::kF16 && p.cache_dtype != DType::kBF16) {
    return InvalidArgument("rope/kv write: cache dtype %s is not supported (supported: f16, bf16)",
                           KernelTypeName(p.cache_dtype));
  }
  if (p.num_tokens == 0) return cudaSuccess;
  if (p.k == nullptr || p.v == nullptr || p.positions == nullptr || p.slot_mapping == nullptr ||
      p.k_cache == nullptr || p.v_cache == nullptr) {
    return InvalidArgument("rope/kv write: null pointer argument");
  }
  const int64_t kv_width = static_cast<int64_t>(p.n_kv_heads) * p.head_dim;
  if (p.k_stride < kv_width || p.v_stride < kv_width ||
      (p.q != nullptr && p.q_stride < static_cast<int64_t>(p.n_heads) * p.head_dim)) {
    return InvalidArgument(
        "rope/kv write: row strides (q %lld, k %lld, v %lld) below the row "
        "width",
        static_cast<long long>(p.q_stride), static_cast<long long>(p.k_stride),
        static_cast<long long>(p.v_stride));
  }
  return cudaSuccess;
}

cudaError_t LaunchRopeKvWrite(const RopeKvWriteParams& p, cudaStream_t stream) {
  if (cudaError_t e = ValidateRopeKvWrite(p); e != cudaSuccess) return e;
  if (p.num_tokens == 0) return cudaSuccess;
  return DispatchHalfType("kv cache", p.cache_dtype, [&](auto cache) {
    constexpr DType kC = decltype(cache)::value;
    switch (p.act_dtype) {
      case DType::kF32:
        return Run<float, kC>(p, stream);
      case DType::kF16:
        return Run<__half, kC>(p, stream);
      default:
        return Run<__nv_bfloat16, kC>(p, stream);
    }
  });
}

}  // namespace phx::kernels
