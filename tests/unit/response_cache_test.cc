#include "server/cache/response_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace phx::server {
namespace {

using namespace std::chrono_literals;
using Time = ResponseCache::Time;
using sampler::SamplingParams;

const Time t0 = Time{} + 1h;

SamplingParams Greedy() {
  SamplingParams p;
  p.temperature = 0;
  return p;
}

CachedResponse Answer(const std::string& text, int n_tokens = 2,
                      engine::FinishReason finish = engine::FinishReason::kStop) {
  CachedResponse r;
  r.text = text;
  for (int i = 0; i < n_tokens; ++i) {
    engine::TokenEvent ev;
    ev.token = 100 + i;
    ev.text = "t" + std::to_string(i);
    r.tokens.push_back(ev);
  }
  r.finish = finish;
  r.usage.prompt_tokens = 3;
  r.usage.completion_tokens = n_tokens;
  return r;
}

std::string KeyOf(const SamplingParams& p, const std::vector<int32_t>& prompt = {1, 2, 3},
                  const std::string& model = "m") {
  auto k = ResponseCache::Key(model, prompt, p);
  EXPECT_TRUE(k.has_value());
  return k.value_or("");
}

TEST(ResponseCacheKey, NonDeterministicRequestsAreNotCacheable) {
  SamplingParams sampled;  // temperature 1, no seed
  EXPECT_FALSE(ResponseCache::Key("m", {1, 2}, sampled).has_value());
  sampled.temperature = 0.01f;
  EXPECT_FALSE(ResponseCache::Key("m", {1, 2}, sampled).has_value());
  sampled.seed = 42;  // sampled with an explicit seed: deterministic
  EXPECT_TRUE(ResponseCache::Key("m", {1, 2}, sampled).has_value());
  EXPECT_TRUE(ResponseCache::Key("m", {1, 2}, Greedy()).has_value());
}

TEST(ResponseCacheKey, SameRequestSameKey) {
  SamplingParams a = Greedy(), b = Greedy();
  a.stop = {"x", "y"};
  b.stop = {"x", "y"};
  EXPECT_EQ(KeyOf(a), KeyOf(b));
}

TEST(ResponseCacheKey, EverySamplingFieldChangesTheKey) {
  SamplingParams base = Greedy();
  base.seed = 7;
  const std::string k0 = KeyOf(base);
  const std::vector<std::pair<const char*, std::function<void(SamplingParams&)>>> changes = {
      {"temperature", [](SamplingParams& p) { p.temperature = 0.5f; }},
      {"top_k", [](SamplingParams& p) { p.top_k = 40; }},
      {"top_p", [](SamplingParams& p) { p.top_p = 0.9f; }},
      {"min_p", [](SamplingParams& p) { p.min_p = 0.05f; }},
      {"repetition_penalty", [](SamplingParams& p) { p.repetition_penalty = 1.1f; }},
      {"presence_penalty", [](SamplingParams& p) { p.presence_penalty = 0.5f; }},
      {"frequency_penalty", [](SamplingParams& p) { p.frequency_penalty = 0.5f; }},
      {"penalty_last_n", [](SamplingParams& p) { p.penalty_last_n = -1; }},
      {"seed value", [](SamplingParams& p) { p.seed = 8; }},
      {"seed unset", [](SamplingParams& p) { p.seed.reset(); }},
      {"max_tokens", [](SamplingParams& p) { p.max_tokens = 17; }},
      {"stop added", [](SamplingParams& p) { p.stop = {"\n"}; }},
      {"ignore_eos", [](SamplingParams& p) { p.ignore_eos = true; }},
      {"logprobs", [](SamplingParams& p) { p.logprobs = 0; }},
      {"logprobs top", [](SamplingParams& p) { p.logprobs = 5; }},
  };
  std::set<std::string> keys = {k0};
  for (const auto& [name, change] : changes) {
    SamplingParams p = base;
    change(p);
    auto k = ResponseCache::Key("m", {1, 2, 3}, p);
    ASSERT_TRUE(k.has_value()) << name;
    EXPECT_NE(*k, k0) << name;
    EXPECT_TRUE(keys.insert(*k).second) << name << " collides with another change";
  }
  // Model and prompt are part of the key.
  EXPECT_NE(KeyOf(base, {1, 2, 3}, "other-model"), k0);
  EXPECT_NE(KeyOf(base, {1, 2, 4}), k0);
  EXPECT_NE(KeyOf(base, {1, 2}), k0);
  EXPECT_NE(KeyOf(base, {1, 2, 3, 0}), k0);
}

TEST(ResponseCacheKey, EncodingIsUnambiguous) {
  SamplingParams p = Greedy();
  // Stop lists that concatenate to the same bytes.
  SamplingParams a = p, b = p, c = p;
  a.stop = {"ab", "c"};
  b.stop = {"a", "bc"};
  c.stop = {"abc"};
  EXPECT_NE(KeyOf(a), KeyOf(b));
  EXPECT_NE(KeyOf(a), KeyOf(c));
  EXPECT_NE(KeyOf(b), KeyOf(c));
  // Model id bytes cannot run into the prompt.
  EXPECT_NE(KeyOf(p, {1}, std::string("m\x01\0\0\0", 5)), KeyOf(p, {1, 1}, "m"));
  // Negative ids and big ids differ.
  EXPECT_NE(KeyOf(p, {-1}), KeyOf(p, {0x7fffffff}));
}

TEST(ResponseCache, GetReturnsWhatWasPut) {
  ResponseCache cache(1 << 20, 60s);
  const std::string k = KeyOf(Greedy());
  EXPECT_FALSE(cache.Get(k, t0).has_value());
  cache.Put(k, Answer("hello"), t0);
  auto got = cache.Get(k, t0 + 1s);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->text, "hello");
  ASSERT_EQ(got->tokens.size(), 2u);
  EXPECT_EQ(got->tokens[1].token, 101);
  EXPECT_EQ(got->tokens[1].text, "t1");
  EXPECT_EQ(got->finish, engine::FinishReason::kStop);
  EXPECT_EQ(got->usage.completion_tokens, 2);
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_GT(cache.bytes(), k.size() + 5);
  // Replacing an entry does not double-count it.
  const size_t before = cache.bytes();
  cache.Put(k, Answer("hello"), t0);
  EXPECT_EQ(cache.entries(), 1u);
  EXPECT_EQ(cache.bytes(), before);
  cache.Put(k, Answer("bye"), t0);
  EXPECT_EQ(cache.Get(k, t0)->text, "bye");
}

