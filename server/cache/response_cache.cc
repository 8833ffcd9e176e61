#include "server/cache/response_cache.h"

#include <cstring>
#include <utility>

namespace phx::server {
namespace {

// Key encoding: a version tag, then every field in a fixed order; integers and float bit
// patterns little-endian of fixed width, strings and lists length-prefixed, so no two different
// requests encode alike.
class KeyWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) {
    for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(v >> (8 * i)));
  }
  void I32(int32_t v) { U32(static_cast<uint32_t>(v)); }
  void F32(float v) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v, sizeof(bits));
    U32(bits);
  }
  void Str(const std::string& s) {
    U64(s.size());
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// Approximate memory held by an entry: the key (twice: list entry and index), the text, every
// token event with its text and alternatives, and fixed per-entry overhead.
size_t EntryBytes(const std::string& key, const CachedResponse& v) {
  size_t n = sizeof(std::string) + 2 * key.size() + v.text.size() + 128;
  for (const engine::TokenEvent& t : v.tokens) {
    n += sizeof(engine::TokenEvent) + t.text.size() + t.top.size() * sizeof(sampler::TokenLogprob);
  }
  return n;
}

// Only complete answers are worth replaying; partial ones (cancelled, deadline, error) are not.
bool Complete(engine::FinishReason r) {
  return r == engine::FinishReason::kLength || r == engine::FinishReason::kStop ||
         r == engine::FinishReason::kEos;
}

}  // namespace

ResponseCache::ResponseCache(size_t max_bytes, std::chrono::seconds ttl)
    : max_bytes_(max_bytes), ttl_(ttl) {}

std::optional<std::string> ResponseCache::Key(const std::string& model_id,
                                              const engine::GenerateRequest& g) {
  // Every field by name: a new one breaks these bindings until it is sorted in or out.
  [[maybe_unused]] const auto& [client_id, prompt, sampling, constraint, priority, deadline,
                                prompt_group, reasoning, embed] = g;
  const auto& [temperature, top_k, top_p, min_p, repetition_penalty, presence_penalty,
               frequency_penalty, penalty_last_n, seed, max_tokens, stop, ignore_eos, logprobs,
               logit_bias, stop_token_ids, min_tokens] = sampling;
  [[maybe_unused]] const auto& [grammar, triggers] = constraint;
  const auto& [think_max_tokens, prompt_opens, think_open, think_close, think_force] = reasoning;
  // Not cached: an embedding, one choice of several, a grammar (triggers apply only with one),
  // a sampled answer without a seed. Not in the key: client_id (an id echoed back), priority
  // (only when it runs), deadline (an answer cut by it is not complete and never stored).
  if (embed || prompt_group != 0 || grammar != nullptr) return std::nullopt;
  if (!sampling.greedy() && !seed.has_value()) return std::nullopt;
  KeyWriter w;
  w.Str("phx-rc2");
  w.Str(model_id);
  w.U64(prompt.size());
  for (int32_t id : prompt) w.I32(id);
  w.F32(temperature);
  w.I32(top_k);
  w.F32(top_p);
  w.F32(min_p);
  w.F32(repetition_penalty);
  w.F32(presence_penalty);
  w.F32(frequency_penalty);
  w.I32(penalty_last_n);
  w.U8(seed.has_value() ? 1 : 0);
  w.U64(seed.value_or(0));
  w.I32(max_tokens);
  w.U64(stop.size());
  for (const std::string& s : stop) w.Str(s);
  w.U8(ignore_eos ? 1 : 0);
  w.I32(logprobs);
  w.U64(logit_bias.size());
  for (const auto& [id, bias] : logit_bias) {
    w.I32(id);
    w.F32(bias);
  }
  w.U64(stop_token_ids.size());
  for (int32_t id : stop_token_ids) w.I32(id);
  w.I32(min_tokens);
  // The thinking budget, where it applies (the engine ignores the rest when it is off).
  w.U8(reasoning.enabled() ? 1 : 0);
  if (reasoning.enabled()) {
    w.I32(think_max_tokens);
    w.U8(prompt_opens ? 1 : 0);
    for (const std::vector<int32_t>* ids : {&think_open, &think_close, &think_force}) {
      w.U64(ids->size());
      for (int32_t id : *ids) w.I32(id);
    }
  }
  return w.Take();
}

std::optional<CachedResponse> ResponseCache::Get(const std::string& key, Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  auto entry = it->second;
  if (now >= entry->expires) {
    bytes_ -= entry->bytes;
    index_.erase(it);
    lru_.erase(entry);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  return entry->value;
}

void ResponseCache::Put(const std::string& key, CachedResponse value, Time now) {
  if (!Complete(value.finish)) return;
  const size_t size = EntryBytes(key, value);
  std::lock_guard<std::mutex> lock(mu_);
  if (size > max_bytes_ || ttl_.count() <= 0) return;  // can never fit, or would never be served
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }
  EvictToFit(max_bytes_ - size);
  lru_.push_front(Entry{key, std::move(value), now + ttl_, size});
  index_.emplace(key, lru_.begin());
  bytes_ += size;
}

size_t ResponseCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t ResponseCache::entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

void ResponseCache::Reconfigure(size_t max_bytes, std::chrono::seconds ttl) {
  std::lock_guard<std::mutex> lock(mu_);
  max_bytes_ = max_bytes;
  ttl_ = ttl;  // for new entries; existing ones keep their expiry
  EvictToFit(max_bytes_);
}

void ResponseCache::EvictToFit(size_t budget) {
  while (bytes_ > budget && !lru_.empty()) {
    const Entry& victim = lru_.back();
    bytes_ -= victim.bytes;
    index_.erase(victim.key);
    lru_.pop_back();
  }
}

}  // namespace phx::server
