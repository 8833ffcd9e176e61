// Read bandwidth of this machine: the best rate at which T threads, each pinned to its own CPU,
// stream disjoint parts of one buffer much larger than the last-level cache (default 1 GiB), read
// the way our decode kernels read their weights: 64 bytes at a time into 8 independent
// accumulators, each thread's part as S sequential streams side by side. Variants: AVX-512 loads
// (where the CPU has them) and AVX2 loads (on this Zen 5 VM the 256-bit loads read 5-20%
// faster), each with S = 1, 2 and 4 (one stream is what the repacked quantized matmuls and the
// float GEMV do; several can keep more lines in flight on some hosts). Every variant runs R timed
// passes after an untimed one; the readers meet at a barrier before and after each pass, each
// stamps its own start and end, and a pass lasts from the first start to the last end: the
// reads only (no thread start-up, and no extra thread spinning for the clock, which on a 2-CPU
// machine took a CPU from the readers).
//
// Reported: the best variant's best pass, in GB/s (10^9 bytes per second). Best-of, not the
// median, because on a shared host other processes can only take bandwidth away: the fastest
// full pass over 1 GiB (tens of milliseconds, far longer than any cache or prefetch warm-up) is
// the best estimate of what the memory system sustains; the median is printed beside it to show
// the noise (--verbose: every variant). bench/cpu_vs_llamacpp/run.sh divides each decode row's
// weight traffic by this figure. The buffer is in 2 MiB pages where the kernel grants them
// (madvise MADV_HUGEPAGE, as the CPU backend's weight copies are), so the figure is not held
// down by TLB misses that the decode path does not pay.
//
//   membw [--threads T] [--mib N] [--passes R] [--streams S] [--no-pin] [--json] [--verbose]
//   (--streams 0, the default: try 1, 2 and 4; --no-pin: let the scheduler place the readers)
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr size_t kStep = 512;  // bytes per stream per loop iteration: 8 x 64-byte loads

// Sums n bytes (a multiple of kStep) of each of the S streams p[0..S), interleaved. S is a
// template argument so that the accumulators stay in registers.
template <int S>
__attribute__((target("avx512f"))) uint64_t SumAvx512(const uint8_t* const* p, size_t n) {
  __m512i a[8];
  for (auto& v : a) v = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += kStep) {
    for (int k = 0; k < S; ++k) {
      const uint8_t* q = p[k] + i;
      for (int j = 0; j < 8; ++j) {
        a[j] = _mm512_add_epi64(a[j], _mm512_load_si512(q + 64 * j));
      }
    }
  }
  __m512i t = a[0];
  for (int j = 1; j < 8; ++j) t = _mm512_add_epi64(t, a[j]);
  alignas(64) uint64_t v[8];
  _mm512_store_si512(v, t);
  uint64_t r = 0;
  for (uint64_t x : v) r += x;
  return r;
}

template <int S>
__attribute__((target("avx2"))) uint64_t SumAvx2(const uint8_t* const* p, size_t n) {
  __m256i a[8];
  for (auto& v : a) v = _mm256_setzero_si256();
  for (size_t i = 0; i < n; i += kStep) {
    for (int k = 0; k < S; ++k) {
      const uint8_t* q = p[k] + i;
      for (int j = 0; j < 8; ++j) {  // 64 bytes per accumulator: two 32-byte loads
        a[j] =
            _mm256_add_epi64(a[j], _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 64 * j)));
        a[j] = _mm256_add_epi64(
            a[j], _mm256_load_si256(reinterpret_cast<const __m256i*>(q + 64 * j + 32)));
      }
    }
  }
  __m256i t = a[0];
  for (int j = 1; j < 8; ++j) t = _mm256_add_epi64(t, a[j]);
  alignas(32) uint64_t v[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(v), t);
  return v[0] + v[1] + v[2] + v[3];
}

template <int S>
uint64_t SumPortable(const uint8_t* const* p, size_t n) {
  uint64_t a[8] = {};
  for (size_t i = 0; i < n; i += kStep) {
    for (int k = 0; k < S; ++k) {
      for (size_t j = 0; j < kStep; j += 64) {
        uint64_t v[8];
        std::memcpy(v, p[k] + i + j, 64);
        for (int l = 0; l < 8; ++l) a[l] += v[l];
      }
    }
  }
  uint64_t t = 0;
  for (uint64_t v : a) t += v;
  return t;
}

// Pins the calling thread to the t-th CPU it may run on (no-op where that fails).
void Pin(int t) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  const int n = CPU_COUNT(&allowed);
  if (n == 0) return;
  int want = t % n;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &allowed)) continue;
    if (want-- == 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(c, &one);
      pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
      return;
    }
  }
}

// A reusable spinning barrier for `n` threads.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void Wait() {
    const int gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
    } else {
      while (gen_.load(std::memory_order_acquire) == gen) _mm_pause();
    }
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<int> gen_{0};
};

