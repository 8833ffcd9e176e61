// Tool calling (runtime/chat/tool_calls.h): the format detected from each real template in
// ../shared/templates, each format's grammar compiled with the real Qwen3 and Llama 3.1
// vocabularies (a grammar::Matcher accepts a well-formed call and refuses malformed ones), and
// the parser on whole, malformed, truncated and streamed-in-pieces answers.
#include <fstream>
#include <map>
#include <sstream>

#include "gtest/gtest.h"
#include "runtime/chat/tool_calls.h"
#include "runtime/gguf/gguf.h"
#include "runtime/grammar/engine.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::chat {
namespace {

using ojson = nlohmann::ordered_json;

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ToolFormatTest, DetectedFromEachRealTemplate) {
  const std::map<std::string, ToolFormat> want = {
      {"CohereForAI-c4ai-command-r-plus-tool_use", ToolFormat::kCommandR},
      {"CohereForAI-c4ai-command-r7b-12-2024-tool_use", ToolFormat::kCommandR7B},
      {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use", ToolFormat::kHermes},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", ToolFormat::kHermes},
      {"Qwen-Qwen2.5-7B-Instruct", ToolFormat::kHermes},
      {"qwen3-tokenizer_config", ToolFormat::kHermes},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", ToolFormat::kDeepSeekR1},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", ToolFormat::kDeepSeekR1},
      {"llama-cpp-deepseek-r1", ToolFormat::kDeepSeekR1},
      {"meta-llama-Llama-3.1-8B-Instruct", ToolFormat::kLlama3},
      {"meta-llama-Llama-3.2-3B-Instruct", ToolFormat::kLlama3},
      {"meta-llama-Llama-3.3-70B-Instruct", ToolFormat::kLlama3},
      {"mistralai-Mistral-Nemo-Instruct-2407", ToolFormat::kMistral},
      // No format of their own here: the generic one.
      {"fireworks-ai-llama-3-firefunction-v2", ToolFormat::kGeneric},
      {"meetkai-functionary-medium-v3.1", ToolFormat::kGeneric},
      {"meetkai-functionary-medium-v3.2", ToolFormat::kGeneric},
      {"gemma3-tokenizer_config", ToolFormat::kGeneric},
      {"google-gemma-2-2b-it", ToolFormat::kGeneric},
      {"llama3-tokenizer_config", ToolFormat::kGeneric},
      {"microsoft-Phi-3.5-mini-instruct", ToolFormat::kGeneric},
  };
  for (const auto& [name, format] : want) {
    const std::string src = ReadFile(std::string(PHX_SHARED_DIR) + "/templates/" + name + ".jinja");
    ASSERT_FALSE(src.empty()) << name;
    EXPECT_EQ(ToolFormatName(DetectToolFormat(src)), std::string(ToolFormatName(format))) << name;
  }
  EXPECT_EQ(DetectToolFormat("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}"),
            ToolFormat::kGeneric);
}

std::vector<ToolDef> Tools() {
  std::vector<ToolDef> t(2);
  t[0].name = "get_weather";
  t[0].description = "Weather at a place";
  t[0].parameters = ojson::parse(R"({"type": "object", "properties": {
      "location": {"type": "string", "minLength": 1},
      "unit": {"enum": ["c", "f"]}}, "required": ["location"]})");
  t[1].name = "add";
  t[1].parameters = ojson::parse(R"({"type": "object", "properties": {
      "a": {"type": "integer"}, "b": {"$ref": "#/$defs/num"}},
      "required": ["a", "b"], "additionalProperties": false,
      "$defs": {"num": {"type": ["integer", "null"]}}})");
  return t;
}

// Each format: one call, two calls, and malformed answers.
struct Case {
  ToolFormat format;
  std::string one, two;
  std::vector<std::string> bad;
};

