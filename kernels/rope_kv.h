// RoPE fused with the paged KV-cache write (host launcher). For each token t: rotates q[t] in
// place, rotates k[t] and writes it and v[t] to cache slot slot_mapping[t] (slot = block *
// block_size + offset; a negative slot skips the write, for padding tokens). n_rot == 0 turns
// RoPE off (a plain KV write; q untouched).
//
// Angles follow ggml exactly (see ops/reference RopeAngles): theta = pos; per pair i the angle is
// freq_scale * theta / freq_factors[i], then theta *= theta_scale, in f32. Pass
// theta_scale = powf(freq_base, -2.0f / n_rot) computed on the host (RopeThetaScale) so the
// device sees the same f32 value as the CPU. YaRN (ext_factor != 0) mixes the interpolated angle
// with the extrapolated one (theta / freq_factors[i]) by the ramp
// (1 - clamp((i - corr_lo) / max(0.001, corr_hi - corr_lo), 0, 1)) * ext_factor, with corr_lo/hi
// from RopeYarnCorrDims; cos and sin of rotated pairs are multiplied by mscale (attn_factor, times
// 1 + 0.1 ln(1 / freq_scale) under YaRN: RopeMscale).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "base/dtype.h"

namespace phx::kernels {

struct RopeKvWriteParams {
  void* q = nullptr;        // [num_tokens, n_heads * head_dim] act dtype, in place; may be null
  int64_t q_stride = 0;     // elements between rows
  const void* k = nullptr;  // [num_tokens, n_kv_heads * head_dim] act dtype
  int64_t k_stride = 0;
  const void* v = nullptr;  // [num_tokens, n_kv_heads * head_dim] act dtype
  int64_t v_stride = 0;
  DType act_dtype = DType::kF16;          // q/k/v: f32, f16 or bf16
  const int32_t* positions = nullptr;     // device [num_tokens]
  const int32_t* slot_mapping = nullptr;  // device [num_tokens]
  void* k_cache = nullptr;                // [num_slots, n_kv_heads, head_dim] cache dtype
  void* v_cache = nullptr;                // [num_slots, n_kv_heads, head_dim] cache dtype
  int64_t num_slots = 0;                  // num_blocks * block_size; slots >= this are skipped
  DType cache_dtype = DType::kF16;        // f16 or bf16
  int32_t num_tokens = 0;
  int32_t n_heads = 0;
  int32_t n_kv_heads = 0;
  int32_t head_dim = 0;  // even, <= 256
  // RoPE
  bool neox = false;        // false: pairs (2i, 2i+1); true: (i, i + n_rot/2)
  int32_t n_rot = 0;        // even, <= head_dim; 0 disables rotation
  float theta_scale = 1.f;  // RopeThetaScale(freq_base, n_rot)
  float freq_scale = 1.f;
  const float* freq_factors = nullptr;  // device [n_rot/2] or null
  float ext_factor = 0.f;               // YaRN extrapolation mix; 0: off
  float corr_lo = 0.f, corr_hi = 0.f;   // RopeYarnCorrDims (used when ext_factor != 0)
  float mscale = 1.f;                   // RopeMscale: multiplies cos and sin
};

// powf(freq_base, -2.0f / n_rot) in f32, as ggml computes it.
float RopeThetaScale(float freq_base, int32_t n_rot);
// YaRN's correction range over the pair index (ggml_rope_yarn_corr_dims), in f32 as the CPU
// backend computes it: lo = max(0, floor(d(beta_fast))), hi = min(n_rot - 1, ceil(d(beta_slow)))
// with d(b) = n_rot ln(n_ctx_orig / (2 pi b)) / (2 ln freq_base).
void RopeYarnCorrDims(int32_t n_rot, float freq_base, int32_t n_ctx_orig, float beta_fast,
                      float beta_slow, float* lo, float* hi);
// The magnitude factor: attn_factor, times 1 + 0.1 ln(1 / freq_scale) when ext_factor != 0.
float RopeMscale(float attn_factor, float ext_factor, float freq_scale);

cudaError_t ValidateRopeKvWrite(const RopeKvWriteParams& p);
cudaError_t LaunchRopeKvWrite(const RopeKvWriteParams& p, cudaStream_t stream);

}  // namespace phx::kernels
