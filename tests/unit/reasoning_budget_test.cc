// The reasoning (thinking) token budget: the state machine (runtime/engine/reasoning_budget.h)
// with the real Qwen3 vocabulary's markers, and the engine enforcing it on a synthesized
// random-weight qwen3 model with that vocabulary, prompted through Qwen3's chat template in its
// thinking form (the generation prompt opens "<think>\n", as Qwen3's Thinking-2507 models do):
// the block holds exactly the budget's tokens, then the forced close, then the answer. Also the
// model opening the block itself, closing it early (untouched), budget 0, EOS and stop
// strings/stop tokens against the forced span, logprobs of forced tokens, and n > 1 groups.
#include "runtime/engine/reasoning_budget.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ops/cpu/cpu_backend.h"
#include "runtime/chat/chat_renderer.h"
#include "runtime/engine/engine.h"
#include "runtime/gguf/gguf.h"
#include "runtime/model/model.h"
#include "runtime/model/synth.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/support/collect_sink.h"
#include "tests/support/tiny_synth.h"

namespace phx {
namespace {

namespace fs = std::filesystem;
using engine::FinishReason;
using engine::ReasoningBudget;
using engine::ReasoningBudgetState;

const std::string kShared = PHX_SHARED_DIR;
const std::string kQwen3Vocab = kShared + "/vocab/hf/ggml-vocab-qwen3.gguf";

std::unique_ptr<tok::Tokenizer> LoadVocab() {
  auto f = gguf::File::Open(kQwen3Vocab);
  EXPECT_TRUE(f.ok()) << f.status();
  auto t = tok::Tokenizer::FromGguf(**f);
  EXPECT_TRUE(t.ok()) << t.status();
  return std::move(*t);
}

// The markers as the server builds them (Frontend): "<think>", "</think>", "\n</think>\n\n".
ReasoningBudget Markers(const tok::Tokenizer& t, int32_t max_tokens, bool prompt_opens) {
  ReasoningBudget b;
  b.max_tokens = max_tokens;
  b.prompt_opens = prompt_opens;
  b.open = t.Encode("<think>", false, true);
  b.close = t.Encode("</think>", false, true);
  b.force = t.Encode("\n</think>\n\n", false, true);
  return b;
}

// Drives the state machine as the engine does: a forced token wins over the "model's" next.
std::vector<int32_t> Drive(ReasoningBudgetState& st, const std::vector<int32_t>& model) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < model.size()) {
    const int32_t f = st.Forced();
    const int32_t t = f >= 0 ? f : model[i++];
    out.push_back(t);
    st.Accept(t);
  }
  return out;
}

class BudgetState : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { vocab_ = LoadVocab().release(); }
  static void TearDownTestSuite() { delete vocab_; }
  void SetUp() override {
    ASSERT_NE(vocab_, nullptr);
    // Qwen3's markers are single added tokens; the forced close is "\n", "</think>", "\n\n".
    ASSERT_EQ(Markers(*vocab_, 0, false).open, std::vector<int32_t>{151667});
    ASSERT_EQ(Markers(*vocab_, 0, false).close, std::vector<int32_t>{151668});
    ASSERT_EQ(Markers(*vocab_, 0, false).force, (std::vector<int32_t>{198, 151668, 271}));
  }
  std::vector<int32_t> Words(const std::string& s) { return vocab_->Encode(s, false, false); }
  static tok::Tokenizer* vocab_;
};
tok::Tokenizer* BudgetState::vocab_ = nullptr;

TEST_F(BudgetState, CountsThenForcesTheCloseThenSamplesAgain) {
  const ReasoningBudget b = Markers(*vocab_, 4, /*prompt_opens=*/true);
  ReasoningBudgetState st(b);
  EXPECT_TRUE(st.thinking());
  const std::vector<int32_t> words = Words(" one two three four five six seven");
  ASSERT_GE(words.size(), 7u);
  const std::vector<int32_t> out = Drive(st, words);
  // 4 thinking tokens, the close (3 forced), then the model's next tokens.
  std::vector<int32_t> want(words.begin(), words.begin() + 4);
  want.insert(want.end(), b.force.begin(), b.force.end());
  want.insert(want.end(), words.begin() + 4, words.end());
  EXPECT_EQ(out, want);
  EXPECT_EQ(st.reasoning_tokens(), 4);
  EXPECT_FALSE(st.thinking());
  EXPECT_FALSE(st.forcing());
  EXPECT_EQ(st.Forced(), -1);
}

