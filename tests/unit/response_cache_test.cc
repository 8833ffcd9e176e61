#include "server/cache/response_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "runtime/grammar/engine.h"

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

engine::GenerateRequest Request(const SamplingParams& p, const std::vector<int32_t>& prompt) {
  engine::GenerateRequest g;
  g.prompt = prompt;
  g.sampling = p;
  return g;
}

std::string KeyOf(const SamplingParams& p, const std::vector<int32_t>& prompt = {1, 2, 3},
                  const std::string& model = "m") {
  auto k = ResponseCache::Key(model, Request(p, prompt));
  EXPECT_TRUE(k.has_value());
  return k.value_or("");
}

TEST(ResponseCacheKey, NonDeterministicRequestsAreNotCacheable) {
  SamplingParams sampled;  // temperature 1, no seed
  EXPECT_FALSE(ResponseCache::Key("m", Request(sampled, {1, 2})).has_value());
  sampled.temperature = 0.01f;
  EXPECT_FALSE(ResponseCache::Key("m", Request(sampled, {1, 2})).has_value());
  sampled.seed = 42;  // sampled with an explicit seed: deterministic
  EXPECT_TRUE(ResponseCache::Key("m", Request(sampled, {1, 2})).has_value());
  EXPECT_TRUE(ResponseCache::Key("m", Request(Greedy(), {1, 2})).has_value());
}

TEST(ResponseCacheKey, SameRequestSameKey) {
  SamplingParams a = Greedy(), b = Greedy();
  a.stop = {"x", "y"};
  b.stop = {"x", "y"};
  EXPECT_EQ(KeyOf(a), KeyOf(b));
}

// A request whose cached answer could be replayed: greedy with a seed, a thinking budget on.
engine::GenerateRequest Base() {
  SamplingParams p = Greedy();
  p.seed = 7;
  engine::GenerateRequest g = Request(p, {1, 2, 3});
  g.reasoning.max_tokens = 5;
  g.reasoning.open = {10};
  g.reasoning.close = {11};
  g.reasoning.force = {12, 11};
  return g;
}

// What a change to one field does to the key: a new key, the same key (it does not change the
// answer), or no key (the answer is never cached).
enum class Effect { kNewKey, kSameKey, kNoKey };
struct FieldChange {
  const char* field;
  Effect effect;
  std::function<void(engine::GenerateRequest&)> change;
};

// One row (at least) per field of GenerateRequest, SamplingParams and ReasoningBudget.
std::vector<FieldChange> FieldChanges() {
  using G = engine::GenerateRequest;
  const Effect kNew = Effect::kNewKey, kSame = Effect::kSameKey, kNo = Effect::kNoKey;
  static const auto grammar_engine =
      std::make_shared<grammar::GrammarEngine>(grammar::TokenVocab::FromPieces({"a", "b"}, {}));
  return {
      {"client_id", kSame, [](G& g) { g.client_id = "req-9"; }},
      {"prompt", kNew,
       [](G& g) {
         g.prompt = {1, 2, 4};
       }},
      {"prompt", kNew,
       [](G& g) {
         g.prompt = {1, 2};
       }},
      {"prompt", kNew,
       [](G& g) {
         g.prompt = {1, 2, 3, 0};
       }},
      {"sampling.temperature", kNew, [](G& g) { g.sampling.temperature = 0.5f; }},
      {"sampling.top_k", kNew, [](G& g) { g.sampling.top_k = 40; }},
      {"sampling.top_p", kNew, [](G& g) { g.sampling.top_p = 0.9f; }},
      {"sampling.min_p", kNew, [](G& g) { g.sampling.min_p = 0.05f; }},
      {"sampling.repetition_penalty", kNew, [](G& g) { g.sampling.repetition_penalty = 1.1f; }},
      {"sampling.presence_penalty", kNew, [](G& g) { g.sampling.presence_penalty = 0.5f; }},
      {"sampling.frequency_penalty", kNew, [](G& g) { g.sampling.frequency_penalty = 0.5f; }},
      {"sampling.penalty_last_n", kNew, [](G& g) { g.sampling.penalty_last_n = -1; }},
      {"sampling.seed", kNew, [](G& g) { g.sampling.seed = 8; }},
      {"sampling.seed", kNew, [](G& g) { g.sampling.seed.reset(); }},  // greedy: still cached
      {"sampling.max_tokens", kNew, [](G& g) { g.sampling.max_tokens = 17; }},
      {"sampling.stop", kNew, [](G& g) { g.sampling.stop = {"\n"}; }},
      {"sampling.ignore_eos", kNew, [](G& g) { g.sampling.ignore_eos = true; }},
      {"sampling.logprobs", kNew, [](G& g) { g.sampling.logprobs = 0; }},
      {"sampling.logprobs", kNew, [](G& g) { g.sampling.logprobs = 5; }},
      {"sampling.logit_bias", kNew,
       [](G& g) {
         g.sampling.logit_bias = {{5, -100.f}};
       }},
      {"sampling.logit_bias", kNew,
       [](G& g) {
         g.sampling.logit_bias = {{5, 2.f}};
       }},
      {"sampling.stop_token_ids", kNew, [](G& g) { g.sampling.stop_token_ids = {4}; }},
      {"sampling.min_tokens", kNew, [](G& g) { g.sampling.min_tokens = 3; }},
      {"constraint.grammar", kNo,
       [](G& g) { g.constraint.grammar = *grammar_engine->CompileRegex("ab"); }},
      {"constraint.triggers", kSame, [](G& g) { g.constraint.triggers = {"<tool_call>"}; }},
      {"priority", kSame, [](G& g) { g.priority = 3; }},
      {"deadline", kSame, [](G& g) { g.deadline = engine::Clock::now(); }},
      {"prompt_group", kNo, [](G& g) { g.prompt_group = 1; }},
      {"reasoning.max_tokens", kNew, [](G& g) { g.reasoning.max_tokens = 6; }},
      {"reasoning.max_tokens", kNew, [](G& g) { g.reasoning.max_tokens = -1; }},  // off
      {"reasoning.prompt_opens", kNew, [](G& g) { g.reasoning.prompt_opens = true; }},
      {"reasoning.open", kNew, [](G& g) { g.reasoning.open = {13}; }},
      {"reasoning.close", kNew, [](G& g) { g.reasoning.close = {13}; }},
      {"reasoning.force", kNew, [](G& g) { g.reasoning.force = {12}; }},
      {"embed", kNo, [](G& g) { g.embed = true; }},
  };
}

