// Fuzzes tool calling (runtime/chat/tool_calls.h). Byte 0 picks the mode:
//  - parse (bit 7 clear): the rest is a model answer in format byte0 % 7, parsed whole and
//    streamed in pieces (sizes from byte 1); the streamed content equals the whole parse's, the
//    whole parse's calls are the first streamed calls with the same names and arguments, and
//    every returned call has object arguments;
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
  for (size_t i = 0; i < text.size(); i += piece) take(s.Push(text.substr(i, piece)));
  take(s.Finish());
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