TEST_F(BudgetState, TheModelOpeningTheBlockStartsTheCount) {
  const ReasoningBudget b = Markers(*vocab_, 2, /*prompt_opens=*/false);
  ReasoningBudgetState st(b);
  EXPECT_FALSE(st.thinking());
  std::vector<int32_t> model = b.open;
  const std::vector<int32_t> words = Words(" a b c");
  model.insert(model.end(), words.begin(), words.end());
  const std::vector<int32_t> out = Drive(st, model);
  std::vector<int32_t> want = {b.open[0], words[0], words[1]};
  want.insert(want.end(), b.force.begin(), b.force.end());
  want.push_back(words[2]);
  EXPECT_EQ(out, want);
  // Output that does not start with the open marker has no block: nothing is forced.
  ReasoningBudgetState none(b);
  EXPECT_EQ(Drive(none, Words(" plain answer text with many words in it")),
            Words(" plain answer text with many words in it"));
}

TEST_F(BudgetState, AModelClosingTheBlockItselfIsUntouched) {
  const ReasoningBudget b = Markers(*vocab_, 5, /*prompt_opens=*/true);
  ReasoningBudgetState st(b);
  std::vector<int32_t> model = Words(" short");
  model.push_back(b.close[0]);
  const std::vector<int32_t> answer = Words(" the answer is long and goes on and on");
  model.insert(model.end(), answer.begin(), answer.end());
  EXPECT_EQ(Drive(st, model), model);
  EXPECT_FALSE(st.thinking());
  // Closing with the budget's last token is the model's close too.
  ReasoningBudget four = Markers(*vocab_, 4, true);
  ReasoningBudgetState at(four);
  std::vector<int32_t> m4 = Words(" a b c");
  ASSERT_EQ(m4.size(), 3u);
  m4.push_back(four.close[0]);
  m4.insert(m4.end(), answer.begin(), answer.end());
  EXPECT_EQ(Drive(at, m4), m4);
}

TEST_F(BudgetState, BudgetZeroClosesAtOnce) {
  const ReasoningBudget b = Markers(*vocab_, 0, /*prompt_opens=*/true);
  ReasoningBudgetState st(b);
  EXPECT_TRUE(st.forcing());
  const std::vector<int32_t> words = Words(" answer");
  std::vector<int32_t> want = b.force;
  want.insert(want.end(), words.begin(), words.end());
  EXPECT_EQ(Drive(st, words), want);
  // Model-opened: "<think>" then the close at once.
  const ReasoningBudget b0 = Markers(*vocab_, 0, false);
  ReasoningBudgetState st0(b0);
  std::vector<int32_t> model = b0.open;
  model.insert(model.end(), words.begin(), words.end());
  std::vector<int32_t> want0 = b0.open;
  want0.insert(want0.end(), b0.force.begin(), b0.force.end());
  want0.insert(want0.end(), words.begin(), words.end());
  EXPECT_EQ(Drive(st0, model), want0);
}

TEST_F(BudgetState, OffWithoutABudgetOrAForceSequence) {
  ReasoningBudget b = Markers(*vocab_, -1, true);
  ReasoningBudgetState unlimited(b);
  const std::vector<int32_t> words = Words(" one two three four five six");
  EXPECT_EQ(Drive(unlimited, words), words);
  ReasoningBudget no_force = Markers(*vocab_, 1, true);
  no_force.force.clear();
  ReasoningBudgetState off(no_force);
  EXPECT_EQ(Drive(off, words), words);
}

TEST_F(BudgetState, ATokenOtherThanTheForcedOneAbandonsTheForce) {
  // The engine does not force while a grammar is in force: the sampled token goes in instead.
  const ReasoningBudget b = Markers(*vocab_, 1, true);
  ReasoningBudgetState st(b);
  st.Accept(Words(" x")[0]);
  ASSERT_TRUE(st.forcing());
  EXPECT_EQ(st.Forced(), b.force[0]);
  st.Accept(b.force[0]);
  EXPECT_EQ(st.Forced(), b.force[1]);
  st.Accept(Words(" y")[0]);
  EXPECT_FALSE(st.forcing());
  EXPECT_EQ(st.Forced(), -1);
}

