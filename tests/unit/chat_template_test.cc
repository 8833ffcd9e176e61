// Chat templates: family detection from Jinja texts (real templates' distinctive parts, and
// the one in ../shared/vocab/ggml-vocab-phi-3.gguf), and the rendering of each family for the
// conversation llama.cpp's test-chat-template uses (system, user, assistant, user, assistant
// with surrounding spaces, user; with the generation prompt), compared with the strings
// llama.cpp's built-in formatters produce.
#include "server/http/chat_template.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "runtime/gguf/gguf.h"

namespace phx::server {
namespace {

const std::vector<ChatMessage> kChat = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};

std::string Render(std::string_view name, bool gen = true) {
  auto f = ChatFormatFromName(name);
  EXPECT_TRUE(f.has_value()) << name;
  if (!f) return "";
  return RenderChat(*f, kChat, gen, ChatSpecials{"<s>", "</s>"});
}

TEST(ChatTemplate, Chatml) {
  EXPECT_EQ(Render("chatml"),
            "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello"
            "<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are "
            "you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n"
            "<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n");
  // Without the generation prompt the text ends after the last message.
  const std::string no_gen = Render("chatml", false);
  const std::string tail = "<|im_start|>user\nAnother question<|im_end|>\n";
  ASSERT_GT(no_gen.size(), tail.size());
  EXPECT_EQ(no_gen.substr(no_gen.size() - tail.size()), tail);
}

TEST(ChatTemplate, Llama2WithSystemBlock) {
  EXPECT_EQ(Render("llama2"),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>"
            "[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question "
            "[/INST]");
}

TEST(ChatTemplate, Llama2Variants) {
  ChatFormat bos{ChatFamily::kLlama2};
  bos.bos_inside_history = true;
  EXPECT_EQ(RenderChat(bos, kChat, true, {}),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>"
            "<s>[INST] Who are you [/INST]   I am an assistant   </s><s>[INST] Another question "
            "[/INST]");
  ChatFormat strip{ChatFamily::kLlama2};
  strip.strip_content = true;
  EXPECT_EQ(RenderChat(strip, kChat, true, {}),
            "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>"
            "[INST] Who are you [/INST]I am an assistant</s>[INST] Another question [/INST]");
}

TEST(ChatTemplate, MistralWithoutSystemBlock) {
  EXPECT_EQ(Render("mistral"),
            "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you "
            "[/INST]   I am an assistant   </s>[INST] Another question [/INST]");
}

TEST(ChatTemplate, MistralOfficialSpacings) {
  EXPECT_EQ(Render("mistral-v1"),
            " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are "
            "you [/INST]    I am an assistant   </s> [INST] Another question [/INST]");
  EXPECT_EQ(Render("mistral-v3"),
            "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are "
            "you[/INST] I am an assistant</s>[INST] Another question[/INST]");
  EXPECT_EQ(Render("mistral-v3-tekken"),
            "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are "
            "you[/INST]   I am an assistant   </s>[INST]Another question[/INST]");
}

TEST(ChatTemplate, Llama3) {
  EXPECT_EQ(Render("llama3"),
            "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>"
            "assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user"
            "<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user"
            "<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant"
            "<|end_header_id|>\n\n");
}

TEST(ChatTemplate, ZephyrUsesTheVocabularysEos) {
  EXPECT_EQ(Render("zephyr"),
            "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\n"
            "Hi there</s>\n<|user|>\nWho are you</s>\n<|assistant|>\n   I am an assistant   "
            "</s>\n<|user|>\nAnother question</s>\n<|assistant|>\n");
  const std::string s = RenderChat(*ChatFormatFromName("zephyr"), {{"user", "Hi"}}, true,
                                   ChatSpecials{"", "<|endoftext|>"});
  EXPECT_EQ(s, "<|user|>\nHi<|endoftext|>\n<|assistant|>\n");
}

TEST(ChatTemplate, Phi3) {
  EXPECT_EQ(Render("phi3"),
            "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n"
            "<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n"
            "   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n");
}

struct DetectCase {
  const char* jinja;
  ChatFamily family;
  bool bos_inside = false;
  bool strip = false;
};

TEST(ChatTemplate, DetectsFamilies) {
  const DetectCase cases[] = {
      {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
       "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
       ChatFamily::kChatml},
      {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ "
       "'[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' "
       "%}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
       ChatFamily::kMistral},
      {"{% if messages[0]['role'] == 'system' %}{{ '[INST] <<SYS>>\\n' + content + "
       "'\\n<</SYS>>\\n\\n' }}{% endif %}{{ bos_token + '[INST] ' + content + ' [/INST]' }}",
       ChatFamily::kLlama2, true, false},
      {"{{ '[INST] ' + content.strip() + ' [/INST]' }}{{ '<<SYS>>\\n' + content.strip() }}",
       ChatFamily::kLlama2, false, true},
      {"{{ '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}{{ '[INST] ' + c + ' [/INST]' }}",
       ChatFamily::kLlama2},
      {"{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}",
       ChatFamily::kMistralV1},
      {"{{- \"[AVAILABLE_TOOLS] [\" }}{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}",
       ChatFamily::kMistralV3},
      {"{{- \"[AVAILABLE_TOOLS][\" }}{{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}",
       ChatFamily::kMistralV3Tekken},
      {"{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ "
       "message['content'] | trim + '<|eot_id|>' %}",
       ChatFamily::kLlama3},
      {"{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + "
       "message['content'] + eos_token }}{% endif %}{% if loop.last and add_generation_prompt "
       "%}{{ '<|assistant|>' }}{% endif %}{% endfor %}",
       ChatFamily::kZephyr},
      {"{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + "
       "'\\n'}}",
       ChatFamily::kPhi3},
      {"  llama3 ", ChatFamily::kLlama3},  // a bare name is accepted too
  };
  for (const DetectCase& c : cases) {
    auto f = DetectChatFormat(c.jinja);
    ASSERT_TRUE(f.has_value()) << c.jinja;
    EXPECT_EQ(ChatFamilyName(f->family), ChatFamilyName(c.family)) << c.jinja;
    EXPECT_EQ(f->bos_inside_history, c.bos_inside) << c.jinja;
    EXPECT_EQ(f->strip_content, c.strip) << c.jinja;
  }
  EXPECT_FALSE(DetectChatFormat("{{ '<start_of_turn>' + role }}").has_value());
  EXPECT_FALSE(DetectChatFormat("").has_value());
}

TEST(ChatTemplate, DetectsTheTemplateOfARealVocabulary) {
  auto f = gguf::File::Open(std::string(PHX_SHARED_DIR) + "/vocab/ggml-vocab-phi-3.gguf");
  ASSERT_TRUE(f.ok()) << f.status();
  auto jinja = (*f)->GetString("tokenizer.chat_template");
  ASSERT_TRUE(jinja.ok()) << jinja.status();
  auto t = ResolveChatTemplate("", *jinja);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->format.has_value()) << t->problem;
  EXPECT_EQ(t->format->family, ChatFamily::kPhi3);
}

