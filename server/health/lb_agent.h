// HAProxy agent-check responder (--lb-agent-port): each connection gets one line,
// "ready up NN%" with NN from the load (queue and KV use), "drain" while draining, "down" when
// not live, then the connection closes. ("ready" brings a server back from an earlier drain.)
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace phx::server {

class LbAgent {
 public:
  explicit LbAgent(std::function<std::string()> answer) : answer_(std::move(answer)) {}
  ~LbAgent();
  absl::Status Start(const std::string& host, int port);
  void Stop();
  int port() const { return port_; }

 private:
  std::function<std::string()> answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The agent's answer for a given state. `load` in [0, 1]: the weight is 100% at no load and
// falls linearly to 1% at full load.
std::string AgentAnswer(bool live, bool draining, double load);

}  // namespace phx::server
