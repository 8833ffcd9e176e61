// Tool calling in the OpenAI API layer (server/http/openai_tools.h): tools / tool_choice /
// parallel_tool_calls parsed and validated (each bad request a 400 naming the field), the
// grammar and the generic format's system message applied to the request, and the answer
// returned as message.tool_calls / streamed delta.tool_calls with finish_reason tool_calls.
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "server/http/openai_json.h"
#include "server/http/openai_response.h"

namespace phx::server {
namespace {

using json = nlohmann::json;

const char* kWeather = R"({"type": "function", "function": {"name": "get_weather",
    "description": "Weather", "parameters": {"type": "object", "properties":
    {"city": {"type": "string"}}, "required": ["city"]}}})";

std::string Body(const std::string& extra) {
  return R"({"messages": [{"role": "user", "content": "hi"}], "tools": [)" + std::string(kWeather) +
         "]" + extra + "}";
}

OpenAiRequest Chat(const std::string& body) {
  OpenAiRequest r;
  const auto e = ParseRequest(body, Endpoint::kChat, ParseOptions{}, &r);
  EXPECT_FALSE(e.has_value()) << body << " -> " << (e ? e->status.ToString() : "");
  return r;
}

TEST(OpenAiTools, ParsesToolsAndChoices) {
  OpenAiRequest r = Chat(Body(""));
  ASSERT_EQ(r.tools.tools.size(), 1u);
  EXPECT_EQ(r.tools.tools[0].name, "get_weather");
  EXPECT_EQ(r.tools.tools[0].parameters["required"][0], "city");
  EXPECT_EQ(r.tools.choice.mode, chat::ToolChoiceMode::kAuto);
  EXPECT_TRUE(r.tools.parallel);
  EXPECT_TRUE(r.tools.active());
  r = Chat(Body(R"(, "tool_choice": "required", "parallel_tool_calls": false)"));
  EXPECT_EQ(r.tools.choice.mode, chat::ToolChoiceMode::kRequired);
  EXPECT_FALSE(r.tools.parallel);
  r = Chat(Body(R"(, "tool_choice": {"type": "function", "function": {"name": "get_weather"}})"));
  EXPECT_EQ(r.tools.choice.mode, chat::ToolChoiceMode::kNamed);
  EXPECT_EQ(r.tools.choice.name, "get_weather");
  r = Chat(Body(R"(, "tool_choice": "none")"));
  EXPECT_FALSE(r.tools.active());
  r = Chat(R"({"messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"})");
  EXPECT_FALSE(r.tools.active());
  // A tool without parameters takes none.
  r = Chat(R"({"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function",
      "function": {"name": "now"}}]})");
  EXPECT_EQ(r.tools.tools[0].parameters["type"], "object");
}

TEST(OpenAiTools, BadToolsNameTheField) {
  const std::string msgs = R"({"messages": [{"role": "user", "content": "hi"}], )";
  const struct {
    std::string body, param, says;
  } cases[] = {
      {msgs + R"("tools": {}})", "tools", "must be an array"},
      {msgs + R"("tools": [1]})", "tools[0]", "must be an object"},
      {msgs + R"("tools": [{"type": "retrieval", "function": {"name": "f"}}]})", "tools[0].type",
       "\"function\""},
      {msgs + R"("tools": [{"type": "function"}]})", "tools[0].function", "must be an object"},
      {msgs + R"("tools": [{"type": "function", "function": {"name": "a b"}}]})",
       "tools[0].function.name", "a-z"},
      {msgs + R"("tools": [{"type": "function", "function": {"name": "f"}},
                          {"type": "function", "function": {"name": "f"}}]})",
       "tools[1].function.name", "repeated"},
      {msgs + R"("tools": [{"type": "function", "function": {"name": "f", "parameters": 3}}]})",
       "tools[0].function.parameters", "JSON schema object"},
      {msgs + R"("tools": [{"type": "function", "function": {"name": "f",
                 "parameters": {"type": "string"}}}]})",
       "tools[0].function.parameters", "type \"object\""},
      {msgs + R"("tools": [{"type": "function", "function": {"name": "f", "parameters":
                 {"type": "object", "properties": {"x": {"$ref": "#/$defs/missing"}}}}}]})",
       "tools[0].function.parameters", "#/properties/x"},
      {Body(R"(, "tool_choice": "sometimes")"), "tool_choice", "must be"},
      {Body(R"(, "tool_choice": {"type": "function"})"), "tool_choice", "must be"},
      {Body(R"(, "tool_choice": {"type": "function", "function": {"name": "other"}})"),
       "tool_choice.function.name", "'other'"},
      {msgs + R"("tool_choice": "required"})", "tool_choice", "requires tools"},
      {Body(R"(, "parallel_tool_calls": "yes")"), "parallel_tool_calls", "boolean"},
  };
  for (const auto& c : cases) {
    OpenAiRequest r;
    const auto e = ParseRequest(c.body, Endpoint::kChat, ParseOptions{}, &r);
    ASSERT_TRUE(e.has_value()) << c.body;
    EXPECT_EQ(e->status.code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body << " -> " << e->status;
    EXPECT_NE(std::string(e->status.message()).find(c.says), std::string::npos)
        << e->status.message();
  }
}

