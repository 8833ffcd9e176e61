// Which chat template a server or CLI uses: `--chat-template NAME|FILE` when given (a built-in
// name, else a file holding a Jinja template), else the model's tokenizer.chat_template, else
// nothing (the chat endpoint then explains what to pass).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/chat/template.h"
#include "runtime/gguf/gguf.h"

namespace phx::chat {

struct ResolvedTemplate {
  std::optional<Template> tpl;  // empty when there is none (see `problem`)
  // Where it came from: "GGUF tokenizer.chat_template", "--chat-template chatml",
  // "--chat-template file /path".
  std::string origin;
  std::string builtin;  // the built-in name when the template is a fallback
  // Whether the prompt is tokenized with the vocabulary's BOS/EOS added. Model and file
  // templates write bos_token themselves, as transformers assumes (false); the built-in
  // fallbacks do not (true), so their token ids are the server's former ones.
  bool add_special = false;
  // Why there is no template (names --chat-template and the built-in names).
  std::string problem;
};

// The model's template (tokenizer.chat_template), if the GGUF has one.
std::optional<std::string> GgufChatTemplate(const gguf::File& f);

// `override_arg` empty: the model's template (a text that is just a built-in name selects that
// built-in). An override that is neither a built-in name nor a readable file holding a template
// that parses is an error (the server refuses to start). A model without a template, or with
// one that does not parse, gives a result with `problem` set (completions still work).
absl::StatusOr<ResolvedTemplate> ResolveChatTemplate(std::string_view override_arg,
                                                     const std::optional<std::string>& gguf);

}  // namespace phx::chat
