// Host-side logits processing on one row, shared by the CPU backend's ApplyPenalties/Softmax
// and the runtime sampler.
#pragma once

#include <cstdint>
#include <span>

#include "ops/backend.h"

namespace phx::ops {

// llama.cpp semantics, for each distinct token t with count c in `p`:
//   repetition: logit > 0 ? logit / r : logit * r;  then  logit -= c * frequency + presence.
void ApplyPenaltiesRow(std::span<float> logits, const PenaltyRow& p);

// out[i] = exp((x[i] - max) / T) / sum, computed in double for the sum. T > 0. out may alias x.
// A row whose every logit is -inf (everything masked) has no probability mass: out is all 0
// (never NaN); callers that sample treat it as "no token allowed".
void SoftmaxRow(std::span<const float> x, float temperature, std::span<float> out);

// The index of the largest element, the first one on ties (std::max_element's answer for
// non-NaN rows), with 16 independent lane maxima so the compiler vectorizes the scan. -1 if
// x is empty.
int32_t ArgMax(std::span<const float> x);

// Returns log(sum(exp(x))) computed stably (max + log sum exp(x - max)).
double LogSumExp(std::span<const float> x);

}  // namespace phx::ops