TEST(ResponseCache, OnlyCompleteAnswersAreStored) {
  ResponseCache cache(1 << 20, 60s);
  const std::string k = KeyOf(Greedy());
  for (auto r : {engine::FinishReason::kCancelled, engine::FinishReason::kDeadline,
                 engine::FinishReason::kError, engine::FinishReason::kNone}) {
    cache.Put(k, Answer("partial", 2, r), t0);
    EXPECT_EQ(cache.entries(), 0u);
  }
  for (auto r :
       {engine::FinishReason::kLength, engine::FinishReason::kStop, engine::FinishReason::kEos}) {
    cache.Put(k, Answer("done", 2, r), t0);
    EXPECT_EQ(cache.Get(k, t0)->finish, r);
  }
}

TEST(ResponseCache, EntriesExpireAfterTheTtl) {
  ResponseCache cache(1 << 20, 10s);
  cache.Put("k", Answer("x"), t0);
  EXPECT_TRUE(cache.Get("k", t0 + 9s).has_value());
  EXPECT_FALSE(cache.Get("k", t0 + 10s).has_value());
  EXPECT_EQ(cache.entries(), 0u);  // the expired entry is gone
  EXPECT_EQ(cache.bytes(), 0u);
  // A hit does not extend the lifetime.
  cache.Put("k", Answer("x"), t0);
  EXPECT_TRUE(cache.Get("k", t0 + 5s).has_value());
  EXPECT_FALSE(cache.Get("k", t0 + 11s).has_value());
  // A new TTL applies to new entries.
  cache.Reconfigure(1 << 20, 100s);
  cache.Put("k", Answer("x"), t0);
  EXPECT_TRUE(cache.Get("k", t0 + 50s).has_value());
}

TEST(ResponseCache, EvictsLeastRecentlyUsedByBytes) {
  // Size one entry, then allow exactly three.
  size_t one = 0;
  {
    ResponseCache probe(1 << 20, 60s);
    probe.Put("key-a", Answer("0123456789"), t0);
    one = probe.bytes();
  }
  ResponseCache cache(3 * one, 60s);
  cache.Put("key-a", Answer("0123456789"), t0);
  cache.Put("key-b", Answer("0123456789"), t0);
  cache.Put("key-c", Answer("0123456789"), t0);
  EXPECT_EQ(cache.entries(), 3u);
  EXPECT_EQ(cache.bytes(), 3 * one);
  ASSERT_TRUE(cache.Get("key-a", t0).has_value());  // a is now the most recent
  cache.Put("key-d", Answer("0123456789"), t0);     // evicts b, the least recent
  EXPECT_EQ(cache.entries(), 3u);
  EXPECT_FALSE(cache.Get("key-b", t0).has_value());
  EXPECT_TRUE(cache.Get("key-a", t0).has_value());
  EXPECT_TRUE(cache.Get("key-c", t0).has_value());
  EXPECT_TRUE(cache.Get("key-d", t0).has_value());
  // A bigger entry evicts as many as needed (the LRU ones: a, then c).
  CachedResponse big = Answer(std::string(one, 'x'));
  cache.Put("key-e", big, t0);
  EXPECT_LE(cache.bytes(), 3 * one);
  EXPECT_TRUE(cache.Get("key-e", t0).has_value());
  EXPECT_TRUE(cache.Get("key-d", t0).has_value());
  EXPECT_FALSE(cache.Get("key-a", t0).has_value());
  EXPECT_FALSE(cache.Get("key-c", t0).has_value());
  // Token events count too.
  ResponseCache tok(1 << 20, 60s);
  tok.Put("k", Answer("same", 1), t0);
  const size_t few = tok.bytes();
  tok.Put("k", Answer("same", 50), t0);
  EXPECT_GT(tok.bytes(), few + 49 * sizeof(engine::TokenEvent) - 1);
  // Reconfigure to a smaller size evicts down to it.
  cache.Reconfigure(one, 60s);
  EXPECT_LE(cache.bytes(), one);
  EXPECT_LE(cache.entries(), 1u);
}

TEST(ResponseCache, EntryLargerThanTheCacheIsNotStored) {
  ResponseCache cache(4096, 60s);
  cache.Put("small", Answer("s"), t0);
  ASSERT_EQ(cache.entries(), 1u);
  cache.Put("huge", Answer(std::string(8192, 'x')), t0);
  EXPECT_FALSE(cache.Get("huge", t0).has_value());
  // ... and evicts nothing to make room it could not use.
  EXPECT_TRUE(cache.Get("small", t0).has_value());
  EXPECT_EQ(cache.entries(), 1u);
  // A cache of size 0 stores nothing.
  ResponseCache off(0, 60s);
  off.Put("small", Answer("s"), t0);
  EXPECT_EQ(off.entries(), 0u);
  EXPECT_EQ(off.bytes(), 0u);
}

}  // namespace
}  // namespace phx::server
