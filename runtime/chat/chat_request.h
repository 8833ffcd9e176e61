// From an OpenAI chat request body to a chat template's variables, the way vLLM maps them:
// `messages` with their fields as sent ("developer" roles as "system"; content arrays of text parts joined with "\n", or kept
// as arrays for templates that iterate them; absent or null content as "" (or []);
// tool_calls[].function.arguments JSON strings parsed into objects, as templates tojson them), `tools`, `documents`, `add_generation_prompt`
// (default true), and `chat_template_kwargs` merged at the top level (enable_thinking...);
// bos_token/eos_token are the vocabulary's.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace phx::chat {

struct ChatRequestOptions {
  std::string bos_token, eos_token;  // the vocabulary's token texts
  // Keep content arrays as arrays (TemplateIteratesContent); else text parts joined by "\n".
  bool content_as_parts = false;
};

// Whether a template loops over a message's content (multimodal-style templates such as
// Gemma 3's accept [{"type": "text", "text": ...}] lists).
bool TemplateIteratesContent(std::string_view template_source);

// The variables for Template::Render. Errors (InvalidArgument) name the field:
// "messages[2].content[0].type: only text parts are supported", "messages: must be an array"...
// The caller renders them with RenderOptions::trusted_keys = {"bos_token", "eos_token"}.
absl::StatusOr<nlohmann::ordered_json> ChatTemplateVariables(const nlohmann::ordered_json& body,
                                                             const ChatRequestOptions& opt);

}  // namespace phx::chat
