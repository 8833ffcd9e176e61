// The built-in fallback templates (runtime/chat/builtin_templates.cc) render exactly what the
// server's C++ formatters (server/http/chat_template.cc) render, for every name, with and
// without the generation prompt, on several conversations; and the resolver's choices.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "runtime/chat/builtin_templates.h"
#include "runtime/chat/resolver.h"
#include "server/http/chat_template.h"

namespace phx::chat {
namespace {

const std::vector<std::vector<server::ChatMessage>> kChats = {
    {{"system", "You are a helpful assistant"},
     {"user", "Hello"},
     {"assistant", "Hi there"},
     {"user", "Who are you"},
     {"assistant", "   I am an assistant   "},
     {"user", "Another question"}},
    {{"user", "only one"}},
    {{"user", "a"}, {"assistant", "b"}},
    {{"system", "sys\nwith lines"}, {"user", " spaced \t"}, {"assistant", "\nx\n"}},
    {},
};

TEST(ChatFallback, BuiltinsMatchTheServerFormatters) {
  ASSERT_EQ(BuiltinTemplateNames().size(), 9u);
  for (std::string_view name : BuiltinTemplateNames()) {
    auto fmt = server::ChatFormatFromName(name);
    ASSERT_TRUE(fmt.has_value()) << name;
    auto tpl = Template::Parse(*BuiltinTemplate(name));
    ASSERT_TRUE(tpl.ok()) << name << ": " << tpl.status();
    for (const auto& chat : kChats) {
      for (const bool gen : {true, false}) {
        nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
        for (const auto& m : chat) msgs.push_back({{"role", m.role}, {"content", m.content}});
        nlohmann::ordered_json vars = {{"messages", msgs},
                                       {"add_generation_prompt", gen},
                                       {"bos_token", "<s>"},
                                       {"eos_token", "</s>"}};
        auto r = tpl->Render(vars);
        ASSERT_TRUE(r.ok()) << name << ": " << r.status();
        EXPECT_EQ(r->text, server::RenderChat(*fmt, chat, gen, {"<s>", "</s>"}))
            << name << " gen=" << gen << " messages=" << chat.size();
      }
    }
  }
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