std::vector<Case> Cases() {
  const std::string w =
      R"({"name": "get_weather", "arguments": {"location": "Paris", "unit": "c"}})";
  const std::string a = R"({"name": "add", "arguments": {"a": 1, "b": null}})";
  const std::string w_bad = R"({"name": "get_weather", "arguments": {"location": 5}})";
  const std::string n_bad = R"({"name": "get_wether", "arguments": {"location": "Paris"}})";
  auto params = [](std::string s, const char* name_key) {
    std::string out = s.replace(s.find("\"arguments\""), 11, "\"parameters\"");
    if (std::string(name_key) != "name") out.replace(out.find("\"name\""), 6, "\"tool_name\"");
    return out;
  };
  auto ds = [](const std::string& name, const std::string& args) {
    return "<｜tool▁call▁begin｜>function<｜tool▁sep｜>" + name + "\n```json\n" + args +
           "\n```<｜tool▁call▁end｜>";
  };
  const std::string wa = R"({"location": "Paris", "unit": "c"})", aa = R"({"a": 1, "b": null})";
  std::vector<Case> c;
  c.push_back({ToolFormat::kHermes,
               "<tool_call>\n" + w + "\n</tool_call>",
               "<tool_call>\n" + w + "\n</tool_call>\n<tool_call>\n" + a + "\n</tool_call>",
               {"<tool_call>\n" + w_bad + "\n</tool_call>",
                "<tool_call>\n" + n_bad + "\n</tool_call>", "<tool_call>" + w, w}});
  c.push_back({ToolFormat::kMistral,
               "[TOOL_CALLS][" + w + "]",
               "[TOOL_CALLS][" + w + ", " + a + "]",
               {"[TOOL_CALLS][" + w_bad + "]", "[TOOL_CALLS]" + w, "[TOOL_CALLS][" + n_bad + "]"}});
  c.push_back({ToolFormat::kLlama3,
               params(w, "name"),
               "",
               {params(w_bad, "name"), w, params(n_bad, "name")}});
  c.push_back(
      {ToolFormat::kDeepSeekR1,
       "<｜tool▁calls▁begin｜>" + ds("get_weather", wa) + "<｜tool▁calls▁end｜>",
       "<｜tool▁calls▁begin｜>" + ds("get_weather", wa) + ds("add", aa) + "<｜tool▁calls▁end｜>",
       {"<｜tool▁calls▁begin｜>" + ds("get_weather", R"({"location": 5})") + "<｜tool▁calls▁end｜>",
        "<｜tool▁calls▁begin｜>" + ds("get_wether", wa) + "<｜tool▁calls▁end｜>"}});
  c.push_back(
      {ToolFormat::kCommandR,
       "Action: ```json\n[\n    " + params(w, "tool_name") + "\n]\n```",
       "Action: ```json\n[" + params(w, "tool_name") + ", " + params(a, "tool_name") + "]\n```",
       {"Action: ```json\n[" + params(w_bad, "tool_name") + "]\n```",
        "Action: ```json\n[" + w + "]\n```"}});
  const std::string r7 = R"({"tool_call_id": "0", )";
  c.push_back(
      {ToolFormat::kCommandR7B,
       "<|START_ACTION|>[" + r7 + params(w, "tool_name").substr(1) + "]<|END_ACTION|>",
       "<|START_ACTION|>[" + r7 + params(w, "tool_name").substr(1) + ", " + r7 +
           params(a, "tool_name").substr(1) + "]<|END_ACTION|>",
       {"<|START_ACTION|>[" + params(w, "tool_name") + "]<|END_ACTION|>",
        "<|START_ACTION|>[" + r7 + params(w_bad, "tool_name").substr(1) + "]<|END_ACTION|>"}});
  c.push_back({ToolFormat::kGeneric,
               R"({"tool_calls": [)" + w + "]}",
               R"({"tool_calls": [)" + w + ", " + a + "]}",
               {R"({"tool_calls": [)" + w_bad + "]}", R"({"tool_calls": [)" + n_bad + "]}",
                R"({"tool_calls": []})", R"({"response": 1})", w}});
  return c;
}

class ToolGrammarTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto f = gguf::File::Open(std::string(PHX_SHARED_DIR) + "/vocab/hf/" + GetParam());
    if (!f.ok()) GTEST_SKIP() << "no vocabulary: " << f.status();
    auto tok = tok::Tokenizer::FromGguf(**f);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tok_ = std::move(*tok);
    engine_ = grammar::GrammarEngine::FromTokenizer(*tok_);
  }
  grammar::GrammarEngine::Compiled Compile(const ToolGrammar& g) {
    auto c = g.kind == ToolGrammar::Kind::kGbnf
                 ? engine_->CompileGbnf(g.text)
                 : engine_->CompileJsonSchema(g.text, {.strict = false});
    EXPECT_TRUE(c.ok()) << c.status() << "\n" << g.text;
    return c.ok() ? *c : nullptr;
  }
  // Whether the grammar takes `text` whole: as bytes, and token by token with the mask.
  bool Accepts(const grammar::GrammarEngine::Compiled& g, const std::string& text) {
    grammar::Matcher bytes(g);
    const bool by_bytes = bytes.CommitBytes(text) && bytes.IsAccepting();
    grammar::Matcher m(g);
    std::vector<uint64_t> mask(engine_->vocab()->mask_words());
    bool by_tokens = true;
    for (tok::TokenId t : tok_->Encode(text, false, false)) {
      m.ComputeMask(mask.data());
      if (!((mask[t / 64] >> (t % 64)) & 1) || !m.Commit(t)) {
        by_tokens = false;
        break;
      }
    }
    by_tokens = by_tokens && m.IsAccepting();
    EXPECT_EQ(by_bytes, by_tokens) << text;
    return by_bytes;
  }
  std::unique_ptr<tok::Tokenizer> tok_;
  std::unique_ptr<grammar::GrammarEngine> engine_;
};

TEST_P(ToolGrammarTest, EachFormatTakesWellFormedCallsOnly) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(ToolFormatName(c.format));
    const ToolGrammar one =
        BuildToolGrammar(c.format, Tools(), {ToolChoiceMode::kRequired, ""}, false);
    const ToolGrammar many =
        BuildToolGrammar(c.format, Tools(), {ToolChoiceMode::kRequired, ""}, true);
    EXPECT_TRUE(one.triggers.empty());
    auto g1 = Compile(one), gn = Compile(many);
    ASSERT_TRUE(g1 && gn);
    EXPECT_TRUE(Accepts(g1, c.one));
    EXPECT_TRUE(Accepts(gn, c.one));
    if (!c.two.empty()) {
      EXPECT_FALSE(Accepts(g1, c.two)) << "parallel_tool_calls false allows one call";
      EXPECT_TRUE(Accepts(gn, c.two));
    }
    for (const std::string& bad : c.bad) EXPECT_FALSE(Accepts(gn, bad)) << bad;
    // A named choice: that tool only.
    auto named =
        Compile(BuildToolGrammar(c.format, Tools(), {ToolChoiceMode::kNamed, "add"}, true));
    ASSERT_TRUE(named);
    EXPECT_FALSE(Accepts(named, c.one));
    // auto: the same calls, lazily from the format's start text (the generic format forces its
    // JSON answer, a response included).
    const ToolGrammar lazy = BuildToolGrammar(c.format, Tools(), {ToolChoiceMode::kAuto, ""}, true);
    auto ga = Compile(lazy);
    ASSERT_TRUE(ga);
    EXPECT_TRUE(Accepts(ga, c.one));
    if (c.format == ToolFormat::kGeneric) {
      EXPECT_TRUE(lazy.triggers.empty());
      EXPECT_TRUE(Accepts(ga, R"({"response": "It is sunny."})"));
      EXPECT_FALSE(Accepts(gn, R"({"response": "It is sunny."})"));
    } else {
      ASSERT_EQ(lazy.triggers.size(), 1u);
      EXPECT_EQ(c.one.find(lazy.triggers[0]), 0u) << lazy.triggers[0];
    }
    EXPECT_EQ(BuildToolGrammar(c.format, Tools(), {ToolChoiceMode::kNone, ""}, true).kind,
              ToolGrammar::Kind::kNone);
  }
}

TEST_P(ToolGrammarTest, SchemaToGbnfMatchesInstances) {
  const ojson schema = ojson::parse(R"({"type": "object", "properties": {
      "name": {"type": "string", "maxLength": 3},
      "tags": {"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 2},
      "next": {"$ref": "#"}}, "required": ["name"]})");
  auto g = Compile({ToolGrammar::Kind::kGbnf, SchemaToGbnf(schema), {}});
  ASSERT_TRUE(g);
  for (const char* ok : {R"({"name": "abc"})", R"({"name":"a","tags":[true]})",
                         R"({"name": "a", "next": {"name": "b", "tags": [false, true]}})",
                         R"({"name": "\u00e9"})"}) {
    EXPECT_TRUE(Accepts(g, ok)) << ok;
  }
  for (const char* bad : {R"({})", R"({"name": "abcd"})", R"({"name": "a", "tags": []})",
                          R"({"name": "a", "tags": [1]})", R"({"tags": [true], "name": "a"})",
                          R"({"name": "a", "other": 1})", R"({"name": "a", "next": {}})"}) {
    EXPECT_FALSE(Accepts(g, bad)) << bad;
  }
}

