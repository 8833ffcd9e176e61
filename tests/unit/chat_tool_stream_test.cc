// The streamed tool-call parser (ToolCallStream) is incremental: every delta it returns equals
// the reference's (the same stream analyzing the whole text from scratch on every piece), on
// long answers in every format (content with near-markers, calls with long arguments: escapes,
// \u pairs, many numbers, nesting; malformed and cut-off calls), fed in random pieces; and its
// work (bytes its scans examine) stays within a small multiple of the answer's size where the
// reference's grows with the square.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/chat/tool_calls.h"

namespace phx::chat {
namespace {

// Prose with things that look like the start of a call but are not.
std::string Prose(std::mt19937* rng, size_t bytes) {
  static const char* kWords[] = {"the",  "weather", "is",     "fine,", "<b>",   "a < b",
                                 "{x}",  "\"q\"",   "[1, 2]", "\n",    "<tool", "Action",
                                 "<|py", "[TOOL",   "é",      "日本",  "```",   "\\n"};
  std::string s;
  while (s.size() < bytes) {
    s += kWords[(*rng)() % (sizeof(kWords) / sizeof(kWords[0]))];
    s += ' ';
  }
  return s;
}

// Arguments of about `bytes`: a long string with escapes, many numbers, nesting.
std::string Args(std::mt19937* rng, size_t bytes) {
  std::string text;
  while (text.size() < bytes / 2) {
    switch ((*rng)() % 6) {
      case 0:
        text += "\\\"quoted\\\" ";
        break;
      case 1:
        text += "line\\nnext\\t";
        break;
      case 2:
        text += "\\u00e9\\ud83d\\ude00 ";
        break;
      case 3:
        text += "back\\\\slash ";
        break;
      default:
        text += "plain words } ] { [ , : ";
    }
  }
  std::string nums;
  for (size_t k = 0; nums.size() < bytes / 2; ++k) {
    nums += (k ? ", " : "") + std::to_string(static_cast<int>((*rng)() % 20000) - 10000) +
            (k % 3 == 0 ? ".5e-3" : "");
  }
  return R"({"text": ")" + text + R"(", "nums": [)" + nums +
         R"(], "nested": {"a": [true, false, null, {"b": "x", "c": {}}], "d": []}})";
}

// A long answer in format f: prose, then `calls` calls with ~`arg_bytes` arguments each.
std::string Answer(ToolFormat f, std::mt19937* rng, size_t prose, size_t calls, size_t arg_bytes) {
  std::string s = Prose(rng, prose);
  auto call = [&](const char* name_key, const char* args_key) {
    return std::string("{\"") + name_key + "\": \"get_" + std::to_string((*rng)() % 100) +
           "\", \"" + args_key + "\": " + Args(rng, arg_bytes) + "}";
  };
  auto list = [&](const char* name_key, const char* args_key) {
    std::string l = "[";
    for (size_t k = 0; k < calls; ++k) l += (k ? ", " : "") + call(name_key, args_key);
    return l + "]";
  };
  switch (f) {
    case ToolFormat::kHermes:
      for (size_t k = 0; k < calls; ++k) {
        s += "<tool_call>\n" + call("name", "arguments") + "\n</tool_call>\n";
      }
      return s + "after";
    case ToolFormat::kLlama3:
      return s + "<|python_tag|>" + call("name", "parameters");
    case ToolFormat::kMistral:
      return s + "[TOOL_CALLS]" + list("name", "arguments");
    case ToolFormat::kDeepSeekR1:
      s += "<｜tool▁calls▁begin｜>";
      for (size_t k = 0; k < calls; ++k) {
        s += "<｜tool▁call▁begin｜>function<｜tool▁sep｜>f" + std::to_string(k) + "\n```json\n" +
             Args(rng, arg_bytes) + "\n```<｜tool▁call▁end｜>";
      }
      return s + "<｜tool▁calls▁end｜>";
    case ToolFormat::kCommandR:
      return s + "Action: ```json\n" + list("tool_name", "parameters") + "\n```";
    case ToolFormat::kCommandR7B:
      return s + "<|START_ACTION|>" + list("tool_name", "parameters") + "<|END_ACTION|>";
    case ToolFormat::kGeneric:
      if (calls == 0) {
        std::string p = Prose(rng, prose), e;
        for (char c : p) {
          if (c == '"' || c == '\\') e += '\\';
          e += c == '\n' ? std::string("\\n") : std::string(1, c);
        }
        return "{\"response\": \"" + e + " \\u00e9\\ud83d\\ude00\"}";
      }
      return "{\"tool_calls\": " + list("name", "arguments") + "}";
  }
  return s;
}

void ExpectSameDelta(const ToolCallStream::Delta& got, const ToolCallStream::Delta& want) {
  ASSERT_EQ(got.content, want.content);
  ASSERT_EQ(got.calls.size(), want.calls.size());
  for (size_t k = 0; k < got.calls.size(); ++k) {
    EXPECT_EQ(got.calls[k].index, want.calls[k].index);
    EXPECT_EQ(got.calls[k].first, want.calls[k].first);
    EXPECT_EQ(got.calls[k].name, want.calls[k].name);
    ASSERT_EQ(got.calls[k].arguments, want.calls[k].arguments);
  }
}

// Feeds `text` in random pieces of 1..max_piece bytes to an incremental stream and the
// reference, comparing every delta. Returns the two streams' work.
std::pair<size_t, size_t> Compare(ToolFormat f, const std::string& text, size_t max_piece,
                                  uint32_t seed) {
  std::mt19937 rng(seed);
  ToolCallStream inc(f), ref(f, /*incremental=*/false);
  size_t pushes = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::min(text.size() - i, 1 + rng() % max_piece);
    const std::string_view piece(text.data() + i, n);
    const ToolCallStream::Delta got = inc.Push(piece), want = ref.Push(piece);
    ExpectSameDelta(got, want);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "at byte " << i << " of " << text.size() << " (piece " << pushes << ")";
      return {0, 0};
    }
    i += n;
    ++pushes;
  }
  ExpectSameDelta(inc.Finish(), ref.Finish());
  EXPECT_EQ(inc.num_calls(), ref.num_calls());
  return {inc.scanned(), ref.scanned()};
}

