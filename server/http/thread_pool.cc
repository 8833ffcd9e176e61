#include "server/http/thread_pool.h"

namespace phx::server {

GrowingThreadPool::~GrowingThreadPool() { shutdown(); }

void GrowingThreadPool::enqueue(std::function<void()> fn) {
  std::lock_guard<std::mutex> l(mu_);
  jobs_.push_back(std::move(fn));
  if (jobs_.size() > idle_ && threads_.size() < max_ && !shutdown_) {
    threads_.emplace_back([this] { Work(); });
  }
  cv_.notify_one();
}

void GrowingThreadPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(mu_);
    shutdown_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

size_t GrowingThreadPool::threads() const {
  std::lock_guard<std::mutex> l(mu_);
  return threads_.size();
}

void GrowingThreadPool::Work() {
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    while (jobs_.empty() && !shutdown_) {
      ++idle_;
      cv_.wait(l);
      --idle_;
    }
    if (jobs_.empty()) return;  // shut down and nothing left
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    l.unlock();
    job();
    l.lock();
  }
}

}  // namespace phx::server
