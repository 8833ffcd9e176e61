// Host-side argument checks of the sampling launcher (no device access, unit-tested).
#include "kernels/error.h"
#include "kernels/sampling.h"

namespace phx::kernels {

cudaError_t ValidateSampling(const SamplingParams& p) {
  if (p.rows < 0 || p.vocab <= 0) {
    return InvalidArgument("sampling: bad shape rows %d vocab %d", p.rows, p.vocab);
  }
  if (p.rows == 0) return cudaSuccess;
  if (p.logits == nullptr || p.row_params == nullptr || p.tokens == nullptr) {
    return InvalidArgument("sampling: null pointer argument");
  }
  if (p.logits_stride < p.vocab) {
    return InvalidArgument("sampling: logits_stride %lld is below vocab %d",
                           static_cast<long long>(p.logits_stride), p.vocab);
  }
  return cudaSuccess;
}

}  // namespace phx::kernels