struct Result {
  const char* kernel = "";
  int streams = 0;
  double best = 0, median = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 1, passes = 10, streams = 0;
  size_t mib = 1024;
  bool json = false, verbose = false, pin = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (a == "--mib" && i + 1 < argc) {
      mib = static_cast<size_t>(std::atoll(argv[++i]));
    } else if (a == "--passes" && i + 1 < argc) {
      passes = std::atoi(argv[++i]);
    } else if (a == "--streams" && i + 1 < argc) {
      streams = std::atoi(argv[++i]);
    } else if (a == "--json") {
      json = true;
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--no-pin") {
      pin = false;
    } else {
      std::fprintf(stderr,
                   "usage: membw [--threads T] [--mib N] [--passes R] [--streams S] [--no-pin] "
                   "[--json] [--verbose]\n");
      return 2;
    }
  }
  if (threads < 1 || passes < 1 || mib < 1 ||
      (streams != 0 && streams != 1 && streams != 2 && streams != 4)) {
    std::fprintf(stderr,
                 "membw: --threads, --mib and --passes must be positive, --streams 0, 1, 2 or 4\n");
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
  // Variants: load width (AVX-512 where the CPU has it, and AVX2) x streams per thread.
  using SumFn = uint64_t (*)(const uint8_t* const*, size_t);
  struct Variant {
    const char* kernel;
    int streams;
    SumFn fn;
  };
  std::vector<Variant> variants;
  const auto add = [&](const char* k, SumFn f1, SumFn f2, SumFn f4) {
    for (const auto& [n, f] : {std::pair{1, f1}, std::pair{2, f2}, std::pair{4, f4}}) {
      if (streams == 0 || streams == n) variants.push_back({k, n, f});
    }
  };
  if (__builtin_cpu_supports("avx512f")) {
    add("avx512", SumAvx512<1>, SumAvx512<2>, SumAvx512<4>);
  }
  if (__builtin_cpu_supports("avx2")) {
    add("avx2", SumAvx2<1>, SumAvx2<2>, SumAvx2<4>);
  } else {
    add("portable", SumPortable<1>, SumPortable<2>, SumPortable<4>);
  }
  // Each thread's part: 4 streams' worth of whole steps, so every variant reads the same bytes.
  const size_t per = bytes / static_cast<size_t>(threads) / (4 * kStep) * (4 * kStep);

  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  std::vector<Result> results;
  // The readers run every pass themselves, meeting at a barrier before and after each; thread
  // 0 times the passes (no third thread spins for the clock on a machine with 2 CPUs).
  Barrier barrier(threads);
  std::vector<std::vector<double>> rates(variants.size());
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> start(static_cast<size_t>(threads)), end(start);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      if (pin) Pin(t);
      uint8_t* p = buf + static_cast<size_t>(t) * per;
      std::memset(p, t + 1, per);  // first touch by the reader: its pages are local to it
      for (size_t v = 0; v < variants.size(); ++v) {
        const int s = variants[v].streams;
        const size_t len = per / static_cast<size_t>(s);
        const uint8_t* ptrs[4];
        for (int k = 0; k < s; ++k) ptrs[k] = p + static_cast<size_t>(k) * len;
        for (int pass = -1; pass < passes; ++pass) {  // pass -1: warm-up, not timed
          barrier.Wait();
          // Each reader stamps its own start and end; the pass lasts from the first start to
          // the last end (a reader descheduled at the barrier cannot shorten it).
          start[t] = Clock::now();
          sums[t] += variants[v].fn(ptrs, len);
          end[t] = Clock::now();
          barrier.Wait();
          if (t == 0 && pass >= 0) {
            const auto t0 = *std::min_element(start.begin(), start.end());
            const auto t1 = *std::max_element(end.begin(), end.end());
            const double sec = std::chrono::duration<double>(t1 - t0).count();
            rates[v].push_back(static_cast<double>(per * threads) / sec / 1e9);
          }
          barrier.Wait();  // thread 0 has read every stamp
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  for (size_t v = 0; v < variants.size(); ++v) {
    std::sort(rates[v].begin(), rates[v].end());
    results.push_back(
        {variants[v].kernel, variants[v].streams, rates[v].back(), rates[v][rates[v].size() / 2]});
  }

  const Result best =
      *std::max_element(results.begin(), results.end(),
                        [](const Result& a, const Result& b) { return a.best < b.best; });
  if (verbose) {
    for (const Result& r : results) {
      std::fprintf(stderr,
                   "membw: %d thread(s), %s loads, %d stream(s) each: best %.2f, median %.2f "
                   "GB/s\n",
                   threads, r.kernel, r.streams, r.best, r.median);
    }
  }
  uint64_t sink = 0;
  for (uint64_t s : sums) sink += s;
  if (json) {
    std::printf(
        "{\"threads\": %d, \"mib\": %zu, \"passes\": %d, \"kernel\": \"%s\", \"streams\": %d, "
        "\"read_gb_per_s\": %.2f, \"median_gb_per_s\": %.2f}\n",
        threads, mib, passes, best.kernel, best.streams, best.best, best.median);
  } else {
    std::printf(
        "read bandwidth, %d thread(s), %zu MiB buffer, %s loads, %d stream(s) per thread, best of "
        "%d: %.2f GB/s (median %.2f)\n",
        threads, mib, best.kernel, best.streams, passes, best.best, best.median);
  }
  std::free(buf);
  return sink == 1 ? 3 : 0;  // keeps the sums alive
}
