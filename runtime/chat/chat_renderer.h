// What a server needs to answer chat requests with a model's chat template: the template chosen
// once at start (--chat-template NAME|FILE, else the model's tokenizer.chat_template), the
// vocabulary's BOS/EOS texts, and the reasoning mode (--reasoning-format); then, per request,
// the OpenAI body rendered into a prompt whose user text is marked so that tokenization keeps
// it out of control tokens, and whether generation starts inside a think block.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "runtime/chat/reasoning.h"
#include "runtime/chat/resolver.h"
#include "runtime/chat/tool_calls.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::chat {

struct ChatRendererOptions {
  std::string template_arg;  // --chat-template: a built-in name or a Jinja file; "" for the model's
  ReasoningFormat reasoning = ReasoningFormat::kDeepseek;  // --reasoning-format
  RenderLimits limits;
  std::function<std::tm()> clock;  // strftime_now's time (local time when unset)
};

struct ChatPrompt {
  std::string text;
  // Byte ranges of `text` that came from the request: tokenized with special-token parsing off
  // (Tokenizer::EncodeWithPlainSpans); the rest with it on.
  std::vector<tok::TextSpan> plain_spans;
  // Whether the vocabulary's BOS/EOS are added when tokenizing (false for model and file
  // templates, which write bos_token themselves; true for the built-in fallbacks).
  bool add_special = false;
  // Generation starts inside a think block the template opened (DeepSeek R1; Qwen3 thinking):
  // the reasoning splitter starts in reasoning.
  bool in_reasoning = false;
};

class ChatRenderer {
 public:
  // `model_template`: the GGUF's tokenizer.chat_template (GgufChatTemplate), if any. A bad
  // --chat-template is an error; a model without a usable template is not (available() is
  // false and problem() says what to pass).
  static absl::StatusOr<ChatRenderer> Create(const tok::Tokenizer& tokenizer,
                                             const std::optional<std::string>& model_template,
                                             ChatRendererOptions opts);

  bool available() const { return resolved_.tpl.has_value(); }
  const std::string& problem() const { return resolved_.problem; }
  // "GGUF tokenizer.chat_template", "--chat-template chatml", "--chat-template file PATH".
  const std::string& origin() const { return resolved_.origin; }
  // Whether responses carry reasoning_content: the template thinks and the format is deepseek.
  bool splits_reasoning() const { return splits_reasoning_; }
  // Whether the template thinks (TemplateThinks): a thinking budget applies to its prompts.
  bool thinks() const { return thinks_; }
  ReasoningFormat reasoning_format() const { return opts_.reasoning; }
  // How the template writes tool calls (kGeneric for the built-in fallbacks and templates
  // without a format of their own).
  ToolFormat tool_format() const { return tool_format_; }
  // A splitter for one response to `prompt` (format none when the template does not think).
  ReasoningSplitter Splitter(const ChatPrompt& prompt) const;

  // Renders an OpenAI chat body (messages with string or text-part content, tools, documents,
  // add_generation_prompt, chat_template_kwargs merged at the top level) with the vocabulary's
  // bos_token/eos_token. Errors are InvalidArgument: a field of the body ("messages[1].content:
  // must be ..."), the template's raise_exception message as it wrote it, another template error
  // ("UndefinedError: ..."), or FailedPrecondition when there is no template (problem()).
  absl::StatusOr<ChatPrompt> Render(const nlohmann::ordered_json& body) const;

 private:
  ChatRenderer() = default;
  ResolvedTemplate resolved_;
  ChatRendererOptions opts_;
  std::string bos_, eos_;
  bool content_as_parts_ = false;
  bool splits_reasoning_ = false;
  bool thinks_ = false;
  ToolFormat tool_format_ = ToolFormat::kGeneric;
};

// The field a Render error is about ("messages[1].content: ..." -> "messages[1].content"), or
// "messages" for a template error.
std::string ChatErrorField(const absl::Status& s);

}  // namespace phx::chat
