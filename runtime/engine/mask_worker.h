// One helper thread that runs a job while the caller does something else (the engine computes
// grammar masks during the forward pass). Started on the first job; joined on destruction. One
// job at a time: Run, then Wait before the next Run.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace phx::engine {

class MaskWorker {
 public:
  MaskWorker() = default;
  MaskWorker(const MaskWorker&) = delete;
  MaskWorker& operator=(const MaskWorker&) = delete;
  ~MaskWorker();

  // Hands `job` to the helper thread (starting it the first time).
  void Run(std::function<void()> job);
  // Blocks until the job handed to Run is done (at once if there is none).
  void Wait();

 private:
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;  // guarded by mu_
  bool pending_ = false;       // guarded by mu_: a job was handed over and is not done
  bool stop_ = false;          // guarded by mu_
  std::thread thread_;
};

}  // namespace phx::engine
