// Tool calling (OpenAI `tools`): the tool-call format a chat template uses, the grammar that
// forces or lazily constrains a call in that format, and the parser that turns the model's
// output back into content + tool calls, whole or incrementally while streaming.
//
// Formats (llama.cpp's common/chat.cpp names them the same way):
//   kHermes      Hermes 2 Pro/3, Qwen 2.5/3:  <tool_call>{"name": .., "arguments":
//   {..}}</tool_call> kLlama3      Llama 3.1-3.3:  {"name": .., "parameters": {..}} (optionally
//   after <|python_tag|>) kMistral     Mistral Nemo:  [TOOL_CALLS][{"name": .., "arguments": {..}},
//   ..] kDeepSeekR1  DeepSeek R1 (and its distills):
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function
//                <｜tool▁sep｜>NAME\n```json\n{..}\n```<｜tool▁call▁end｜>..<｜tool▁calls▁end｜>
//   kCommandR    Command R(+):  Action: ```json [{"tool_name": .., "parameters": {..}}] ```
//   kCommandR7B  Command R7B:  <|START_ACTION|>[{"tool_call_id": .., "tool_name": ..,
//   ..}]<|END_ACTION|> kGeneric     templates without a format of their own (chatml, the built-in
//   fallbacks,
//                functionary, firefunction): the whole answer is one JSON object,
//                {"tool_calls": [{"name": .., "arguments": {..}}]} or {"response": ".."}, described
//                in an added system message and forced by the grammar (llama-server's generic
//                handler).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/chat/tool_json_scan.h"

namespace phx::chat {

enum class ToolFormat { kGeneric, kHermes, kLlama3, kMistral, kDeepSeekR1, kCommandR, kCommandR7B };
const char* ToolFormatName(ToolFormat f);

// The format a chat template's source text writes tool calls in (kGeneric when none).
ToolFormat DetectToolFormat(std::string_view template_source);

struct ToolDef {
  std::string name;
  std::string description;
  nlohmann::ordered_json parameters =
      nlohmann::ordered_json::object();  // a JSON schema of type object
};

enum class ToolChoiceMode { kNone, kAuto, kRequired, kNamed };
struct ToolChoice {
  ToolChoiceMode mode = ToolChoiceMode::kAuto;
  std::string name;  // kNamed
};

// The constraint for a request's tools, as text the grammar engine compiles.
struct ToolGrammar {
  enum class Kind { kNone, kGbnf, kJsonSchema };
  Kind kind = Kind::kNone;
  std::string text;
  // Lazy grammar (tool_choice auto, formats with a start text): the grammar applies from the
  // first byte of one of these on. Empty: from the first token.
  std::vector<std::string> triggers;
};

// The grammar for `tools` under `choice` (kNone: an empty grammar). required/named: forced from
// the first token, one call (parallel false) or one or more; a named choice allows that tool
// only. auto: the same grammar, lazy from the format's start text; the generic format forces
// its JSON answer (tool calls or a response) in every mode but none. Llama 3 templates take
// one call per turn, so kLlama3 allows one whatever `parallel` says. The grammar is GBNF:
// argument schemas converted by tool_gbnf.h (keywords it cannot express are approximated by a
// superset), at most one space between JSON tokens, a few blanks around the wrapper text.
ToolGrammar BuildToolGrammar(ToolFormat f, const std::vector<ToolDef>& tools,
                             const ToolChoice& choice, bool parallel);

// The generic format's system message: the tools and the answer format.
std::string GenericToolSystemPrompt(const std::vector<ToolDef>& tools, const ToolChoice& choice,
                                    bool parallel);

// A JSON schema as a whole GBNF grammar whose `root` matches its instances, or a superset where
// a keyword cannot be expressed in GBNF (pattern, format, numeric bounds, allOf of several,
// not, ...); members come in `properties` order and undeclared members only where
// additionalProperties allows them explicitly (tool_gbnf.cc).
std::string SchemaToGbnf(const nlohmann::ordered_json& schema);

struct ToolCall {
  std::string name;
  std::string arguments;  // the JSON text of the arguments, as generated
};

struct ParsedToolOutput {
  std::string content;
  std::vector<ToolCall> calls;
};

// The whole answer split into content and tool calls. Text that does not parse as calls in the
// format (a malformed or truncated call) stays in the content.
ParsedToolOutput ParseToolCalls(ToolFormat f, std::string_view text);

// The same while the answer streams in: each Push returns what became certain (content that
// cannot be the start of a call; a call's name once complete; its arguments text as it grows),
// as OpenAI streams tool calls. The concatenated deltas equal ParseToolCalls' result whenever
// every call is well formed. Each Push costs what the new text costs (the scans resume where
// the last Push left them; the text before the call section is searched once), plus a few
// steps per call announced so far.
class ToolCallStream {
 public:
  struct CallDelta {
    size_t index = 0;
    bool first = false;     // the call's first delta: carries the name
    std::string name;       // first only
    std::string arguments;  // the next piece of the arguments text
  };
  struct Delta {
    std::string content;
    std::vector<CallDelta> calls;
    bool empty() const { return content.empty() && calls.empty(); }
  };

  // `incremental` false: each Push analyzes the whole text from scratch, the reference the
  // incremental stream is tested against (same deltas, quadratic work).
  explicit ToolCallStream(ToolFormat f, bool incremental = true)
      : format_(f), incremental_(incremental) {}
  Delta Push(std::string_view text);
  // The end of the answer: the rest (held-back content, a malformed call's text).
  Delta Finish();
  // Calls announced so far.
  size_t num_calls() const { return emitted_args_.size(); }
  // Bytes the parser examined so far (its work): incremental, a small multiple of the text's
  // size (plus a few bytes per call and piece), however small the pieces.
  size_t scanned() const;

 private:
  Delta Diff(bool final);
  ToolFormat format_;
  bool incremental_;
  tooljson::ParseState state_;  // what the scans of text_ found so far
  size_t scanned_before_ = 0;   // reference mode: the work of the analyses before this one
  std::string text_;
  size_t emitted_content_ = 0;
  std::vector<size_t> emitted_args_;  // per announced call: arguments bytes sent
};

}  // namespace phx::chat
