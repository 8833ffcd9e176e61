// Several sequences of one prompt (OpenAI's `n`): requests of one prompt group
// (GenerateRequest::prompt_group) wait for the group leader's prompt and then take its full
// prompt blocks from the prefix cache; a leader that ends before its prompt is computed hands
// the lead on and holds nobody back.
#include <gtest/gtest.h>

#include "ops/cpu/cpu_backend.h"
#include "runtime/engine/engine.h"
#include "runtime/model/model.h"
#include "tests/support/collect_sink.h"

namespace phx {
namespace {

const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

struct Loaded {
  std::unique_ptr<ops::cpu::CpuBackend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<engine::Engine> engine;
};

Loaded Load(engine::EngineConfig cfg = {}) {
  Loaded l;
  l.backend = std::make_unique<ops::cpu::CpuBackend>(1);
  auto m = model::Model::Load(kStories, *l.backend);
  EXPECT_TRUE(m.ok()) << m.status();
  l.model = std::move(*m);
  auto e = engine::Engine::Create(*l.model, *l.backend, cfg);
  EXPECT_TRUE(e.ok()) << e.status();
  l.engine = std::move(*e);
  return l;
}

// A 41-token prompt: two full blocks of 16 and a partial one.
std::vector<int32_t> Prompt(const Loaded& l) {
  auto ids = l.model->tokenizer().Encode(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
      "park with her big red ball and her friend Tom.",
      true, false);
  ids.resize(41);
  return ids;
}

engine::GenerateRequest Sampled(std::vector<int32_t> prompt, uint64_t seed) {
  engine::GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 1.0f;
  r.sampling.seed = seed;
  r.sampling.max_tokens = 12;
  r.sampling.ignore_eos = true;
  return r;
}

// Submits n requests of one prompt (seeds 100 + i), in one group when `share`; runs them and
// returns their tokens.
std::vector<std::vector<int32_t>> RunGroup(
    Loaded& l, int n, bool share, const std::function<void(engine::RequestId)>& before = nullptr) {
  auto sink = std::make_shared<testing::CollectSink>();
  std::vector<engine::RequestId> ids;
  for (int i = 0; i < n; ++i) {
    engine::GenerateRequest r = Sampled(Prompt(l), 100 + static_cast<uint64_t>(i));
    if (share) r.prompt_group = 7;
    auto id = l.engine->Submit(std::move(r), sink);
    EXPECT_TRUE(id.ok()) << id.status();
    ids.push_back(*id);
  }
  if (before) before(ids[0]);
  EXPECT_TRUE(l.engine->RunUntilIdle().ok());
  std::vector<std::vector<int32_t>> out;
  for (auto id : ids) {
    auto c = sink->Get(id);
    EXPECT_TRUE(c.finished);
    out.push_back(c.tokens);
  }
  return out;
}

TEST(SharedPrompt, CopiesTakeTheLeadersPromptBlocks) {
  Loaded l = Load();
  ASSERT_EQ(l.engine->config().block_size, 16);
  const auto shared = RunGroup(l, 4, true);
  const engine::EngineStats st = l.engine->stats();
  // The leader computes all 41 prompt tokens; each of the 3 copies finds 2 full blocks (32
  // tokens) cached and computes the last 9 only.
  EXPECT_EQ(st.prefix_hits, 3u * 32u);
  EXPECT_EQ(st.prompt_tokens, 41u + 3u * 9u);
  // Different seeds, different samples; the same as running each alone with its seed.
  EXPECT_NE(shared[0], shared[1]);
  EXPECT_NE(shared[1], shared[2]);
  Loaded fresh = Load();
  const auto alone = RunGroup(fresh, 4, false);
  EXPECT_EQ(shared, alone);
}

TEST(SharedPrompt, WithoutALeaderNothingIsShared) {
  // The control: submitted together with no leader, all four are admitted in one step and
  // compute the whole prompt each (what the gating above avoids).
  Loaded l = Load();
  RunGroup(l, 4, false);
  EXPECT_EQ(l.engine->stats().prefix_hits, 0u);
  EXPECT_EQ(l.engine->stats().prompt_tokens, 4u * 41u);
}

TEST(SharedPrompt, ALeaderCancelledBeforeItsPromptHoldsNobodyBack) {
  Loaded l = Load();
  const auto out =
      RunGroup(l, 3, true, [&](engine::RequestId leader) { l.engine->Cancel(leader); });
  EXPECT_TRUE(out[0].empty());
  EXPECT_EQ(out[1].size(), 12u);
  EXPECT_EQ(out[2].size(), 12u);
}

TEST(SharedPrompt, ALeaderPastItsDeadlineHoldsNobodyBack) {
  Loaded l = Load();
  auto sink = std::make_shared<testing::CollectSink>();
  engine::GenerateRequest lead = Sampled(Prompt(l), 1);
  lead.prompt_group = 3;
  lead.deadline = engine::Clock::now() - std::chrono::seconds(1);
  auto leader = l.engine->Submit(std::move(lead), sink);
  ASSERT_TRUE(leader.ok());
  engine::GenerateRequest copy = Sampled(Prompt(l), 2);
  copy.prompt_group = 3;
  auto c = l.engine->Submit(std::move(copy), sink);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(l.engine->RunUntilIdle().ok());
  EXPECT_EQ(sink->Get(*leader).reason, engine::FinishReason::kDeadline);
  EXPECT_EQ(sink->Get(*c).reason, engine::FinishReason::kLength);
  EXPECT_EQ(sink->Get(*c).tokens.size(), 12u);
}

TEST(SharedPrompt, ALateCopyJoinsARunningLeader) {
  // A copy that arrives while its leader decodes is admitted at once and shares its prompt.
  Loaded l = Load();
  auto sink = std::make_shared<testing::CollectSink>();
  engine::GenerateRequest lead = Sampled(Prompt(l), 1);
  lead.prompt_group = 9;
  lead.sampling.max_tokens = 40;
  auto leader = l.engine->Submit(std::move(lead), sink);
  ASSERT_TRUE(leader.ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(l.engine->Step().ok());
  engine::GenerateRequest copy = Sampled(Prompt(l), 2);
  copy.prompt_group = 9;
  auto c = l.engine->Submit(std::move(copy), sink);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(l.engine->Step().ok());
  EXPECT_EQ(l.engine->stats().running, 2);
  ASSERT_TRUE(l.engine->RunUntilIdle().ok());
  EXPECT_EQ(l.engine->stats().prefix_hits, 32u);
  EXPECT_EQ(sink->Get(*leader).tokens.size(), 40u);
  EXPECT_EQ(sink->Get(*c).tokens.size(), 12u);
}

}  // namespace
}  // namespace phx
