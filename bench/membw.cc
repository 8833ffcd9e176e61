// Read bandwidth of this machine: T threads stream disjoint parts of one buffer much larger
// than the last-level cache (default 1 GiB) with 256-bit loads and sum them; the best of R
// passes is reported in GB/s (10^9 bytes per second). bench/cpu_vs_llamacpp/run.sh divides each
// decode row's weight traffic by this figure. The buffer is in 2 MiB pages where the kernel
// grants them (madvise MADV_HUGEPAGE, as the CPU backend's weight copies are), so the figure is
// not held down by TLB misses that the decode path does not pay.
//
//   membw [--threads T] [--mib N] [--passes R] [--json]
#include <immintrin.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

__attribute__((target("avx2"))) uint64_t SumAvx2(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a0 = _mm256_add_epi64(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_add_epi64(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_add_epi64(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_add_epi64(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
  alignas(32) uint64_t v[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(v), s);
  return v[0] + v[1] + v[2] + v[3];
}

uint64_t SumPortable(const uint8_t* p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 32 <= n; i += 32) {
    uint64_t v[4];
    std::memcpy(v, p + i, 32);
    s0 += v[0];
    s1 += v[1];
    s2 += v[2];
    s3 += v[3];
  }
  return s0 + s1 + s2 + s3;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, passes = 10;
  size_t mib = 1024;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--mib" && i + 1 < argc) {
      mib = static_cast<size_t>(std::atoll(argv[++i]));
    } else if (a == "--passes" && i + 1 < argc) {
      passes = std::atoi(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "usage: membw [--threads T] [--mib N] [--passes R] [--json]\n");
      return 2;
    }
  }
  if (threads < 1 || passes < 1 || mib < 1) {
    std::fprintf(stderr, "membw: --threads, --mib and --passes must be positive\n");
    return 2;
  }
  constexpr size_t kHuge = size_t{1} << 21;
  const size_t bytes = ((mib << 20) + kHuge - 1) / kHuge * kHuge;
  auto* buf = static_cast<uint8_t*>(std::aligned_alloc(kHuge, bytes));
  if (buf == nullptr) {
    std::fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
    return 1;
  }
  madvise(buf, bytes, MADV_HUGEPAGE);  // a hint: 4 KiB pages where THP is off
  const bool avx2 = __builtin_cpu_supports("avx2");
  const size_t per = bytes / static_cast<size_t>(threads) / 128 * 128;
  // Each thread writes its own part first, so its pages are local to it.
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  double best = 0;
  for (int pass = -1; pass < passes; ++pass) {  // pass -1: first touch, not timed
    std::vector<std::thread> pool;
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        uint8_t* p = buf + static_cast<size_t>(t) * per;
        if (pass < 0) {
          std::memset(p, t + 1, per);
          return;
        }
        sums[t] += avx2 ? SumAvx2(p, per) : SumPortable(p, per);
      });
    }
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (pass >= 0) best = std::max(best, static_cast<double>(per * threads) / s / 1e9);
  }
  uint64_t sink = 0;
  for (uint64_t s : sums) sink += s;
  if (json) {
    std::printf("{\"threads\": %d, \"mib\": %zu, \"passes\": %d, \"read_gb_per_s\": %.2f}\n",
                threads, mib, passes, best);
  } else {
    std::printf("read bandwidth, %d thread(s), %zu MiB buffer, best of %d: %.2f GB/s\n", threads,
                mib, passes, best);
  }
  std::free(buf);
  return sink == 1 ? 3 : 0;  // keeps the sums alive
}
