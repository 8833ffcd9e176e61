// The API listener's task queue: cpp-httplib serves each connection on one pool thread for
// the connection's whole life (an SSE stream holds its thread until [DONE]). This pool starts
// empty and adds a thread whenever a connection arrives and no thread is idle, up to
// `max_threads` (--api-threads); beyond that, connections wait for a free thread. Threads stay
// once started.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "httplib.h"

namespace phx::server {

class GrowingThreadPool final : public httplib::TaskQueue {
 public:
  explicit GrowingThreadPool(size_t max_threads) : max_(max_threads) {}
  ~GrowingThreadPool() override;
  void enqueue(std::function<void()> fn) override;
  // Runs the jobs already queued, then joins every thread.
  void shutdown() override;
  size_t threads() const;

 private:
  void Work();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  size_t max_;
  bool shutdown_ = false;
};

}  // namespace phx::server