// The engine on a synthesized qwen3 model with the real Qwen3 vocabulary.
class BudgetEngine : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("phx_budget_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    model::SynthOptions so = testing::TinySynth("qwen3", kQwen3Vocab, 512);
    so.tied_output = true;
    const std::string path = (*dir_ / "m.gguf").string();
    ASSERT_TRUE(model::SynthesizeModel(so, path).ok());
    backend_ = new ops::cpu::CpuBackend(1);
    auto m = model::Model::Load(path, *backend_);
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = m->release();
    engine::EngineConfig cfg;
    cfg.max_num_seqs = 8;
    cfg.max_tokens_per_step = 256;
    cfg.kv_cache_bytes = int64_t{16} << 20;
    auto e = engine::Engine::Create(*model_, *backend_, cfg);
    ASSERT_TRUE(e.ok()) << e.status();
    engine_ = e->release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    delete model_;
    delete backend_;
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
  }

  // Qwen3's template in its thinking form: the generation prompt opens the block.
  static chat::ChatPrompt Render(bool opens) {
    std::ifstream in(kShared + "/templates/qwen3-tokenizer_config.jinja");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string src = ss.str();
    if (opens) {
      const std::string gen = "{{- '<|im_start|>assistant\\n' }}";
      const size_t at = src.rfind(gen);
      EXPECT_NE(at, std::string::npos);
      src.replace(at, gen.size(), "{{- '<|im_start|>assistant\\n<think>\\n' }}");
    }
    const fs::path file = *dir_ / (opens ? "thinking.jinja" : "qwen3.jinja");
    std::ofstream(file) << src;
    chat::ChatRendererOptions o;
    o.template_arg = file.string();
    auto r = chat::ChatRenderer::Create(model_->tokenizer(), std::nullopt, o);
    EXPECT_TRUE(r.ok()) << r.status();
    auto p = r->Render(nlohmann::ordered_json::parse(
        R"({"messages": [{"role": "user", "content": "Is 7 prime?"}]})"));
    EXPECT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->in_reasoning, opens);
    return *p;
  }

  static engine::GenerateRequest Req(const chat::ChatPrompt& p, int32_t budget,
                                     int32_t max_tokens) {
    const tok::Tokenizer& t = model_->tokenizer();
    engine::GenerateRequest r;
    r.prompt = t.EncodeWithPlainSpans(p.text, p.add_special, p.plain_spans);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = max_tokens;
    r.reasoning = Markers(t, budget, p.in_reasoning);
    return r;
  }

  static std::vector<testing::Collected> Run(std::vector<engine::GenerateRequest> reqs) {
    auto sink = std::make_shared<testing::CollectSink>();
    std::vector<engine::RequestId> ids;
    for (auto& r : reqs) {
      auto id = engine_->Submit(std::move(r), sink);
      EXPECT_TRUE(id.ok()) << id.status();
      if (id.ok()) ids.push_back(*id);
    }
    EXPECT_TRUE(engine_->RunUntilIdle().ok());
    std::vector<testing::Collected> out;
    for (auto id : ids) out.push_back(sink->Get(id));
    return out;
  }

  static int Count(const std::vector<int32_t>& v, int32_t t) {
    return static_cast<int>(std::count(v.begin(), v.end(), t));
  }

  static fs::path* dir_;
  static ops::cpu::CpuBackend* backend_;
  static model::Model* model_;
  static engine::Engine* engine_;
};
fs::path* BudgetEngine::dir_ = nullptr;
ops::cpu::CpuBackend* BudgetEngine::backend_ = nullptr;
model::Model* BudgetEngine::model_ = nullptr;
engine::Engine* BudgetEngine::engine_ = nullptr;

TEST_F(BudgetEngine, ThinkingHasExactlyTheBudgetThenTheCloseThenAnAnswer) {
  const chat::ChatPrompt p = Render(/*opens=*/true);
  const ReasoningBudget m = Markers(model_->tokenizer(), 0, true);
  for (int32_t budget : {0, 1, 7, 20}) {
    SCOPED_TRACE(budget);
    engine::GenerateRequest budgeted = Req(p, budget, budget + 12);
    budgeted.sampling.logprobs = 2;
    engine::GenerateRequest free = Req(p, -1, budget + 12);
    auto got = Run({std::move(budgeted), std::move(free)});
    const std::vector<int32_t>& t = got[0].tokens;
    ASSERT_EQ(t.size(), static_cast<size_t>(budget + 12)) << got[0].text;
    EXPECT_EQ(got[0].reason, FinishReason::kLength);
    // The random model never closes the block itself: without the budget no close at all.
    EXPECT_EQ(Count(got[1].tokens, m.close[0]), 0);
    // Greedy: the thinking is the unbudgeted run's first `budget` tokens, then the close.
    EXPECT_TRUE(std::equal(t.begin(), t.begin() + budget, got[1].tokens.begin()));
    EXPECT_TRUE(std::equal(m.force.begin(), m.force.end(), t.begin() + budget));
    EXPECT_EQ(Count({t.begin(), t.begin() + budget}, m.close[0]), 0);
    // Forced tokens: logprob 0, no alternatives; sampled ones have theirs.
    for (size_t i = 0; i < t.size(); ++i) {
      const bool forced = i >= static_cast<size_t>(budget) && i < budget + m.force.size();
      EXPECT_EQ(got[0].events[i].top.empty(), forced) << i;
      if (forced) EXPECT_EQ(got[0].events[i].logprob, 0.f) << i;
    }
    // The reasoning splitter sees the close: the text after it is the answer.
    auto split =
        chat::ReasoningSplitter::Split(chat::ReasoningFormat::kDeepseek, true, got[0].text);
    EXPECT_NE(got[0].text.find("\n</think>\n\n"), std::string::npos) << got[0].text;
    EXPECT_EQ(split.reasoning.find("</think>"), std::string::npos) << split.reasoning;
  }
}

