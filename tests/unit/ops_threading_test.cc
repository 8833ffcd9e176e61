// The CPU backend's thread pool and ISA selection.
#include <atomic>
#include <cstdlib>
#include <vector>

#include "ops_test_util.h"

namespace phx::ops::testing {
namespace {

TEST(ThreadPoolTest, RunCallsEveryThreadOnce) {
  for (int n : {1, 2, 3, 5}) {
    cpu::ThreadPool pool(n);
    EXPECT_EQ(pool.size(), n);
    for (int rep = 0; rep < 50; ++rep) {
      std::vector<std::atomic<int>> hits(n);
      pool.Run([&](int t) { hits[t].fetch_add(1); });
      for (int t = 0; t < n; ++t) EXPECT_EQ(hits[t].load(), 1) << "thread " << t;
    }
    // A subset of threads.
    std::vector<std::atomic<int>> hits(n);
    pool.Run(2, [&](int t) { hits[t].fetch_add(1); });
    for (int t = 0; t < n; ++t) EXPECT_EQ(hits[t].load(), t < std::min(n, 2) ? 1 : 0);
  }
}

TEST(ThreadPoolTest, ParallelForCoversEachIndexOnce) {
  cpu::ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 7, 100, 1001}) {
    for (int64_t grain : {1, 3, 64, 5000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      std::atomic<int> bad_tid{0};
      pool.ParallelFor(n, grain, [&](int64_t b, int64_t e, int tid) {
        if (tid < 0 || tid >= 3 || e - b > grain || b >= e) bad_tid.fetch_add(1);
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      EXPECT_EQ(bad_tid.load(), 0);
      for (int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[i].load(), 1) << n << "/" << grain << " @" << i;
    }
  }
}

TEST(ThreadPoolTest, ManyQuickJobsAndSleepingWorkers) {
  cpu::ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  for (int i = 0; i < 20000; ++i) pool.Run([&](int t) { sum.fetch_add(t + 1); });
  EXPECT_EQ(sum.load(), 20000 * 6);
  // Let the workers go to sleep (past the spin window), then wake them again.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  sum = 0;
  pool.Run([&](int t) { sum.fetch_add(t + 1); });
  EXPECT_EQ(sum.load(), 6);
}

TEST(ThreadPoolTest, NestedCallRunsInline) {
  cpu::ThreadPool pool(2);
  std::atomic<int> inner{0};
  pool.Run([&](int) {
    pool.ParallelFor(10, 1,
                     [&](int64_t b, int64_t e, int) { inner.fetch_add(static_cast<int>(e - b)); });
  });
  EXPECT_EQ(inner.load(), 20);
}

TEST(CpuBackendTest, IsaSelection) {
  const cpu::IsaLevel best = cpu::BestIsa();
  cpu::CpuBackend full(1);
  EXPECT_LE(full.isa(), best);
  cpu::CpuBackend capped(1, cpu::IsaLevel::kAvx512);
  EXPECT_EQ(capped.isa(), best);
  setenv("PHX_CPU_ISA", "scalar", 1);
  cpu::CpuBackend forced(0);
  EXPECT_EQ(forced.isa(), cpu::IsaLevel::kScalar);
  EXPECT_GE(forced.num_threads(), 1);
  setenv("PHX_CPU_ISA", "avx2", 1);
  EXPECT_EQ(cpu::IsaFromEnv(), std::min(best, cpu::IsaLevel::kAvx2));
  unsetenv("PHX_CPU_ISA");
  EXPECT_EQ(cpu::IsaFromEnv(), best);
  EXPECT_EQ(cpu::ParseIsa("avx512"), cpu::IsaLevel::kAvx512);
  EXPECT_FALSE(cpu::ParseIsa("sse9").has_value());
  const cpu::CpuFeatures& f = cpu::GetCpuFeatures();
  std::printf("cpu: avx2=%d fma=%d f16c=%d avx512f=%d bw=%d vl=%d vnni=%d bf16=%d -> %s\n", f.avx2,
              f.fma, f.f16c, f.avx512f, f.avx512bw, f.avx512vl, f.avx512vnni, f.avx512bf16,
              std::string(cpu::IsaName(best)).c_str());
}

}  // namespace
}  // namespace phx::ops::testing
