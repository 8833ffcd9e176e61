// Closed-loop (fixed concurrency) and open-loop (Poisson arrivals) load drivers.
#include <atomic>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "bench/load/load.h"

namespace phx::bench {
namespace {

bool Retryable(const std::string& code) {
  return code == "UNAVAILABLE" || code == "RESOURCE_EXHAUSTED" || code == "503" || code == "429" ||
         code == "connect";
}

Sample SendWithRetries(Client& c, const Prompt& p, const RequestOptions& ro, int retries,
                       Clock::time_point t0) {
  Sample s = c.Send(p, ro, t0);
  // A stream that already delivered tokens is broken, not refused: the user saw part of the
  // answer, so it is never resent (and stays counted as broken).
  for (int i = 0; i < retries && !s.ok && !s.stream_broken && Retryable(s.code); ++i) {
    const double first_start = s.start;
    s = c.Send(p, ro, t0);
    s.retried = true;
    s.e2e += s.start - first_start;  // latency as the user saw it
    s.ttft += s.start - first_start;
    s.start = first_start;
  }
  return s;
}

class Progress {
 public:
  Progress(bool on, int total) : on_(on), total_(total) {}
  void Tick(bool ok) {
    const int d = ++done_;
    if (!ok) ++failed_;
    if (!on_) return;
    const auto now = Clock::now();
    std::lock_guard<std::mutex> l(mu_);
    if (now - last_ > std::chrono::milliseconds(500) || d == total_) {
      last_ = now;
      std::fprintf(stderr, "\r%d/%d requests, %d failed", d, total_, failed_.load());
      if (d == total_) std::fputc('\n', stderr);
    }
  }

 private:
  bool on_;
  int total_;
  std::atomic<int> done_{0}, failed_{0};
  std::mutex mu_;
  Clock::time_point last_{};
};

}  // namespace

std::vector<Sample> RunLoad(Client& client, const std::vector<Prompt>& prompts,
                            const RequestOptions& ro, const LoadOptions& lo) {
  std::vector<Sample> out(static_cast<size_t>(lo.requests));
  std::vector<char> issued(out.size(), 0);  // not vector<bool>: workers set it concurrently
  std::atomic<int> next{0};
  Progress progress(lo.progress, lo.requests);
  const Clock::time_point t0 = Clock::now();
  const double t0_unix =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto expired = [&] {
    if (lo.stop != nullptr && lo.stop->load()) return true;
    return lo.duration_s > 0 &&
           std::chrono::duration<double>(Clock::now() - t0).count() > lo.duration_s;
  };
  const auto finished = [&](const Sample& s) {
    if (lo.on_sample) lo.on_sample(s, t0_unix);
    progress.Tick(s.ok);
  };
  if (lo.rate <= 0) {
    std::vector<std::thread> workers;
    for (int w = 0; w < lo.concurrency; ++w) {
      workers.emplace_back([&] {
        for (int i = next++; i < lo.requests && !expired(); i = next++) {
          out[i] = SendWithRetries(client, prompts[i % prompts.size()], ro, lo.retries, t0);
          issued[i] = true;
          finished(out[i]);
        }
      });
    }
    for (auto& t : workers) t.join();
  } else {
    // Open loop: arrivals at exponential gaps, each served by its own thread so a slow server
    // does not slow the arrivals down.
    std::mt19937_64 rng(lo.seed);
    std::exponential_distribution<double> gap(lo.rate);
    std::vector<std::thread> inflight;
    double at = 0;
    for (int i = 0; i < lo.requests && !expired(); ++i) {
      at += gap(rng);
      std::this_thread::sleep_until(
          t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at)));
      if (expired()) break;
      issued[i] = true;
      inflight.emplace_back([&, i] {
        out[i] = SendWithRetries(client, prompts[i % prompts.size()], ro, lo.retries, t0);
        finished(out[i]);
      });
    }
    for (auto& t : inflight) t.join();
  }
  std::vector<Sample> done;
  for (size_t i = 0; i < out.size(); ++i) {
    if (issued[i]) done.push_back(std::move(out[i]));
  }
  return done;
}

}  // namespace phx::bench