TEST(OpenAiTools, AppliesTheFormatsGrammar) {
  OpenAiRequest r = Chat(Body(""));
  ASSERT_FALSE(ApplyTools(chat::ToolFormat::kHermes, &r).has_value());
  EXPECT_EQ(r.api.structured.kind, StructuredSpec::Kind::kGbnf);
  EXPECT_EQ(r.api.structured.param, "tools");
  EXPECT_EQ(r.api.structured.triggers, std::vector<std::string>{"<tool_call>"});
  EXPECT_NE(r.api.structured.text.find("get_weather"), std::string::npos);
  EXPECT_EQ(r.chat["messages"].size(), 1u);  // the template shows the tools itself

  r = Chat(Body(R"(, "tool_choice": "required")"));
  ASSERT_FALSE(ApplyTools(chat::ToolFormat::kHermes, &r).has_value());
  EXPECT_TRUE(r.api.structured.triggers.empty());

  r = Chat(Body(R"(, "tool_choice": "none")"));
  ASSERT_FALSE(ApplyTools(chat::ToolFormat::kHermes, &r).has_value());
  EXPECT_EQ(r.api.structured.kind, StructuredSpec::Kind::kNone);

  // Generic: a JSON schema and a system message; earlier calls become the format's JSON.
  r = Chat(R"({"messages": [{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "rain"}],
      "tools": [)" +
           std::string(kWeather) + R"(], "tool_choice": "required"})");
  ASSERT_FALSE(ApplyTools(chat::ToolFormat::kGeneric, &r).has_value());
  EXPECT_EQ(r.api.structured.kind, StructuredSpec::Kind::kGbnf);
  EXPECT_NE(r.api.structured.text.find("tool_calls"), std::string::npos);
  EXPECT_TRUE(r.api.structured.triggers.empty());
  const auto& m = r.chat["messages"];
  ASSERT_EQ(m.size(), 4u);
  const std::string sys = m[0]["content"];
  EXPECT_EQ(sys.rfind("Be brief.\n\n", 0), 0u) << sys;
  EXPECT_NE(sys.find("get_weather"), std::string::npos);
  EXPECT_NE(sys.find("(required)"), std::string::npos);
  EXPECT_FALSE(m[2].contains("tool_calls"));
  EXPECT_EQ(
      json::parse(m[2]["content"].get<std::string>()),
      json::parse(R"({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]})"));

  // Without a system message one is added first.
  r = Chat(Body(""));
  ASSERT_FALSE(ApplyTools(chat::ToolFormat::kGeneric, &r).has_value());
  ASSERT_EQ(r.chat["messages"].size(), 2u);
  EXPECT_EQ(r.chat["messages"][0]["role"], "system");

  // Another structured output with tools: refused.
  r = Chat(Body(""));
  r.api.structured.kind = StructuredSpec::Kind::kJsonObject;
  r.api.structured.param = "response_format";
  const auto e = ApplyTools(chat::ToolFormat::kHermes, &r);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "response_format");
}

ResponseContext ToolCtx(chat::ToolFormat f) {
  ResponseContext c;
  c.chat = true;
  c.id = "chatcmpl-1";
  c.model = "m";
  c.tools = f;
  return c;
}

engine::TokenEvent Ev(std::string text) {
  engine::TokenEvent e;
  e.token = 1;
  e.text = std::move(text);
  return e;
}

const std::string kAnswer =
    "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n"
    "</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}"
    "\n</tool_call>";

