// Fuzzes tool calling (runtime/chat/tool_calls.h). Byte 0 picks the mode:
//  - parse (bit 7 clear): the rest is a model answer in format byte0 % 7, parsed whole and
//    streamed in pieces (sizes from byte 1); every streamed delta equals the reference stream's
//    (the whole text analyzed from scratch per piece), the streamed content equals the whole
//    parse's, the whole parse's calls are the first streamed calls with the same names and
//    arguments, every returned call has object arguments, and the stream's work is linear;
//  - schema (bit 7 set): the rest, if it is JSON, is a tool's parameters schema; the GBNF built
//    from it (and each format's grammar around it) must compile.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runtime/chat/tool_calls.h"
#include "runtime/grammar/gbnf.h"

namespace {

using phx::chat::ToolFormat;

void Check(bool ok) {
  if (!ok) std::abort();
}

void Parse(ToolFormat f, std::string_view text, size_t piece) {
  const phx::chat::ParsedToolOutput whole = phx::chat::ParseToolCalls(f, text);
  for (const auto& c : whole.calls) {
    Check(!c.name.empty());
    Check(nlohmann::json::parse(c.arguments, nullptr, false).is_object());
  }
  phx::chat::ToolCallStream s(f);
  std::string content;
  std::vector<phx::chat::ToolCall> calls;
  auto take = [&](const phx::chat::ToolCallStream::Delta& d) {
    content += d.content;
    for (const auto& c : d.calls) {
      if (c.first) {
        Check(c.index == calls.size());
        calls.push_back({c.name, ""});
      }
      Check(c.index < calls.size());
      calls[c.index].arguments += c.arguments;
    }
  };
  // The incremental stream returns the reference's deltas (whole-text analysis every piece).
  phx::chat::ToolCallStream ref(f, /*incremental=*/false);
  auto same = [&](const phx::chat::ToolCallStream::Delta& a,
                  const phx::chat::ToolCallStream::Delta& b) {
    Check(a.content == b.content && a.calls.size() == b.calls.size());
    for (size_t k = 0; k < a.calls.size(); ++k) {
      Check(a.calls[k].index == b.calls[k].index && a.calls[k].first == b.calls[k].first &&
            a.calls[k].name == b.calls[k].name && a.calls[k].arguments == b.calls[k].arguments);
    }
  };
  // (The reference's work is quadratic: it runs on answers up to 2 KB.)
  const bool compare = text.size() <= 2048;
  for (size_t i = 0; i < text.size(); i += piece) {
    const auto d = s.Push(text.substr(i, piece));
    if (compare) same(d, ref.Push(text.substr(i, piece)));
    take(d);
  }
  const auto d = s.Finish();
  if (compare) same(d, ref.Finish());
  take(d);
  // Linear work: each byte examined about twice (a name or a generic response is both skipped
  // and decoded), plus per piece what may be re-read: a held-back start of the marker (under
  // 32 bytes) and a cut-off \uXXXX escape.
  const size_t pieces = text.size() / piece + 2;
  Check(s.scanned() <= 2 * text.size() + 40 * pieces);
  Check(content == whole.content);
  Check(calls.size() >= whole.calls.size());
  for (size_t k = 0; k < whole.calls.size(); ++k) {
    Check(calls[k].name == whole.calls[k].name);
    Check(calls[k].arguments == whole.calls[k].arguments);
  }
}

void Schema(std::string_view text, uint8_t choice) {
  auto schema = nlohmann::ordered_json::parse(text, nullptr, false);
  if (schema.is_discarded()) return;
  const std::string g = phx::chat::SchemaToGbnf(schema);
  Check(phx::grammar::CompileGbnfGrammar(g).ok());
  std::vector<phx::chat::ToolDef> tools(1);
  tools[0].name = "f-1_x";
  tools[0].parameters = schema;
  const ToolFormat f = static_cast<ToolFormat>(1 + choice % 6);  // the GBNF formats
  const phx::chat::ToolGrammar tg = phx::chat::BuildToolGrammar(
      f, tools, {phx::chat::ToolChoiceMode::kRequired, ""}, (choice & 8) != 0);
  Check(phx::grammar::CompileGbnfGrammar(tg.text).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > 8192) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
  if (data[0] & 0x80) {
    Schema(text, data[1]);
  } else {
    Parse(static_cast<ToolFormat>(data[0] % 7), text, 1 + data[1] % 16);
  }
  return 0;
}
