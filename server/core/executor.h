// A small pool of worker threads running posted tasks in order of posting. Used to keep
// bookkeeping and tokenization of queued requests off the engine thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace phx::server {

class Executor {
 public:
  explicit Executor(int threads);
  ~Executor();  // runs every task already posted, then joins
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  void Post(std::function<void()> task);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace phx::server
