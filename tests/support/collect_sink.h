// A TokenSink that records everything, for tests and tools driving the engine directly.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/engine/engine.h"

namespace phx::testing {

struct Collected {
  std::vector<int32_t> tokens;
  std::vector<engine::TokenEvent> events;
  std::string text;
  bool finished = false;
  engine::FinishReason reason = engine::FinishReason::kNone;
  absl::Status status;
  engine::Usage usage;
  engine::Timing timing;
};

class CollectSink : public engine::TokenSink {
 public:
  void OnTokens(engine::RequestId id, const std::vector<engine::TokenEvent>& events) override {
    std::lock_guard<std::mutex> l(mu_);
    Collected& c = by_id_[id];
    for (const auto& e : events) {
      c.tokens.push_back(e.token);
      c.text += e.text;
      c.events.push_back(e);
    }
  }
  void OnFinish(engine::RequestId id, engine::FinishReason reason, const absl::Status& status,
                const engine::Usage& usage, const engine::Timing& timing,
                std::string tail) override {
    std::lock_guard<std::mutex> l(mu_);
    Collected& c = by_id_[id];
    c.finished = true;
    c.reason = reason;
    c.status = status;
    c.usage = usage;
    c.timing = timing;
    c.text += tail;
  }
  Collected Get(engine::RequestId id) {
    std::lock_guard<std::mutex> l(mu_);
    return by_id_[id];
  }

 private:
  std::mutex mu_;
  std::map<engine::RequestId, Collected> by_id_;
};

}  // namespace phx::testing
