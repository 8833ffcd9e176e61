// The reasoning splitter: a leading <think> block goes to reasoning_content, the rest to
// content; the prompt may already have opened the block (DeepSeek R1); streaming in any chunking
// (every split point, one byte at a time) gives the same result as the whole text; `none`
// leaves everything as content. Also which templates think and which prompts open the block.
#include <gtest/gtest.h>

#include <random>

#include "runtime/chat/reasoning.h"
#include "tests/unit/jinja_test_util.h"

namespace phx::chat::testing {
namespace {

using D = ReasoningSplitter::Delta;

D Stream(ReasoningFormat f, bool open, std::string_view text, const std::vector<size_t>& cuts) {
  ReasoningSplitter s(f, open);
  D all;
  size_t prev = 0;
  auto add = [&](const D& d) {
    all.reasoning += d.reasoning;
    all.content += d.content;
  };
  for (size_t c : cuts) {
    add(s.Push(text.substr(prev, c - prev)));
    prev = c;
  }
  add(s.Push(text.substr(prev)));
  add(s.Finish());
  return all;
}

struct SplitCase {
  bool open;
  std::string text, reasoning, content;
};

TEST(Reasoning, SplitsLikeWholeTextInEveryChunking) {
  const std::vector<SplitCase> cases = {
      {false, "<think>\nLet me add.\n</think>\n\nIt is 4.", "Let me add.", "It is 4."},
      {false, "  <think>a b</think>c", "a b", "c"},
      {false, "No thinking here.", "", "No thinking here."},
      {false, "Answer <think>not a block</think>", "", "Answer <think>not a block</think>"},
      {false, "<think>unfinished", "unfinished", ""},
      {false, "<thi", "", "<thi"},
      {false, "<think></think>", "", ""},
      {true, "Reasoning first.\n</think>\n\nThe answer.", "Reasoning first.", "The answer."},
      {true, "never closed  \n", "never closed", ""},
      {true, "</think>only answer", "", "only answer"},
      {true, "x </ think> y</think>z", "x </ think> y", "z"},
      {false, "<think>multi\n\nline\n</think>then <think>again</think>", "multi\n\nline",
       "then <think>again</think>"},
  };
  for (const SplitCase& c : cases) {
    const D whole = ReasoningSplitter::Split(ReasoningFormat::kDeepseek, c.open, c.text);
    EXPECT_EQ(whole.reasoning, c.reasoning) << c.text;
    EXPECT_EQ(whole.content, c.content) << c.text;
    for (size_t cut = 0; cut <= c.text.size(); ++cut) {
      const D d = Stream(ReasoningFormat::kDeepseek, c.open, c.text, {cut});
      EXPECT_EQ(d.reasoning, c.reasoning) << c.text << " cut at " << cut;
      EXPECT_EQ(d.content, c.content) << c.text << " cut at " << cut;
    }
    std::vector<size_t> bytes;
    for (size_t i = 1; i < c.text.size(); ++i) bytes.push_back(i);
    const D d = Stream(ReasoningFormat::kDeepseek, c.open, c.text, bytes);
    EXPECT_EQ(d.reasoning, c.reasoning) << c.text << " byte by byte";
    EXPECT_EQ(d.content, c.content) << c.text << " byte by byte";
    const D none = ReasoningSplitter::Split(ReasoningFormat::kNone, c.open, c.text);
    EXPECT_EQ(none.reasoning, "");
    EXPECT_EQ(none.content, c.text);
  }
}

TEST(Reasoning, StreamsReasoningBeforeTheBlockEnds) {
  ReasoningSplitter s(ReasoningFormat::kDeepseek, false);
  EXPECT_TRUE(s.Push("<thi").empty());
  EXPECT_TRUE(s.Push("nk>\n").empty());
  EXPECT_EQ(s.Push("step one ").reasoning, "step one");
  EXPECT_EQ(s.Push("two</").reasoning, " two");
  D d = s.Push("think>\n\nDone");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Done");
  EXPECT_EQ(s.Push(" more").content, " more");
  EXPECT_TRUE(s.Finish().empty());
}

// Long runs of white space (held back until the text after them shows whether they end the
// reasoning) streamed a byte at a time, and in random pieces: the same split as the whole text,
// and each byte examined a bounded number of times (no rescan of what is held back).
TEST(Reasoning, HeldWhiteSpaceIsExaminedOnce) {
  const std::string ws(60'000, ' '), lines(60'000, '\n');
  const std::vector<SplitCase> cases = {
      {true, "a" + ws + "b" + lines + "</think>" + ws + "answer", "a" + ws + "b", "answer"},
      {true, ws + "a" + lines + "</" + ws + "</think>x", "a" + lines + "</", "x"},
      {true, "a" + ws + lines, "a", ""},
      {false, lines + "<think>" + ws + "r" + ws + "</think>c" + ws, "r", "c" + ws},
      {false, ws + "no block" + lines, "", ws + "no block" + lines},
  };
  std::mt19937 rng(3);
  for (const SplitCase& c : cases) {
    const D whole = ReasoningSplitter::Split(ReasoningFormat::kDeepseek, c.open, c.text);
    EXPECT_EQ(whole.reasoning, c.reasoning);
    EXPECT_EQ(whole.content, c.content);
    for (size_t max_piece : {1, 50}) {
      ReasoningSplitter s(ReasoningFormat::kDeepseek, c.open);
      D all;
      size_t pushes = 0;
      for (size_t i = 0; i < c.text.size(); ++pushes) {
        const size_t n = std::min(c.text.size() - i, 1 + rng() % max_piece);
        const D d = s.Push(std::string_view(c.text).substr(i, n));
        all.reasoning += d.reasoning;
        all.content += d.content;
        i += n;
      }
      const D f = s.Finish();
      EXPECT_EQ(all.reasoning + f.reasoning, c.reasoning) << max_piece;
      EXPECT_EQ(all.content + f.content, c.content) << max_piece;
      EXPECT_LE(s.scanned(), 3 * c.text.size() + 16 * pushes) << max_piece;
      EXPECT_GE(s.scanned(), c.text.size() / 2) << "the counter counts";
    }
  }
}

TEST(Reasoning, FormatsAndDetection) {
  EXPECT_EQ(*ParseReasoningFormat("none"), ReasoningFormat::kNone);
  EXPECT_EQ(*ParseReasoningFormat("deepseek"), ReasoningFormat::kDeepseek);
  EXPECT_FALSE(ParseReasoningFormat("r1").ok());
  const std::string dir = std::string(PHX_SHARED_DIR) + "/templates/";
  for (const char* t : {"qwen3-tokenizer_config", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
                        "llama-cpp-deepseek-r1"}) {
    EXPECT_TRUE(TemplateThinks(ReadFile(dir + t + ".jinja"))) << t;
  }
  for (const char* t :
       {"Qwen-Qwen2.5-7B-Instruct", "meta-llama-Llama-3.1-8B-Instruct", "google-gemma-2-2b-it"}) {
    EXPECT_FALSE(TemplateThinks(ReadFile(dir + t + ".jinja"))) << t;
  }
  auto render = [&](const char* t, nlohmann::ordered_json extra) {
    auto tpl = Template::Parse(ReadFile(dir + t + ".jinja"));
    EXPECT_TRUE(tpl.ok());
    nlohmann::ordered_json v = {{"messages", {{{"role", "user"}, {"content", "hi <think>"}}}},
                                {"add_generation_prompt", true},
                                {"bos_token", "<s>"},
                                {"eos_token", "</s>"}};
    for (auto& [k, x] : extra.items()) v[k] = x;
    auto r = tpl->Render(v);
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  };
  // DeepSeek R1's generation prompt opens the block; Qwen3's does not (the model writes it),
  // and with enable_thinking=false it writes a closed, empty one. The user's "<think>" is text.
  EXPECT_TRUE(PromptOpensThink(render("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", {})));
  EXPECT_FALSE(PromptOpensThink(render("qwen3-tokenizer_config", {})));
  EXPECT_FALSE(PromptOpensThink(render("qwen3-tokenizer_config", {{"enable_thinking", false}})));
  EXPECT_FALSE(PromptOpensThink(render("Qwen-Qwen2.5-7B-Instruct", {})));
}

}  // namespace
}  // namespace phx::chat::testing