TEST(ChatTemplate, Resolve) {
  // The override wins over the GGUF's template.
  auto t = ResolveChatTemplate("zephyr", std::string("<|im_start|>"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->format->family, ChatFamily::kZephyr);
  // No template, or an unknown one: no format, and the problem names --chat-template.
  for (const std::optional<std::string>& g :
       {std::optional<std::string>(), std::optional<std::string>("{{ weird }}")}) {
    t = ResolveChatTemplate("", g);
    ASSERT_TRUE(t.ok());
    EXPECT_FALSE(t->format.has_value());
    EXPECT_NE(t->problem.find("--chat-template"), std::string::npos) << t->problem;
  }
  // An unknown name that is no file is an error naming the flag and the known names.
  auto bad = ResolveChatTemplate("vicuna", std::nullopt);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--chat-template"), absl::string_view::npos);
  EXPECT_NE(bad.status().message().find("chatml"), absl::string_view::npos);
  // A file holding a recognisable Jinja template.
  const auto path = std::filesystem::temp_directory_path() / "phx_chat_template_test.jinja";
  std::ofstream(path) << "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}";
  t = ResolveChatTemplate(path.string(), std::nullopt);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->format->family, ChatFamily::kChatml);
  std::ofstream(path) << "{{ nothing known }}";
  EXPECT_FALSE(ResolveChatTemplate(path.string(), std::nullopt).ok());
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace phx::server
