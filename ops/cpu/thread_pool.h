// A fork/join thread pool for the CPU backend. The calling thread takes part as thread 0;
// n_threads - 1 workers wait for work by spinning briefly (low latency between the many small
// ops of a forward pass) and then block on a condition variable (no CPU burnt while idle).
// One job at a time: Run/ParallelFor must not be called concurrently or from inside a job
// (a nested call runs inline on the calling thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace phx::ops::cpu {

class ThreadPool {
 public:
  // n_threads <= 0 means one thread per hardware thread.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Runs fn(thread_index) once on each of `threads` threads (1..size(); the caller is index 0)
  // and returns when all have finished.
  void Run(int threads, const std::function<void(int)>& fn);
  void Run(const std::function<void(int)>& fn) { Run(n_threads_, fn); }

  // Calls fn(begin, end, thread_index) over [0, n) in chunks of `grain` (the last may be
  // shorter), handed out dynamically. Runs inline when one chunk covers everything.
  void ParallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t, int)>& fn);

 private:
  void WorkerLoop(int index);
  void WaitForWorkers();

  int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  int job_threads_ = 0;
  bool in_job_ = false;

  alignas(64) std::atomic<uint64_t> epoch_{0};
  alignas(64) std::atomic<int> remaining_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  std::atomic<bool> caller_waiting_{false};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
};

}  // namespace phx::ops::cpu
