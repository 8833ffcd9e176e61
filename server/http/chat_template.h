// Chat templates for /v1/chat/completions. A GGUF carries its template as Jinja
// (tokenizer.chat_template); rather than interpret Jinja, the common families are recognised by
// distinctive substrings (as llama.cpp's llm_chat_detect_template does) and rendered by built-in
// formatters: llama2 ([INST] with <<SYS>>), mistral ([INST] without a system block; the v1, v3
// and v3-tekken spacings), llama3, chatml (Qwen and others), zephyr and phi3.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace phx::server {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFamily {
  kChatml,
  kLlama2,
  kMistral,
  kMistralV1,
  kMistralV3,
  kMistralV3Tekken,
  kLlama3,
  kZephyr,
  kPhi3,
};

struct ChatFormat {
  ChatFamily family = ChatFamily::kChatml;
  // llama2 variants (detected from the Jinja text).
  bool bos_inside_history = false;  // "<s>" before every [INST] after the first turn
  bool strip_content = false;       // message contents are trimmed
};

// The texts of the vocabulary's special tokens that templates refer to.
struct ChatSpecials {
  std::string bos = "<s>";
  std::string eos = "</s>";
};

// "chatml", "llama2", "mistral", "mistral-v1", "mistral-v3", "mistral-v3-tekken", "llama3",
// "zephyr", "phi3".
std::string_view ChatFamilyName(ChatFamily f);
// The names --chat-template accepts, comma-separated (for messages).
std::string ChatTemplateNames();
std::optional<ChatFormat> ChatFormatFromName(std::string_view name);
// Recognises a Jinja template's family; nullopt when none matches.
std::optional<ChatFormat> DetectChatFormat(std::string_view jinja);

// Renders the conversation; with `add_generation_prompt` it ends with the assistant's turn
// opening. The text never starts with the BOS text: the tokenizer adds BOS when the vocabulary
// asks for it (parse_special turns special-token texts inside into their ids).
std::string RenderChat(const ChatFormat& fmt, const std::vector<ChatMessage>& messages,
                       bool add_generation_prompt, const ChatSpecials& specials);

// What the chat endpoint uses: the --chat-template override (a name, or a file holding a Jinja
// template) or else the GGUF's template. `format` is empty when neither gives a known family;
// `problem` then says why (and names --chat-template).
struct ChatTemplate {
  std::optional<ChatFormat> format;
  std::string source;   // "--chat-template chatml", "GGUF tokenizer.chat_template", ...
  std::string problem;  // set when format is empty
};

// An override that is neither a known name nor a readable file holding a recognised template
// is an error (the server refuses to start).
absl::StatusOr<ChatTemplate> ResolveChatTemplate(const std::string& override_name,
                                                 const std::optional<std::string>& gguf_jinja);

}  // namespace phx::server
