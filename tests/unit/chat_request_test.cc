// OpenAI chat bodies to template variables (vLLM's mapping), and the whole path: body ->
// variables -> Gemma 3 / Qwen3 templates (content parts, tool-call arguments, kwargs).
#include "runtime/chat/chat_request.h"

#include <gtest/gtest.h>

#include "runtime/chat/template.h"
#include "tests/unit/jinja_test_util.h"

namespace phx::chat::testing {
namespace {

using json = nlohmann::ordered_json;

TEST(ChatRequest, MapsBodyToVariables) {
  const json body = json::parse(R"({
    "model": "m", "temperature": 0.5,
    "messages": [
      {"role": "system", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}]},
      {"role": "user", "content": "hi", "name": "bob"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "f", "arguments": "{\"x\": 1, \"y\": [true]}"}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "not json"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "chat_template_kwargs": {"enable_thinking": false, "bos_token": "<evil>"}})");
  auto v = ChatTemplateVariables(body, {"<s>", "</s>", false});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ((*v)["messages"][0]["content"], "A\nB");
  EXPECT_EQ((*v)["messages"][1]["name"], "bob");
  EXPECT_EQ((*v)["messages"][2]["content"], "");  // null content: no parts, as vLLM reads it
  EXPECT_EQ((*v)["messages"][2]["tool_calls"][0]["function"]["arguments"],
            json::parse(R"({"x": 1, "y": [true]})"));
  EXPECT_EQ((*v)["messages"][2]["tool_calls"][1]["function"]["arguments"], "not json");
  EXPECT_EQ((*v)["tools"], body["tools"]);
  EXPECT_EQ((*v)["add_generation_prompt"], true);
  EXPECT_EQ((*v)["enable_thinking"], false);
  EXPECT_EQ((*v)["bos_token"], "<s>");
  EXPECT_FALSE(v->contains("model"));
  EXPECT_FALSE(v->contains("temperature"));
  // Parts kept for templates that iterate them.
  v = ChatTemplateVariables(body, {"<s>", "</s>", true});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE((*v)["messages"][0]["content"].is_array());
  EXPECT_EQ((*v)["messages"][2]["content"], json::array());
}

TEST(ChatRequest, ErrorsNameTheField) {
  struct Bad {
    std::string body, field;
  };
  const std::vector<Bad> bad = {
      {R"({})", "messages"},
      {R"({"messages": {}})", "messages"},
      {R"({"messages": [1]})", "messages[0]"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "messages[0].content[0].type"},
      {R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
       "messages[0].content[0].text"},
      {R"({"messages": [], "tools": {}})", "tools"},
      {R"({"messages": [], "add_generation_prompt": "yes"})", "add_generation_prompt"},
      {R"({"messages": [], "chat_template_kwargs": []})", "chat_template_kwargs"},
  };
  for (const Bad& b : bad) {
    auto v = ChatTemplateVariables(json::parse(b.body), {});
    ASSERT_FALSE(v.ok()) << b.body;
    EXPECT_EQ(v.status().message().substr(0, b.field.size() + 1), b.field + ":") << v.status();
  }
}

TEST(ChatRequest, ContentPartsThroughRealTemplates) {
  const std::string dir = std::string(PHX_SHARED_DIR) + "/templates/";
  const std::string gemma = ReadFile(dir + "gemma3-tokenizer_config.jinja");
  const std::string qwen = ReadFile(dir + "qwen3-tokenizer_config.jinja");
  EXPECT_TRUE(TemplateIteratesContent(gemma));
  EXPECT_FALSE(TemplateIteratesContent(qwen));
  const json body = json::parse(R"({"messages": [{"role": "user", "content":
    [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]}],
    "chat_template_kwargs": {"enable_thinking": false}})");
  // Gemma 3 iterates the parts itself; Qwen3 gets the joined text.
  auto vg = ChatTemplateVariables(body, {"<bos>", "<eos>", TemplateIteratesContent(gemma)});
  auto vq = ChatTemplateVariables(body, {"", "<|im_end|>", TemplateIteratesContent(qwen)});
  ASSERT_TRUE(vg.ok() && vq.ok());
  auto rg = Template::Parse(gemma)->Render(*vg);
  auto rq = Template::Parse(qwen)->Render(*vq);
  ASSERT_TRUE(rg.ok()) << rg.status();
  ASSERT_TRUE(rq.ok()) << rq.status();
  EXPECT_EQ(rg->text, "<bos><start_of_turn>user\nonetwo<end_of_turn>\n<start_of_turn>model\n");
  EXPECT_EQ(rq->text,
            "<|im_start|>user\none\ntwo<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
}

}  // namespace
}  // namespace phx::chat::testing
