#include "ops/cpu/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PHX_CPU_RELAX() _mm_pause()
#else
#define PHX_CPU_RELAX() std::this_thread::yield()
#endif

namespace phx::ops::cpu {
namespace {

// How long an idle thread spins before blocking: long enough to bridge the gaps between the
// ops of a forward pass, short enough not to burn a core between requests.
constexpr auto kSpin = std::chrono::microseconds(500);

// Spins until pred() holds or kSpin elapsed; returns whether pred() held. Yields now and then so
// an oversubscribed machine (more threads than cores) still makes progress.
template <typename Pred>
bool SpinUntil(Pred pred) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 1;; ++i) {
    if (pred()) return true;
    PHX_CPU_RELAX();
    if ((i & 255) == 0) {
      if (std::chrono::steady_clock::now() - start > kSpin) return pred();
      std::this_thread::yield();
    }
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0)
    n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n_threads_ = n_threads;
  workers_.reserve(n_threads - 1);
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true);
    epoch_.fetch_add(1);
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t e = 0;
    if (!SpinUntil([&] { return (e = epoch_.load(std::memory_order_acquire)) != seen; })) {
      std::unique_lock<std::mutex> lock(mu_);
      sleepers_.fetch_add(1);
      work_cv_.wait(lock, [&] { return (e = epoch_.load()) != seen; });
      sleepers_.fetch_sub(1);
    }
    seen = e;
    if (stop_.load()) return;
    // Every worker acknowledges every epoch (so none can lag into the next job); those beyond
    // job_threads_ have nothing to do.
    if (index < job_threads_) (*job_)(index);
    if (remaining_.fetch_sub(1) == 1 && caller_waiting_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::WaitForWorkers() {
  if (SpinUntil([&] { return remaining_.load(std::memory_order_acquire) == 0; })) return;
  std::unique_lock<std::mutex> lock(mu_);
  caller_waiting_.store(true);
  done_cv_.wait(lock, [&] { return remaining_.load() == 0; });
  caller_waiting_.store(false);
}

void ThreadPool::Run(int threads, const std::function<void(int)>& fn) {
  threads = std::clamp(threads, 1, n_threads_);
  if (threads == 1 || in_job_) {
    for (int i = 0; i < threads; ++i) fn(i);
    return;
  }
  in_job_ = true;
  job_ = &fn;
  job_threads_ = threads;
  remaining_.store(n_threads_ - 1);
  epoch_.fetch_add(1);  // seq_cst: publishes job_ and pairs with the sleepers_ check below
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    work_cv_.notify_all();
  }
  fn(0);
  WaitForWorkers();
  in_job_ = false;
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || n_threads_ == 1 || in_job_) {
    fn(0, n, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  const int threads = static_cast<int>(std::min<int64_t>(n_threads_, chunks));
  Run(threads, [&](int tid) {
    for (;;) {
      const int64_t c = next.fetch_add(1, std::memory_order_relaxed);
      if (c >= chunks) break;
      fn(c * grain, std::min(n, (c + 1) * grain), tid);
    }
  });
}

}  // namespace phx::ops::cpu