TEST(OpenAiTools, UnaryAnswerHasToolCalls) {
  ResponseBuilder b(ToolCtx(chat::ToolFormat::kHermes));
  b.Add({Ev(kAnswer)});
  const json body = b.Body(engine::FinishReason::kEos, {}, "");
  const json& choice = body["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "Checking.\n");
  const json& calls = choice["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 2u);
  for (const json& c : calls) {
    EXPECT_EQ(c["type"], "function");
    EXPECT_EQ(c["id"].get<std::string>().rfind("call_", 0), 0u);
    EXPECT_EQ(c["id"].get<std::string>().size(), 29u);
    EXPECT_EQ(c["function"]["name"], "get_weather");
  }
  EXPECT_NE(calls[0]["id"], calls[1]["id"]);
  EXPECT_EQ(json::parse(calls[1]["function"]["arguments"].get<std::string>()),
            json({{"city", "Rome"}}));
  // Only calls: content null. Cut by max_tokens: length, and no call.
  ResponseBuilder only(ToolCtx(chat::ToolFormat::kGeneric));
  only.Add({Ev(R"({"tool_calls": [{"name": "get_weather", "arguments": {"city": "X"}}]})")});
  const json o = only.Body(engine::FinishReason::kStop, {}, "");
  EXPECT_TRUE(o["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(o["choices"][0]["finish_reason"], "tool_calls");
  ResponseBuilder cut(ToolCtx(chat::ToolFormat::kHermes));
  cut.Add({Ev(kAnswer.substr(0, 40))});
  const json c = cut.Body(engine::FinishReason::kLength, {}, "");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
  EXPECT_FALSE(c["choices"][0]["message"].contains("tool_calls"));
  // Without tools the same text is content.
  ResponseContext plain = ToolCtx(chat::ToolFormat::kHermes);
  plain.tools.reset();
  ResponseBuilder p(plain);
  p.Add({Ev(kAnswer)});
  EXPECT_EQ(p.Body(engine::FinishReason::kEos, {}, "")["choices"][0]["message"]["content"],
            kAnswer);
}

std::vector<json> Chunks(const std::string& sse) {
  std::vector<json> out;
  size_t pos = 0;
  while ((pos = sse.find("data: ", pos)) != std::string::npos) {
    const size_t end = sse.find("\n\n", pos);
    const std::string ev = sse.substr(pos + 6, end - pos - 6);
    if (ev != "[DONE]") out.push_back(json::parse(ev));
    pos = end;
  }
  return out;
}

TEST(OpenAiTools, StreamedToolCallDeltas) {
  for (size_t piece : {1, 5, 1000}) {
    StreamEncoder enc(ToolCtx(chat::ToolFormat::kHermes));
    std::string sse = enc.Begin();
    for (size_t i = 0; i < kAnswer.size(); i += piece)
      sse += enc.Tokens({Ev(kAnswer.substr(i, piece))});
    sse += enc.End(engine::FinishReason::kEos, {}, "");
    std::string content;
    json calls = json::array();
    json finish;
    for (const json& c : Chunks(sse)) {
      const json& ch = c["choices"][0];
      if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
      const json& d = ch["delta"];
      if (d.contains("content")) content += d["content"].get<std::string>();
      if (!d.contains("tool_calls")) continue;
      for (const json& t : d["tool_calls"]) {
        const size_t k = t["index"];
        if (t.contains("id")) {
          ASSERT_EQ(k, calls.size());
          EXPECT_EQ(t["type"], "function");
          calls.push_back({{"id", t["id"]}, {"name", t["function"]["name"]}, {"arguments", ""}});
        }
        ASSERT_LT(k, calls.size());
        calls[k]["arguments"] = calls[k]["arguments"].get<std::string>() +
                                t["function"]["arguments"].get<std::string>();
      }
    }
    EXPECT_EQ(content, "Checking.\n") << piece;
    ASSERT_EQ(calls.size(), 2u) << piece;
    EXPECT_EQ(calls[0]["name"], "get_weather");
    EXPECT_EQ(calls[0]["arguments"], "{\"city\": \"Oslo\"}");
    EXPECT_EQ(calls[1]["arguments"], "{\"city\": \"Rome\"}");
    EXPECT_EQ(finish, "tool_calls");
  }
}

}  // namespace
}  // namespace phx::server