constexpr ToolFormat kFormats[] = {
    ToolFormat::kHermes,   ToolFormat::kLlama3,     ToolFormat::kMistral, ToolFormat::kDeepSeekR1,
    ToolFormat::kCommandR, ToolFormat::kCommandR7B, ToolFormat::kGeneric};

TEST(ToolStreamIncremental, EveryDeltaEqualsTheReference) {
  std::mt19937 rng(7);
  for (ToolFormat f : kFormats) {
    for (size_t calls : {0, 1, 3}) {
      SCOPED_TRACE(std::string(ToolFormatName(f)) + ", calls " + std::to_string(calls));
      const std::string text = Answer(f, &rng, 800, calls, 600);
      // Whole, cut off at random points (a call or string left open), and with a stray byte
      // that breaks the JSON somewhere in the calls.
      std::vector<std::string> texts = {text};
      for (int k = 0; k < 3; ++k) texts.push_back(text.substr(0, rng() % text.size()));
      std::string broken = text;
      broken[broken.size() - 1 - rng() % std::min<size_t>(broken.size(), 2000)] = '\x01';
      texts.push_back(broken);
      for (const std::string& t : texts) {
        for (size_t piece : {1, 7}) {
          Compare(f, t, piece, static_cast<uint32_t>(t.size() * 31 + piece));
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

// About 200 KB per answer: the deltas still equal the reference's (pieces up to 1 KB keep the
// quadratic reference affordable), and the incremental stream's work with pieces of one byte
// is within 3 bytes per byte of the answer.
TEST(ToolStreamIncremental, LongAnswersAreLinear) {
  std::mt19937 rng(11);
  for (ToolFormat f : kFormats) {
    SCOPED_TRACE(ToolFormatName(f));
    const size_t calls = f == ToolFormat::kLlama3 ? 1 : 4;
    // (The generic format has no prose: its calls make the whole answer.)
    const size_t arg_bytes = (f == ToolFormat::kGeneric ? 200'000 : 100'000) / calls;
    const std::string text = Answer(f, &rng, 100'000, calls, arg_bytes);
    ASSERT_GT(text.size(), 190'000u);
    const auto [inc, ref] = Compare(f, text, 1024, 5);
    if (HasFatalFailure()) return;
    EXPECT_LE(inc, 3 * text.size());
    EXPECT_GT(ref, 50 * text.size());  // the counter counts: the reference rescans

    ToolCallStream s(f);
    ToolCallStream::Delta all;
    auto take = [&all](ToolCallStream::Delta d) {
      all.content += d.content;
      for (auto& c : d.calls) all.calls.push_back(std::move(c));
    };
    for (char c : text) take(s.Push(std::string_view(&c, 1)));
    take(s.Finish());
    EXPECT_LE(s.scanned(), 3 * text.size()) << text.size();
    const ParsedToolOutput whole = ParseToolCalls(f, text);
    EXPECT_EQ(all.content, whole.content);
    ASSERT_EQ(whole.calls.size(), calls);
    std::vector<std::string> args(whole.calls.size());
    for (const auto& c : all.calls) {
      ASSERT_LT(c.index, args.size());
      args[c.index] += c.arguments;
    }
    for (size_t k = 0; k < args.size(); ++k) EXPECT_EQ(args[k], whole.calls[k].arguments);
  }
  // A long generic {"response": ...}: its content streams as it decodes.
  const std::string resp = Answer(ToolFormat::kGeneric, &rng, 200'000, 0, 0);
  ToolCallStream s(ToolFormat::kGeneric);
  std::string content;
  for (char c : resp) content += s.Push(std::string_view(&c, 1)).content;
  content += s.Finish().content;
  EXPECT_EQ(content, ParseToolCalls(ToolFormat::kGeneric, resp).content);
  EXPECT_LE(s.scanned(), 3 * resp.size());
}

}  // namespace
}  // namespace phx::chat
