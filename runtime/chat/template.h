// Chat templates: the Jinja engine's public interface.
//
// Renders a model's chat template the way Hugging Face transformers' apply_chat_template does:
// Python Jinja2 in an ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
// extensions=[loopcontrols, the {% generation %} tag]) with transformers' tojson,
// raise_exception and strftime_now. The variables are a JSON object whose top-level keys become
// the template's variables unchanged (messages, tools, add_generation_prompt, bos_token,
// eos_token, chat_template_kwargs merged at the top level, ...). Strings of the variables are
// user text unless their top-level key is trusted (bos_token, eos_token): the result says which
// bytes of the prompt came from user text, so that tokenization can refuse to turn them into
// control tokens (see runtime/chat/chat_prompt.h).
#pragma once

#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/chat/interp.h"
#include "runtime/chat/parser.h"
#include "runtime/chat/text.h"

namespace phx::chat {

struct RenderedPrompt {
  std::string text;
  // Byte ranges of `text` that came from user text (sorted, disjoint).
  std::vector<ByteRange> user_spans;
};

struct RenderOptions {
  RenderLimits limits;
  // Top-level variables whose strings are the template's side, not user text.
  std::vector<std::string> trusted_keys = {"bos_token", "eos_token"};
  // The time strftime_now formats (local time when unset). Tests pin it.
  std::function<std::tm()> clock;
};

class Template {
 public:
  // Parses `source` (TemplateSyntaxError: InvalidArgument naming the line).
  static absl::StatusOr<Template> Parse(std::string_view source, const ParseOptions& opt = {});

  // Renders. Errors (all InvalidArgument, ResourceExhausted for the limits):
  //  - raise_exception(msg): the message is exactly `msg` (IsRaisedByTemplate is true);
  //  - other Jinja2 errors: "<Kind>: <message>" as Python words them, e.g.
  //    "UndefinedError: 'x' is undefined", "SecurityError: access to attribute 'append' of
  //    'list' object is unsafe.", "TypeError: ...".
  absl::StatusOr<RenderedPrompt> Render(const nlohmann::ordered_json& vars,
                                        const RenderOptions& opt = {}) const;

  const std::string& source() const { return *source_; }

  // A Template is immutable once parsed: Render may run on many threads at once.

 private:
  std::shared_ptr<const Program> program_;
  std::shared_ptr<const std::string> source_;
};

// Whether a Render error came from the template's raise_exception.
bool IsRaisedByTemplate(const absl::Status& s);
// The Python exception class a Render error stands for ("UndefinedError", "TemplateError"...),
// or "" for statuses not made by Render.
std::string TemplateErrorKind(const absl::Status& s);

// JSON to engine values (objects keep their key order; every string is user text unless
// `trusted`).
Value ValueFromJson(const nlohmann::ordered_json& j, bool trusted);

}  // namespace phx::chat
