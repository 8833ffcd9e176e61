// The named fallback templates, for models whose GGUF has no tokenizer.chat_template: the nine
// formats server/http/chat_template.cc renders (chatml, llama2, mistral, mistral-v1,
// mistral-v3, mistral-v3-tekken, llama3, zephyr, phi3), written as Jinja. They render exactly
// what those formatters render: no BOS text (the tokenizer adds BOS as the vocabulary says), and
// the llama2/mistral families ignore add_generation_prompt (their text always ends after
// "[/INST]" or the EOS).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace phx::chat {

// The Jinja source of a built-in template, or nullopt for an unknown name.
std::optional<std::string_view> BuiltinTemplate(std::string_view name);
// Every built-in name, in a fixed order.
std::vector<std::string_view> BuiltinTemplateNames();
// "chatml, llama2, ..." for messages.
std::string BuiltinTemplateList();

}  // namespace phx::chat
