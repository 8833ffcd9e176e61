// The degraded-mode response cache: finished answers of deterministic requests (greedy, or
// sampled with an explicit seed), keyed by the model and every field of the engine request that
// changes the answer, bounded in bytes, least-recently-used eviction, entries expire after a TTL.
#pragma once

#include <chrono>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/engine/request.h"

namespace phx::server {

struct CachedResponse {
  std::string text;
  std::vector<engine::TokenEvent> tokens;
  engine::FinishReason finish = engine::FinishReason::kLength;
  engine::Usage usage;
};

class ResponseCache {
 public:
  using Time = std::chrono::steady_clock::time_point;
  ResponseCache(size_t max_bytes, std::chrono::seconds ttl);

  // The exact key (not a hash: no collisions) of `g` on model `model_id`: every field of the
  // request that changes the answer (prompt, sampling parameters, thinking budget). nullopt when
  // the answer must not be cached: not deterministic (temperature > 0 without a seed), an
  // embedding, one choice of several (prompt_group), or constrained (the key cannot cover a
  // compiled grammar). A field added to GenerateRequest, SamplingParams or ReasoningBudget does
  // not compile in Key until it is placed in the key or named as not changing the answer.
  static std::optional<std::string> Key(const std::string& model_id,
                                        const engine::GenerateRequest& g);

  std::optional<CachedResponse> Get(const std::string& key, Time now);
  void Put(const std::string& key, CachedResponse value, Time now);
  size_t bytes() const;
  size_t entries() const;
  void Reconfigure(size_t max_bytes, std::chrono::seconds ttl);

 private:
  struct Entry {
    std::string key;
    CachedResponse value;
    Time expires;
    size_t bytes;
  };
  void EvictToFit(size_t budget);
  mutable std::mutex mu_;
  size_t max_bytes_;
  std::chrono::seconds ttl_;
  size_t bytes_ = 0;
  std::list<Entry> lru_;  // front = most recent
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace phx::server
