// On-device token sampling from f32 logits (host launcher), one CTA per row.
//
// Per row, with l the logits and r = row_params[row]:
//   greedy (r.temperature <= 0): the index of the largest logit (lowest index on ties).
//   otherwise z = l * (1 / temperature) in f32 and every token gets the integer mass
//     w_i = round(expf(z_i - max z) * 2^kSamplingMassBits) (fixed point, so every sum below is
//     exact and independent of summation order: the result is reproducible bit for bit);
//   top-k (0 < r.top_k < vocab): keep the tokens whose logit is >= the k-th largest logit (ties
//     at the boundary are all kept);
//   top-p (r.top_p < 1): of those, keep the tokens whose logit is >= the largest threshold t for
//     which the kept mass with logit >= t is >= ceil(top_p * kept mass) (again ties kept);
//   sample: target = ScaleToRange(PhiloxBits64(r.seed, r.counter), W) with W the final kept
//     mass; the token is the first kept index i (in index order) whose cumulative kept mass
//     exceeds target. Same distribution as sampling in sorted order; a pure function of
//     (logits, r), recomputable on the host (kernels/philox.h).
// Logits of -inf (masked tokens) get mass 0 and are never sampled unless every logit is -inf (the
// row then falls back to greedy). NaN logits are not supported.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace phx::kernels {

inline constexpr int kSamplingMassBits = 40;
inline constexpr int kSamplingThreads = 1024;

struct alignas(16) SamplingRow {
  float temperature = 0.f;  // <= 0: greedy
  int32_t top_k = 0;        // <= 0 or >= vocab: off
  float top_p = 1.f;        // >= 1: off
  int32_t pad = 0;
  uint64_t seed = 0;     // the request's seed
  uint64_t counter = 0;  // e.g. the request's decode step: one random draw per (seed, counter)
};
static_assert(sizeof(SamplingRow) == 32);

struct SamplingParams {
  const float* logits = nullptr;  // [rows, vocab] f32, rows logits_stride elements apart
  int64_t logits_stride = 0;
  const SamplingRow* row_params = nullptr;  // device [rows]
  int32_t* tokens = nullptr;                // device [rows] out: the sampled token ids
  int32_t rows = 0;
  int32_t vocab = 0;
};

cudaError_t ValidateSampling(const SamplingParams& p);
cudaError_t LaunchSampling(const SamplingParams& p, cudaStream_t stream);

}  // namespace phx::kernels
