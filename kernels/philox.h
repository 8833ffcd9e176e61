// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"; the generator of
// cuRAND and Random123), usable from host and device code: the sampler's random numbers are a
// pure function of (seed, counter), so a request's tokens are reproducible on any device and the
// host tests can recompute them.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define PHX_HOST_DEVICE __host__ __device__
#else
#define PHX_HOST_DEVICE
#endif

namespace phx::kernels {

struct Philox4x32Out {
  uint32_t v[4];
};

PHX_HOST_DEVICE inline Philox4x32Out Philox4x32_10(uint64_t counter_lo, uint64_t counter_hi,
                                                   uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * c0;
    const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * c2;
    const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c1 = static_cast<uint32_t>(p1);
    c3 = static_cast<uint32_t>(p0);
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// 64 uniform random bits for (seed, counter).
PHX_HOST_DEVICE inline uint64_t PhiloxBits64(uint64_t seed, uint64_t counter) {
  const Philox4x32Out o = Philox4x32_10(counter, 0, seed);
  return (static_cast<uint64_t>(o.v[0]) << 32) | o.v[1];
}

// floor(bits / 2^64 * total): a uniform integer in [0, total) (total > 0), exact in integers.
PHX_HOST_DEVICE inline uint64_t ScaleToRange(uint64_t bits, uint64_t total) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(bits, total);
#else
  return static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * total) >> 64);
#endif
}

}  // namespace phx::kernels
