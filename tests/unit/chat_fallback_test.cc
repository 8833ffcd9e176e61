// The built-in fallback templates (runtime/chat/builtin_templates.cc): each renders the strings
// llama.cpp's built-in formatters produce for the conversation its test-chat-template uses
// (system, user, assistant, user, assistant with surrounding spaces, user; with the generation
// prompt), the engine renders them as Python's Jinja2 does on several conversations, and the
// resolver's choices. (These templates replaced the server's C++ formatters, which produced
// the same strings.)
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "runtime/chat/builtin_templates.h"
#include "runtime/chat/resolver.h"
#include "tests/unit/jinja_test_util.h"

namespace phx::chat {
namespace {

using json = nlohmann::ordered_json;

json Chat(std::initializer_list<std::pair<const char*, const char*>> turns) {
  json msgs = json::array();
  for (const auto& [role, content] : turns) msgs.push_back({{"role", role}, {"content", content}});
  return msgs;
}

const json kLlamaCppChat = Chat({{"system", "You are a helpful assistant"},
                                 {"user", "Hello"},
                                 {"assistant", "Hi there"},
                                 {"user", "Who are you"},
                                 {"assistant", "   I am an assistant   "},
                                 {"user", "Another question"}});

std::string Render(std::string_view name, const json& messages = kLlamaCppChat, bool gen = true,
                   const char* eos = "</s>") {
  auto tpl = Template::Parse(*BuiltinTemplate(name));
  EXPECT_TRUE(tpl.ok()) << name << ": " << tpl.status();
  if (!tpl.ok()) return "";
  auto r = tpl->Render({{"messages", messages},
                        {"add_generation_prompt", gen},
                        {"bos_token", "<s>"},
                        {"eos_token", eos}});
  EXPECT_TRUE(r.ok()) << name << ": " << r.status();
  return r.ok() ? r->text : "";
}

TEST(ChatFallback, BuiltinsRenderWhatLlamaCppsFormattersRender) {
  EXPECT_EQ(Render("chatml"),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello"
            "<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are "
            "you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n"
            "<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n");
  const std::string no_gen = Render("chatml", kLlamaCppChat, false);
  EXPECT_TRUE(no_gen.ends_with("<|im_start|>user\nAnother question<|im_end|>\n")) << no_gen;
  EXPECT_EQ(Render("llama2"),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>"
            "[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question "
            "[/INST]");
  EXPECT_EQ(Render("mistral"),
            "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you "
            "[/INST]   I am an assistant   </s>[INST] Another question [/INST]");
  EXPECT_EQ(Render("mistral-v1"),
            " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are "
            "you [/INST]    I am an assistant   </s> [INST] Another question [/INST]");
  EXPECT_EQ(Render("mistral-v3"),
            "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are "
            "you[/INST] I am an assistant</s>[INST] Another question[/INST]");
  EXPECT_EQ(Render("mistral-v3-tekken"),
            "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are "
            "you[/INST]   I am an assistant   </s>[INST]Another question[/INST]");
  EXPECT_EQ(Render("llama3"),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>"
            "assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user"
            "<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user"
            "<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\n");
  EXPECT_EQ(Render("zephyr"),
            "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\n"
            "Hi there</s>\n<|user|>\nWho are you</s>\n<|assistant|>\n   I am an assistant   "
            "</s>\n<|user|>\nAnother question</s>\n<|assistant|>\n");
  // Zephyr ends turns with the vocabulary's EOS.
  EXPECT_EQ(Render("zephyr", Chat({{"user", "Hi"}}), true, "<|endoftext|>"),
            "<|user|>\nHi<|endoftext|>\n<|assistant|>\n");
  EXPECT_EQ(Render("phi3"),
            "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n"
            "<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n"
            "   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n");
}

// The engine on the built-in templates against Python's Jinja2, several conversations each.
TEST(ChatFallback, BuiltinsRenderAsJinja2Does) {
  const std::vector<json> chats = {
      kLlamaCppChat,
      Chat({{"user", "only one"}}),
      Chat({{"user", "a"}, {"assistant", "b"}}),
      Chat({{"system", "sys\nwith lines"}, {"user", " spaced \t"}, {"assistant", "\nx\n"}}),
      Chat({{"developer", "d"}, {"user", "caf\u00e9 \U0001F600"}}),
      json::array(),
  };
  std::vector<testing::Case> cases;
  ASSERT_EQ(BuiltinTemplateNames().size(), 9u);
  for (std::string_view name : BuiltinTemplateNames()) {
    for (size_t i = 0; i < chats.size(); ++i) {
      for (const bool gen : {true, false}) {
        cases.push_back({std::string(name) + "/" + std::to_string(i) + (gen ? "/gen" : ""),
                         std::string(*BuiltinTemplate(name)),
                         {{"messages", chats[i]},
                          {"add_generation_prompt", gen},
                          {"bos_token", "<s>"},
                          {"eos_token", "</s>"}}});
      }
    }
  }
  const testing::Comparison cmp = testing::CompareWithPython(cases);
  EXPECT_EQ(cmp.mismatches, 0);
  EXPECT_EQ(cmp.rendered + cmp.raised, static_cast<int>(cases.size()));
}

TEST(ChatFallback, Resolver) {
  const std::optional<std::string> none;
  // A name.
  auto r = ResolveChatTemplate("llama3", none);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->builtin, "llama3");
  EXPECT_TRUE(r->add_special);
  EXPECT_EQ(r->origin, "--chat-template llama3");
  // The override wins over the model's template.
  r = ResolveChatTemplate("chatml", std::string("{{ 'model' }}"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->builtin, "chatml");
  // The model's template by default.
  r = ResolveChatTemplate("", std::string("{{ messages[0].content }}"));
  ASSERT_TRUE(r.ok() && r->tpl);
  EXPECT_FALSE(r->add_special);
  EXPECT_EQ(r->origin, "GGUF tokenizer.chat_template");
  // A model template that is just a name.
  r = ResolveChatTemplate("", std::string(" zephyr\n"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->builtin, "zephyr");
  // A file.
  const auto path = std::filesystem::temp_directory_path() / "phx_chat_fallback_test.jinja";
  {
    std::ofstream f(path);
    f << "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}";
  }
  r = ResolveChatTemplate(path.string(), std::string("{{ 'model' }}"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->origin, "--chat-template file " + path.string());
  auto out = r->tpl->Render({{"messages", {{{"role", "user"}, {"content", "x"}}}}});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->text, "[user]x");
  // A file that does not parse, and neither a name nor a file: errors naming the flag.
  {
    std::ofstream f(path);
    f << "{% for %}";
  }
  r = ResolveChatTemplate(path.string(), none);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--chat-template"), std::string::npos);
  std::filesystem::remove(path);
  r = ResolveChatTemplate("no-such-name-or-file", none);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("chatml, llama2"), std::string::npos);
  // No template at all, or one that does not parse: a problem, not an error.
  r = ResolveChatTemplate("", none);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->tpl.has_value());
  EXPECT_NE(r->problem.find("--chat-template"), std::string::npos);
  r = ResolveChatTemplate("", std::string("{% if %}"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->tpl.has_value());
  EXPECT_NE(r->problem.find("does not parse"), std::string::npos);
}

}  // namespace
}  // namespace phx::chat
