#include "server/http/chat_template.h"

#include <array>
#include <cctype>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/strings.h"

namespace phx::server {
namespace {

constexpr std::array<std::pair<std::string_view, ChatFamily>, 9> kNames = {{
    {"chatml", ChatFamily::kChatml},
    {"llama2", ChatFamily::kLlama2},
    {"mistral", ChatFamily::kMistral},
    {"mistral-v1", ChatFamily::kMistralV1},
    {"mistral-v3", ChatFamily::kMistralV3},
    {"mistral-v3-tekken", ChatFamily::kMistralV3Tekken},
    {"llama3", ChatFamily::kLlama3},
    {"zephyr", ChatFamily::kZephyr},
    {"phi3", ChatFamily::kPhi3},
}};

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// [INST] ... [/INST] without the official Mistral spacing: llama2 (with a <<SYS>> block) and
// plain mistral (the system message opens the first turn). Always ends after [/INST] or </s>.
std::string RenderLlama2(const ChatFormat& f, const std::vector<ChatMessage>& msgs,
                         const ChatSpecials& sp) {
  const bool system_block = f.family == ChatFamily::kLlama2;
  std::string out = "[INST] ";
  bool inside_turn = true;  // the first [INST] is already out (BOS comes from the tokenizer)
  for (const ChatMessage& m : msgs) {
    const std::string content = f.strip_content ? Trim(m.content) : m.content;
    if (!inside_turn) {
      inside_turn = true;
      out += f.bos_inside_history ? sp.bos + "[INST] " : "[INST] ";
    }
    if (m.role == "system") {
      out += system_block ? StrCat("<<SYS>>\n", content, "\n<</SYS>>\n\n") : content + "\n";
    } else if (m.role == "user") {
      out += content + " [/INST]";
    } else {
      out += content + sp.eos;
      inside_turn = false;
    }
  }
  return out;
}

// Mistral's official tokenizer templates: v1 " [INST] x [/INST] y</s>", v3 "[INST] x[/INST] y</s>"
// (assistant text trimmed), v3-tekken "[INST]x[/INST]y</s>".
std::string RenderMistral(ChatFamily fam, const std::vector<ChatMessage>& msgs,
                          const ChatSpecials& sp) {
  const std::string leading = fam == ChatFamily::kMistralV1 ? " " : "";
  const std::string trailing = fam == ChatFamily::kMistralV3Tekken ? "" : " ";
  const bool trim_assistant = fam == ChatFamily::kMistralV3;
  std::string out;
  bool inside_turn = false;
  for (const ChatMessage& m : msgs) {
    if (!inside_turn) {
      out += leading + "[INST]" + trailing;
      inside_turn = true;
    }
    if (m.role == "system") {
      out += m.content + "\n\n";
    } else if (m.role == "user") {
      out += m.content + leading + "[/INST]";
    } else {
      out += trailing + (trim_assistant ? Trim(m.content) : m.content) + sp.eos;
      inside_turn = false;
    }
  }
  return out;
}

}  // namespace

std::string_view ChatFamilyName(ChatFamily f) {
  for (const auto& [name, fam] : kNames) {
    if (fam == f) return name;
  }
  return "unknown";
}

std::string ChatTemplateNames() {
  std::vector<std::string_view> names;
  for (const auto& [name, fam] : kNames) names.push_back(name);
  return StrJoin(names, ", ");
}

std::optional<ChatFormat> ChatFormatFromName(std::string_view name) {
  for (const auto& [n, fam] : kNames) {
    if (n == name) return ChatFormat{fam};
  }
  return std::nullopt;
}

std::optional<ChatFormat> DetectChatFormat(std::string_view t) {
  if (auto named = ChatFormatFromName(Trim(t))) return named;
  auto has = [t](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (has("<|im_start|>")) return ChatFormat{ChatFamily::kChatml};
  if (t.substr(0, 7) == "mistral" || has("[INST]")) {
    if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
      if (has(" [INST]")) return ChatFormat{ChatFamily::kMistralV1};
      if (has("\"[INST]\"")) return ChatFormat{ChatFamily::kMistralV3Tekken};
      return ChatFormat{ChatFamily::kMistralV3};
    }
    ChatFormat f{ChatFamily::kMistral};
    f.strip_content = has("content.strip()");
    f.bos_inside_history = has("bos_token + '[INST]");
    if (f.strip_content || f.bos_inside_history || has("<<SYS>>")) f.family = ChatFamily::kLlama2;
    return f;
  }
  if (has("<|assistant|>") && has("<|end|>")) return ChatFormat{ChatFamily::kPhi3};
  if (has("<|start_header_id|>") && has("<|end_header_id|>"))
    return ChatFormat{ChatFamily::kLlama3};
  if (has("<|user|>")) return ChatFormat{ChatFamily::kZephyr};
  return std::nullopt;
}

std::string RenderChat(const ChatFormat& fmt, const std::vector<ChatMessage>& msgs,
                       bool add_generation_prompt, const ChatSpecials& sp) {
  std::string out;
  switch (fmt.family) {
    case ChatFamily::kChatml:
      for (const ChatMessage& m : msgs) {
        out += StrCat("<|im_start|>", m.role, "\n", m.content, "<|im_end|>\n");
      }
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    case ChatFamily::kLlama2:
    case ChatFamily::kMistral:
      return RenderLlama2(fmt, msgs, sp);
    case ChatFamily::kMistralV1:
    case ChatFamily::kMistralV3:
    case ChatFamily::kMistralV3Tekken:
      return RenderMistral(fmt.family, msgs, sp);
    case ChatFamily::kLlama3:
      for (const ChatMessage& m : msgs) {
        out += StrCat("<|start_header_id|>", m.role, "<|end_header_id|>\n\n", Trim(m.content),
                      "<|eot_id|>");
      }
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    case ChatFamily::kZephyr:
      for (const ChatMessage& m : msgs)
        out += StrCat("<|", m.role, "|>\n", m.content, sp.eos, "\n");
      if (add_generation_prompt) out += "<|assistant|>\n";
      return out;
    case ChatFamily::kPhi3:
      for (const ChatMessage& m : msgs) out += StrCat("<|", m.role, "|>\n", m.content, "<|end|>\n");
      if (add_generation_prompt) out += "<|assistant|>\n";
      return out;
  }
  return out;
}

absl::StatusOr<ChatTemplate> ResolveChatTemplate(const std::string& override_name,
                                                 const std::optional<std::string>& gguf_jinja) {
  ChatTemplate t;
  if (!override_name.empty()) {
    if (auto f = ChatFormatFromName(override_name)) {
      t.format = f;
      t.source = StrCat("--chat-template ", override_name);
      return t;
    }
    std::ifstream in(override_name, std::ios::binary);
    if (!in.good()) {
      return absl::InvalidArgumentError(StrCat("--chat-template: '", override_name,
                                               "' is neither a template name (",
                                               ChatTemplateNames(), ") nor a readable file"));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    t.format = DetectChatFormat(ss.str());
    if (!t.format) {
      return absl::InvalidArgumentError(StrCat("--chat-template: the template in ", override_name,
                                               " is not one of the known families (",
                                               ChatTemplateNames(), "); give a name instead"));
    }
    t.source = StrCat("--chat-template file ", override_name);
    return t;
  }
  if (!gguf_jinja || gguf_jinja->empty()) {
    t.problem = StrCat(
        "the model has no chat template (tokenizer.chat_template); start the server "
        "with --chat-template NAME (one of ",
        ChatTemplateNames(), ")");
    return t;
  }
  t.format = DetectChatFormat(*gguf_jinja);
  if (!t.format) {
    t.problem = StrCat(
        "the model's chat template is not one of the known families; start the "
        "server with --chat-template NAME (one of ",
        ChatTemplateNames(), ")");
    return t;
  }
  t.source = "GGUF tokenizer.chat_template";
  return t;
}

}  // namespace phx::server