TEST_F(BudgetEngine, TheModelOpeningTheBlockItself) {
  // Plain Qwen3 template: the model writes "<think>" (a logit bias makes this one do) and
  // everything after it counts toward the budget.
  const chat::ChatPrompt p = Render(/*opens=*/false);
  const ReasoningBudget m = Markers(model_->tokenizer(), 0, false);
  engine::GenerateRequest r = Req(p, 5, 12);
  r.sampling.logit_bias = {{m.open[0], 100.f}};
  auto got = Run({std::move(r)});
  const std::vector<int32_t>& t = got[0].tokens;
  ASSERT_EQ(t.size(), 12u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t[i], m.open[0]) << i;  // "<think>" + 5 counted
  EXPECT_TRUE(std::equal(m.force.begin(), m.force.end(), t.begin() + 6));
  EXPECT_EQ(t[9], m.open[0]);  // then sampling again
}

TEST_F(BudgetEngine, AModelThatClosesTheBlockEarlyIsUntouched) {
  const chat::ChatPrompt p = Render(/*opens=*/true);
  const ReasoningBudget m = Markers(model_->tokenizer(), 0, true);
  engine::GenerateRequest r = Req(p, 3, 10);
  r.sampling.logit_bias = {{m.close[0], 100.f}};
  auto got = Run({std::move(r)});
  EXPECT_EQ(got[0].tokens, std::vector<int32_t>(10, m.close[0]));
}

TEST_F(BudgetEngine, NoEosNoStopInsideTheForcedSpan) {
  const chat::ChatPrompt p = Render(/*opens=*/true);
  const tok::Tokenizer& tok = model_->tokenizer();
  const ReasoningBudget m = Markers(tok, 0, true);
  // EOS is the model's favourite, banned by min_tokens for the budget's 3 tokens: the forced
  // close still comes whole, then the model's EOS ends it.
  engine::GenerateRequest eos = Req(p, 3, 20);
  const int32_t end = tok.Encode("<|im_end|>", false, true)[0];
  ASSERT_TRUE(tok.IsEog(end));
  eos.sampling.logit_bias = {{end, 100.f}};
  eos.sampling.min_tokens = 3;
  // Stop strings, and stop tokens, that the forced span holds do not stop it.
  engine::GenerateRequest stop = Req(p, 2, 8);
  stop.sampling.stop = {"</think>", "\n"};
  engine::GenerateRequest stop_ids = Req(p, 2, 8);
  stop_ids.sampling.stop_token_ids = {m.close[0], m.force[0]};
  auto got = Run({std::move(eos), std::move(stop), std::move(stop_ids)});
  const std::vector<int32_t>& t = got[0].tokens;
  ASSERT_EQ(t.size(), 3 + m.force.size() + 1) << got[0].text;
  EXPECT_TRUE(std::equal(m.force.begin(), m.force.end(), t.begin() + 3));
  EXPECT_EQ(t.back(), end);
  EXPECT_EQ(got[0].reason, FinishReason::kEos);
  for (int i : {1, 2}) {
    SCOPED_TRACE(i);
    if (got[i].tokens.size() < 2 + m.force.size()) {
      ADD_FAILURE() << "stopped after " << got[i].tokens.size() << ": " << got[i].text;
      continue;
    }
    EXPECT_TRUE(std::equal(m.force.begin(), m.force.end(), got[i].tokens.begin() + 2));
    EXPECT_NE(got[i].text.find("\n</think>\n\n"), std::string::npos) << got[i].text;
  }
}

TEST_F(BudgetEngine, EachSequenceOfAPromptGroupHasItsOwnBudget) {
  const chat::ChatPrompt p = Render(/*opens=*/true);
  const ReasoningBudget m = Markers(model_->tokenizer(), 0, true);
  std::vector<engine::GenerateRequest> reqs;
  for (int i = 0; i < 3; ++i) {
    engine::GenerateRequest r = Req(p, 4 + i, 16);
    r.sampling.temperature = 1.f;
    r.sampling.seed = 7 + i;
    r.prompt_group = 99;
    reqs.push_back(std::move(r));
  }
  auto got = Run(std::move(reqs));
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(got[i].tokens.size(), 16u);
    EXPECT_EQ(Count({got[i].tokens.begin(), got[i].tokens.begin() + 4 + i}, m.close[0]), 0);
    EXPECT_TRUE(std::equal(m.force.begin(), m.force.end(), got[i].tokens.begin() + 4 + i)) << i;
  }
}

}  // namespace
}  // namespace phx