TEST(ResponseCacheKey, EveryFieldOfTheRequestIsDecided) {
  // A field added to one of these structs fails to compile here: give it a row above.
  [[maybe_unused]] const auto& [client_id, prompt, sampling, constraint, priority, deadline,
                                prompt_group, reasoning, embed] = engine::GenerateRequest{};
  [[maybe_unused]] const auto& [temperature, top_k, top_p, min_p, repetition_penalty,
                                presence_penalty, frequency_penalty, penalty_last_n, seed,
                                max_tokens, stop, ignore_eos, logprobs, logit_bias, stop_token_ids,
                                min_tokens] = SamplingParams{};
  [[maybe_unused]] const auto& [grammar, triggers] = engine::Constraint{};
  [[maybe_unused]] const auto& [think_max_tokens, prompt_opens, think_open, think_close,
                                think_force] = engine::ReasoningBudget{};
  const std::set<std::string> fields = {"client_id",
                                        "prompt",
                                        "constraint.grammar",
                                        "constraint.triggers",
                                        "priority",
                                        "deadline",
                                        "prompt_group",
                                        "embed",
                                        "sampling.temperature",
                                        "sampling.top_k",
                                        "sampling.top_p",
                                        "sampling.min_p",
                                        "sampling.repetition_penalty",
                                        "sampling.presence_penalty",
                                        "sampling.frequency_penalty",
                                        "sampling.penalty_last_n",
                                        "sampling.seed",
                                        "sampling.max_tokens",
                                        "sampling.stop",
                                        "sampling.ignore_eos",
                                        "sampling.logprobs",
                                        "sampling.logit_bias",
                                        "sampling.stop_token_ids",
                                        "sampling.min_tokens",
                                        "reasoning.max_tokens",
                                        "reasoning.prompt_opens",
                                        "reasoning.open",
                                        "reasoning.close",
                                        "reasoning.force"};
  std::set<std::string> rows;
  for (const FieldChange& f : FieldChanges()) rows.insert(f.field);
  EXPECT_EQ(rows, fields);
}

TEST(ResponseCacheKey, EveryFieldThatChangesTheAnswerChangesTheKey) {
  const std::optional<std::string> k0 = ResponseCache::Key("m", Base());
  ASSERT_TRUE(k0.has_value());
  std::set<std::string> keys = {*k0};
  for (const FieldChange& f : FieldChanges()) {
    engine::GenerateRequest g = Base();
    f.change(g);
    const std::optional<std::string> k = ResponseCache::Key("m", g);
    switch (f.effect) {
      case Effect::kNoKey:
        EXPECT_FALSE(k.has_value()) << f.field;
        break;
      case Effect::kSameKey:
        EXPECT_EQ(k, k0) << f.field;
        break;
      case Effect::kNewKey:
        ASSERT_TRUE(k.has_value()) << f.field;
        EXPECT_TRUE(keys.insert(*k).second) << f.field << ": the same key as another request";
        break;
    }
  }
  EXPECT_NE(ResponseCache::Key("other-model", Base()), k0);
}

TEST(ResponseCacheKey, ThinkingMarkersCountOnlyWithABudget) {
  // The engine ignores the markers when the budget is off: such requests share a key.
  engine::GenerateRequest a = Base(), b = Base();
  a.reasoning.max_tokens = b.reasoning.max_tokens = -1;
  b.reasoning.open = {13};
  b.reasoning.prompt_opens = true;
  EXPECT_EQ(ResponseCache::Key("m", a), ResponseCache::Key("m", b));
  // A budget with no forced close is off too (ReasoningBudget::enabled()).
  engine::GenerateRequest c = Base();
  c.reasoning.force.clear();
  EXPECT_EQ(ResponseCache::Key("m", c), ResponseCache::Key("m", a));
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
  // Thinking markers that concatenate to the same ids.
  engine::GenerateRequest t1 = Base(), t2 = Base();
  t1.reasoning.open = {10, 11};
  t1.reasoning.close = {11};
  t2.reasoning.open = {10};
  t2.reasoning.close = {11, 11};
  EXPECT_NE(ResponseCache::Key("m", t1), ResponseCache::Key("m", t2));
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