// A schema that refers to itself before anything is consumed (left recursion; found by
// tool_calls_fuzz) still compiles: the self-reference matches any value, so no valid
// instance is rejected.
TEST_P(ToolGrammarTest, SchemaToGbnfLeftRecursiveReferencesCompile) {
  for (const char* text : {
           R"({"type": "object", "$ref": "#"})",
           R"({"anyOf": [{"$ref": "#"}, {"type": "string"}]})",
           R"({"allOf": [{"anyOf": [{"type": "integer"}, {"$ref": "#"}]}]})",
           R"({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": "#/$defs/a"},
               {"type": "null"}]}}, "$ref": "#/$defs/a"})",
       }) {
    SCOPED_TRACE(text);
    auto g = Compile({ToolGrammar::Kind::kGbnf, SchemaToGbnf(ojson::parse(text)), {}});
    ASSERT_TRUE(g);
    EXPECT_TRUE(Accepts(g, R"("x")"));
    EXPECT_FALSE(Accepts(g, R"("x)"));
  }
  // Recursion after a '{' or '[' keeps its structure.
  auto g = Compile({ToolGrammar::Kind::kGbnf,
                    SchemaToGbnf(ojson::parse(R"({"anyOf": [{"type": "null"}, {"type": "array",
                        "items": {"$ref": "#"}}]})")),
                    {}});
  ASSERT_TRUE(g);
  EXPECT_TRUE(Accepts(g, "[[null], []]"));
  EXPECT_FALSE(Accepts(g, "[1]"));
}

INSTANTIATE_TEST_SUITE_P(RealVocabularies, ToolGrammarTest,
                         ::testing::Values("ggml-vocab-qwen3.gguf", "ggml-vocab-llama3.gguf"));

TEST(ToolParseTest, WellFormedCallsOfEachFormat) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(ToolFormatName(c.format));
    ParsedToolOutput p = ParseToolCalls(c.format, c.one);
    ASSERT_EQ(p.calls.size(), 1u) << c.one;
    EXPECT_EQ(p.content, "");
    EXPECT_EQ(p.calls[0].name, "get_weather");
    EXPECT_EQ(ojson::parse(p.calls[0].arguments),
              ojson::parse(R"({"location": "Paris", "unit": "c"})"));
    if (c.two.empty()) continue;
    p = ParseToolCalls(c.format, c.two);
    ASSERT_EQ(p.calls.size(), 2u) << c.two;
    EXPECT_EQ(p.calls[1].name, "add");
    EXPECT_EQ(ojson::parse(p.calls[1].arguments), ojson::parse(R"({"a": 1, "b": null})"));
  }
}

TEST(ToolParseTest, ContentAroundCallsAndMalformedCalls) {
  const std::string call = R"(<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>)";
  ParsedToolOutput p = ParseToolCalls(ToolFormat::kHermes, "Let me check.\n" + call + "\n");
  EXPECT_EQ(p.content, "Let me check.\n");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, R"({"x": 1})");
  // No call: all content; a malformed or truncated call stays text.
  for (const std::string& text :
       {std::string("Just text <tool_"), std::string("a <tool_call>{\"name\": 3}</tool_call>"),
        std::string("a <tool_call>not json</tool_call>"),
        std::string("a <tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>")}) {
    p = ParseToolCalls(ToolFormat::kHermes, text);
    EXPECT_EQ(p.content, text);
    EXPECT_TRUE(p.calls.empty()) << text;
  }
  // Truncated (max_tokens) inside the arguments: no call.
  p = ParseToolCalls(ToolFormat::kHermes, R"(<tool_call>{"name": "f", "arguments": {"x": )");
  EXPECT_TRUE(p.calls.empty());
  // Text after the calls is content too.
  p = ParseToolCalls(ToolFormat::kHermes, call + " done");
  EXPECT_EQ(p.content, " done");
  EXPECT_EQ(p.calls.size(), 1u);
  // Llama 3: a bare call, or after <|python_tag|>; other JSON is content.
  p = ParseToolCalls(ToolFormat::kLlama3, R"(<|python_tag|>{"name": "f", "parameters": {}})");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, "{}");
  p = ParseToolCalls(ToolFormat::kMistral, R"([{"name": "f", "arguments": {"a": 1}}])");
  ASSERT_EQ(p.calls.size(), 1u);  // [TOOL_CALLS] not shown (a control token)
  p = ParseToolCalls(ToolFormat::kLlama3, R"({"answer": 1})");
  EXPECT_EQ(p.content, R"({"answer": 1})");
  // Generic: the response is the content, decoded.
  p = ParseToolCalls(ToolFormat::kGeneric, R"({"response": "sun\n\u00e9 \ud83d\ude00"})");
  EXPECT_EQ(p.content, "sun\n\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_TRUE(p.calls.empty());
  p = ParseToolCalls(ToolFormat::kGeneric, "not json");
  EXPECT_EQ(p.content, "not json");
}

