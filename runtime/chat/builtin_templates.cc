#include "runtime/chat/builtin_templates.h"

#include <array>
#include <utility>

namespace phx::chat {
namespace {

// [INST] ... [/INST] without Mistral's official spacing. llama2 wraps the system message in
// <<SYS>>; plain mistral opens the first turn with it.
constexpr char kLlama2[] =
    "{% set ns = namespace(inside=true) %}"
    "[INST] "
    "{% for m in messages %}"
    "{% if not ns.inside %}{% set ns.inside = true %}[INST] {% endif %}"
    "{% if m.role == 'system' %}<<SYS>>\n{{ m.content }}\n<</SYS>>\n\n"
    "{% elif m.role == 'user' %}{{ m.content }} [/INST]"
    "{% else %}{{ m.content }}{{ eos_token }}{% set ns.inside = false %}"
    "{% endif %}"
    "{% endfor %}";

constexpr char kMistral[] =
    "{% set ns = namespace(inside=true) %}"
    "[INST] "
    "{% for m in messages %}"
    "{% if not ns.inside %}{% set ns.inside = true %}[INST] {% endif %}"
    "{% if m.role == 'system' %}{{ m.content }}\n"
    "{% elif m.role == 'user' %}{{ m.content }} [/INST]"
    "{% else %}{{ m.content }}{{ eos_token }}{% set ns.inside = false %}"
    "{% endif %}"
    "{% endfor %}";

// Mistral's tokenizer spacings: v1 " [INST] x [/INST] y</s>", v3 "[INST] x[/INST] y</s>" (the
// assistant text trimmed), v3-tekken "[INST]x[/INST]y</s>".
#define PHX_MISTRAL_OFFICIAL(LEAD, TRAIL, ASSISTANT)                     \
  "{% set ns = namespace(inside=false) %}"                               \
  "{% for m in messages %}"                                              \
  "{% if not ns.inside %}{% set ns.inside = true %}" LEAD "[INST]" TRAIL \
  "{% endif %}"                                                          \
  "{% if m.role == 'system' %}{{ m.content }}\n\n"                       \
  "{% elif m.role == 'user' %}{{ m.content }}" LEAD                      \
  "[/INST]"                                                              \
  "{% else %}" TRAIL "{{ " ASSISTANT                                     \
  " }}{{ eos_token }}{% set ns.inside = false %}"                        \
  "{% endif %}"                                                          \
  "{% endfor %}"

constexpr char kMistralV1[] = PHX_MISTRAL_OFFICIAL(" ", " ", "m.content");
constexpr char kMistralV3[] = PHX_MISTRAL_OFFICIAL("", " ", "m.content|trim");
constexpr char kMistralV3Tekken[] = PHX_MISTRAL_OFFICIAL("", "", "m.content");
#undef PHX_MISTRAL_OFFICIAL

constexpr char kChatml[] =
    "{% for m in messages %}"
    "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

constexpr char kLlama3[] =
    "{% for m in messages %}"
    "<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content|trim }}<|eot_id|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{% endif %}";

constexpr char kZephyr[] =
    "{% for m in messages %}"
    "<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

constexpr char kPhi3[] =
    "{% for m in messages %}"
    "<|{{ m.role }}|>\n{{ m.content }}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}";

constexpr std::array<std::pair<std::string_view, const char*>, 9> kBuiltins = {{
    {"chatml", kChatml},
    {"llama2", kLlama2},
    {"mistral", kMistral},
    {"mistral-v1", kMistralV1},
    {"mistral-v3", kMistralV3},
    {"mistral-v3-tekken", kMistralV3Tekken},
    {"llama3", kLlama3},
    {"zephyr", kZephyr},
    {"phi3", kPhi3},
}};

}  // namespace

std::optional<std::string_view> BuiltinTemplate(std::string_view name) {
  for (const auto& [n, src] : kBuiltins) {
    if (n == name) return std::string_view(src);
  }
  return std::nullopt;
}

std::vector<std::string_view> BuiltinTemplateNames() {
  std::vector<std::string_view> names;
  for (const auto& [n, src] : kBuiltins) names.push_back(n);
  return names;
}

std::string BuiltinTemplateList() {
  std::string s;
  for (const auto& [n, src] : kBuiltins) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

}  // namespace phx::chat