// The answer streamed in pieces of every size from 1 to 9 bytes gives the same content and
// calls as parsing it whole, and never announces a call the whole parse does not have.
TEST(ToolStreamTest, PiecesAddUpToTheWholeParse) {
  std::vector<std::pair<ToolFormat, std::string>> answers;
  for (const Case& c : Cases()) {
    answers.emplace_back(c.format, c.one);
    if (!c.two.empty()) answers.emplace_back(c.format, c.two);
  }
  answers.emplace_back(ToolFormat::kHermes,
                       "I will call it.\n<tool_call>\n{\"name\": \"f\", \"arguments\": "
                       "{\"s\": \"a}\\\"b\"}}\n</tool_call>");
  answers.emplace_back(ToolFormat::kGeneric, R"({"response": "sun \"and\" \u00e9 rain"})");
  // tool_calls_fuzz: a raw tab ends the response string; what came before it stays content.
  answers.emplace_back(ToolFormat::kGeneric, "{\"response\": \"A&bj\tc\"}");
  answers.emplace_back(ToolFormat::kGeneric, R"({"response": "a", "response": "b"})");
  answers.emplace_back(ToolFormat::kHermes, "Plain answer with < and <tool but no call.");
  answers.emplace_back(ToolFormat::kMistral, R"( [{"name": "f", "arguments": {"a": [1]}}])");
  for (const auto& [format, text] : answers) {
    const ParsedToolOutput whole = ParseToolCalls(format, text);
    for (size_t piece = 1; piece <= 9; ++piece) {
      SCOPED_TRACE(std::string(ToolFormatName(format)) + " piece " + std::to_string(piece));
      ToolCallStream s(format);
      std::string content;
      std::vector<ToolCall> calls;
      auto take = [&](const ToolCallStream::Delta& d) {
        content += d.content;
        for (const auto& c : d.calls) {
          if (c.first) {
            ASSERT_EQ(c.index, calls.size());
            calls.push_back({c.name, ""});
          }
          ASSERT_LT(c.index, calls.size());
          calls[c.index].arguments += c.arguments;
        }
      };
      for (size_t i = 0; i < text.size(); i += piece) take(s.Push(text.substr(i, piece)));
      take(s.Finish());
      EXPECT_EQ(content, whole.content) << text;
      ASSERT_EQ(calls.size(), whole.calls.size()) << text;
      for (size_t k = 0; k < calls.size(); ++k) {
        EXPECT_EQ(calls[k].name, whole.calls[k].name);
        EXPECT_EQ(calls[k].arguments, whole.calls[k].arguments);
      }
    }
  }
}

TEST(ToolStreamTest, HoldsBackWhatMayStartACall) {
  ToolCallStream s(ToolFormat::kHermes);
  EXPECT_EQ(s.Push("Hi <tool").content, "Hi ");
  ToolCallStream::Delta d = s.Push("_call>{\"name\": \"f\", \"arguments\": {\"a\"");
  EXPECT_EQ(d.content, "");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_TRUE(d.calls[0].first);
  EXPECT_EQ(d.calls[0].name, "f");
  EXPECT_EQ(d.calls[0].arguments, "{\"a\"");
  d = s.Push(": 1}}</tool_call>");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_FALSE(d.calls[0].first);
  EXPECT_EQ(d.calls[0].arguments, ": 1}");
  EXPECT_TRUE(s.Finish().empty());
  // A held-back prefix that turns out to be text comes out.
  ToolCallStream t(ToolFormat::kHermes);
  EXPECT_EQ(t.Push("a <tool").content, "a ");
  EXPECT_EQ(t.Push("box").content, "<toolbox");
}

}  // namespace
}  // namespace phx::chat
