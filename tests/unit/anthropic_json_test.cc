// Anthropic Messages requests (server/http/anthropic_json.h): every field translated into the
// chat request the OpenAI endpoint builds (messages, system, tool_use / tool_result / thinking
// blocks, tools, tool_choice, thinking, stop_sequences, metadata), every bad field a 400 naming
// the Anthropic field; and the answer machine (anthropic_response.h): blocks, stop reasons and
// the streamed events from generated text.
#include "server/http/anthropic_json.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "server/http/anthropic_response.h"

namespace phx::server {
namespace {

using json = nlohmann::json;

AnthropicRequest Parse(const json& body, bool count = false) {
  AnthropicRequest r;
  const auto e = ParseAnthropicRequest(body.dump(), ParseOptions{}, count, &r);
  EXPECT_FALSE(e.has_value()) << body << " -> " << (e ? e->status.ToString() : "");
  return r;
}

// The param and message of the error `body` gets.
std::pair<std::string, std::string> Fail(const json& body, bool count = false) {
  AnthropicRequest r;
  const auto e = ParseAnthropicRequest(body.dump(), ParseOptions{}, count, &r);
  if (!e) return {"<accepted>", ""};
  EXPECT_EQ(e->status.code(), absl::StatusCode::kInvalidArgument) << body;
  return {e->param, std::string(e->status.message())};
}

json Base() {
  return {
      {"model", "m"}, {"max_tokens", 64}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
}

json With(json extra) {
  json b = Base();
  b.update(extra);
  return b;
}

TEST(AnthropicJson, TranslatesTheConversation) {
  const json body = With(json::parse(R"({
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
               {"type": "text", "text": "Answer in French."}],
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
      {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Need the tool.", "signature": "sig"},
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "20C"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true,
         "content": [{"type": "text", "text": "timeout"}]},
        {"type": "text", "text": "And tomorrow?", "cache_control": {"type": "ephemeral"}}]}],
    "stop_sequences": ["END", "STOP"], "temperature": 0.5, "top_p": 0.9, "top_k": 7,
    "metadata": {"user_id": "u-1"}, "stream": true})"));
  AnthropicRequest r = Parse(body);
  const json m = json::parse(r.chat.chat["messages"].dump());
  ASSERT_EQ(m.size(), 6u) << m;
  EXPECT_EQ(m[0], json({{"role", "system"}, {"content", "Be brief.\nAnswer in French."}}));
  EXPECT_EQ(m[1], json({{"role", "user"}, {"content", "Weather?"}}));
  EXPECT_EQ(m[2]["content"], "Checking.");
  EXPECT_EQ(m[2]["reasoning_content"], "Need the tool.");
  EXPECT_EQ(m[2]["tool_calls"][0]["id"], "toolu_1");
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(m[2]["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json({{"city", "Paris"}}));
  EXPECT_EQ(m[3], json({{"role", "tool"}, {"tool_call_id", "toolu_1"}, {"content", "20C"}}));
  EXPECT_EQ(m[4]["content"], "Error: timeout");
  EXPECT_EQ(m[5], json({{"role", "user"}, {"content", "And tomorrow?"}}));
  EXPECT_EQ(r.message_paths, (std::vector<std::string>{"system", "messages[0]", "messages[1]",
                                                       "messages[2].content[0]",
                                                       "messages[2].content[1]", "messages[2]"}));
  EXPECT_EQ(r.chat.api.sampling.max_tokens, 64);
  EXPECT_EQ(r.chat.api.sampling.stop, (std::vector<std::string>{"END", "STOP"}));
  EXPECT_EQ(r.stop_sequences, (std::vector<std::string>{"END", "STOP"}));
  EXPECT_FLOAT_EQ(r.chat.api.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r.chat.api.sampling.top_p, 0.9f);
  EXPECT_EQ(r.chat.api.sampling.top_k, 7);
  EXPECT_EQ(r.chat.user, "u-1");
  EXPECT_TRUE(r.chat.stream);
  EXPECT_EQ(r.chat.model, "m");
  EXPECT_FALSE(r.thinking.has_value());
  EXPECT_FALSE(r.chat.chat.contains("chat_template_kwargs"));
  EXPECT_FALSE(r.chat.api.reasoning_budget.has_value());  // the server's --reasoning-budget
}

TEST(AnthropicJson, ToolsChoicesAndThinking) {
  const json tools = json::parse(R"([{"name": "get_weather", "description": "Weather",
      "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
      "cache_control": {"type": "ephemeral"}}, {"type": "custom", "name": "now",
      "input_schema": {"type": "object"}}])");
  AnthropicRequest r = Parse(With({{"tools", tools}}));
  ASSERT_EQ(r.chat.tools.tools.size(), 2u);
  EXPECT_EQ(r.chat.tools.tools[0].name, "get_weather");
  EXPECT_EQ(r.chat.tools.tools[0].description, "Weather");
  EXPECT_EQ(r.chat.tools.choice.mode, chat::ToolChoiceMode::kAuto);
  EXPECT_TRUE(r.chat.tools.parallel);
  r = Parse(With(
      {{"tools", tools}, {"tool_choice", {{"type", "any"}, {"disable_parallel_tool_use", true}}}}));
  EXPECT_EQ(r.chat.tools.choice.mode, chat::ToolChoiceMode::kRequired);
  EXPECT_FALSE(r.chat.tools.parallel);
  r = Parse(With({{"tools", tools}, {"tool_choice", {{"type", "tool"}, {"name", "now"}}}}));
  EXPECT_EQ(r.chat.tools.choice.mode, chat::ToolChoiceMode::kNamed);
  EXPECT_EQ(r.chat.tools.choice.name, "now");
  r = Parse(With({{"tools", tools}, {"tool_choice", {{"type", "none"}}}}));
  EXPECT_FALSE(r.chat.tools.active());
  r = Parse(
      With({{"max_tokens", 4096}, {"thinking", {{"type", "enabled"}, {"budget_tokens", 2048}}}}));
  EXPECT_EQ(r.thinking, true);
  EXPECT_EQ(r.thinking_budget, 2048);
  EXPECT_EQ(r.chat.chat["chat_template_kwargs"].dump(), R"({"enable_thinking":true})");
  EXPECT_EQ(r.chat.api.reasoning_budget, 2048);  // the engine's thinking budget
  r = Parse(With({{"thinking", {{"type", "disabled"}}}}));
  EXPECT_EQ(r.chat.chat["chat_template_kwargs"].dump(), R"({"enable_thinking":false})");
  EXPECT_EQ(r.chat.api.reasoning_budget, 0);
  // What agent clients send besides is not refused: ignored and counted.
  r = Parse(With({{"service_tier", "auto"}, {"context_management", json::object()}}));
  EXPECT_EQ(r.chat.ignored_fields.size(), 2u);
  // count_tokens: no max_tokens.
  r = Parse(
      {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"tools", tools}},
      /*count=*/true);
  EXPECT_EQ(r.chat.tools.tools.size(), 2u);
}

TEST(AnthropicJson, BadFieldsNameTheAnthropicField) {
  const json tool = {{"name", "t"}, {"input_schema", {{"type", "object"}}}};
  const struct {
    json body;
    std::string param, says;
  } cases[] = {
      {{{"model", "m"}, {"messages", Base()["messages"]}}, "max_tokens", "Field required"},
      {{{"max_tokens", 5}, {"messages", Base()["messages"]}}, "model", "Field required"},
      {With({{"max_tokenz", 5}}), "max_tokenz", "Extra inputs are not permitted"},
      {With({{"n", 2}}), "n", "Extra inputs"},
      {With({{"mcp_servers", json::array()}}), "mcp_servers", "MCP"},
      {With({{"container", "c"}}), "container", "not supported"},
      {With({{"max_tokens", 0}}), "max_tokens", ">= 1"},
      {With({{"temperature", "hot"}}), "temperature", "number"},
      {With({{"stop_sequences", "END"}}), "stop_sequences", "array of strings"},
      {With({{"messages", json::array()}}), "messages", "non-empty"},
      {With({{"messages", {{{"role", "system"}, {"content", "x"}}}}}), "messages[0].role", ""},
      {With({{"messages", {{{"role", "user"}, {"content", "x"}, {"name", "a"}}}}}),
       "messages[0].name", "Extra inputs"},
      {With({{"messages",
              {{{"role", "user"},
                {"content", {{{"type", "image"}, {"source", json::object()}}}}}}}}),
       "messages[0].content[0].type", "image blocks are not supported"},
      {With({{"messages", {{{"role", "user"}, {"content", {{{"type", "document"}}}}}}}}),
       "messages[0].content[0].type", "document"},
      {With({{"messages",
              {{{"role", "user"},
                {"content", {{{"type", "tool_use"}, {"id", "x"}, {"name", "t"}}}}}}}}),
       "messages[0].content[0].type", "assistant"},
      {With({{"messages",
              {{{"role", "user"}, {"content", "x"}},
               {{"role", "assistant"},
                {"content", {{{"type", "tool_use"}, {"id", "x"}, {"name", "t"}}}}},
               {{"role", "user"}, {"content", "y"}}}}}),
       "messages[1].content[0].input", "object"},
      {With({{"messages",
              {{{"role", "user"},
                {"content",
                 {{{"type", "tool_result"},
                   {"tool_use_id", "x"},
                   {"content", {{{"type", "image"}}}}}}}}}}}),
       "messages[0].content[0].content[0].type", "image"},
      {With({{"messages",
              {{{"role", "user"}, {"content", "x"}},
               {{"role", "assistant"}, {"content", "prefill"}}}}}),
       "messages[1]", "prefill"},
      {With({{"system", 5}}), "system", "string"},
      {With({{"metadata", {{"tenant", "a"}}}}), "metadata.tenant", "Extra inputs"},
      {With({{"tools", {{{"type", "web_search_20250305"}, {"name", "web_search"}}}}}),
       "tools[0].type", "not supported"},
      {With({{"tools", {{{"name", "t"}}}}}), "tools[0].input_schema", "Field required"},
      {With({{"tools", {{{"name", "bad name"}, {"input_schema", {{"type", "object"}}}}}}}),
       "tools[0].name", "tools[0].name"},
      {With({{"tools", {{{"name", "t"}, {"input_schema", {{"type", "string"}}}}}}}),
       "tools[0].input_schema", "tools[0].input_schema"},
      {With({{"tools", {tool, tool}}}), "tools[1].name", "repeated"},
      {With({{"tools", {tool}}, {"tool_choice", {{"type", "tool"}, {"name", "u"}}}}),
       "tool_choice.name", "not among tools"},
      {With({{"tools", {tool}}, {"tool_choice", {{"type", "required"}}}}), "tool_choice.type", ""},
      {With({{"tools", {tool}},
             {"tool_choice", {{"type", "auto"}, {"disable_parallel_tool_use", 1}}}}),
       "tool_choice.disable_parallel_tool_use", "boolean"},
      {With({{"thinking", {{"type", "enabled"}}}}), "thinking.budget_tokens", "Field required"},
      {With({{"thinking", {{"type", "enabled"}, {"budget_tokens", 100}}}}),
       "thinking.budget_tokens", "1024"},
      {With({{"thinking", {{"type", "enabled"}, {"budget_tokens", 2048}}}}),
       "thinking.budget_tokens", "less than max_tokens"},
      {With({{"thinking", {{"type", "sometimes"}}}}), "thinking.type", ""},
  };
  for (const auto& c : cases) {
    const auto [param, message] = Fail(c.body);
    EXPECT_EQ(param, c.param) << c.body << ": " << message;
    EXPECT_NE(message.find(c.says), std::string::npos) << c.body << ": " << message;
  }
  // count_tokens takes neither max_tokens nor sampling fields.
  EXPECT_EQ(Fail(Base(), /*count=*/true).first, "max_tokens");
  // A body that is not JSON, or not an object.
  EXPECT_EQ(Fail(json::array()).second, "the request body must be a JSON object");
}

TEST(AnthropicJson, LenientIgnoresUnknownFields) {
  AnthropicRequest r;
  ParseOptions o;
  o.lenient = true;
  json b = With({{"future_field", 1}});
  EXPECT_FALSE(ParseAnthropicRequest(b.dump(), o, false, &r).has_value());
  EXPECT_EQ(r.chat.ignored_fields, std::vector<std::string>{"other"});
  // Refused fields stay refused.
  b = With({{"mcp_servers", json::array()}});
  EXPECT_TRUE(ParseAnthropicRequest(b.dump(), o, false, &r).has_value());
}

TEST(AnthropicJson, ErrorShapeAndTypes) {
  const ApiError e{absl::InvalidArgumentError("max_tokens: Field required"), "max_tokens", ""};
  EXPECT_EQ(AnthropicErrorJson(e),
            json::parse(R"({"type": "error", "error": {"type": "invalid_request_error",
                "message": "max_tokens: Field required"}})"));
  EXPECT_EQ(AnthropicErrorResponse(e).status, 400);
  EXPECT_EQ(AnthropicErrorType(absl::UnauthenticatedError("")), "authentication_error");
  EXPECT_EQ(AnthropicErrorType(absl::PermissionDeniedError("")), "permission_error");
  EXPECT_EQ(AnthropicErrorType(absl::NotFoundError("")), "not_found_error");
  EXPECT_EQ(AnthropicErrorType(absl::ResourceExhaustedError("")), "rate_limit_error");
  EXPECT_EQ(AnthropicErrorType(absl::UnavailableError("")), "overloaded_error");
  EXPECT_EQ(AnthropicErrorType(absl::DeadlineExceededError("")), "timeout_error");
  EXPECT_EQ(AnthropicErrorType(absl::InternalError("")), "api_error");
  const net::HttpResponse r =
      AnthropicErrorResponse(ApiError{absl::ResourceExhaustedError("slow down"), "", ""}, 2.5);
  EXPECT_EQ(r.status, 429);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].value, "3");
}

engine::TokenEvent Tok(int32_t id, std::string text) {
  engine::TokenEvent e;
  e.token = id;
  e.text = std::move(text);
  return e;
}

// The events of a stream as (type, detail) pairs: block types and delta types.
std::vector<std::string> EventTypes(const std::string& sse) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = sse.find("data: ", pos)) != std::string::npos) {
    const size_t end = sse.find("\n\n", pos);
    const json e = json::parse(sse.substr(pos + 6, end - pos - 6));
    std::string t = e["type"];
    if (e.contains("content_block")) t += ":" + e["content_block"]["type"].get<std::string>();
    if (e.contains("delta") && e["delta"].contains("type")) {
      t += ":" + e["delta"]["type"].get<std::string>();
    }
    if (t == "message_delta") t += ":" + e["delta"]["stop_reason"].get<std::string>();
    out.push_back(t);
    pos = end;
  }
  return out;
}

ResponseContext Ctx(bool reasoning, bool tools) {
  ResponseContext c;
  c.chat = true;
  c.id = "msg_1";
  c.model = "m";
  if (reasoning) c.reasoning.emplace(chat::ReasoningFormat::kDeepseek, false);
  if (tools) c.tools = chat::ToolFormat::kHermes;
  return c;
}

TEST(AnthropicAnswer, ThinkingTextAndToolUseBlocks) {
  const std::vector<engine::TokenEvent> toks = {
      Tok(1, "<think>\nplan"),
      Tok(2, " it\n</think>\n\n"),
      Tok(3, "Sure."),
      Tok(4, "\n<tool_call>\n{\"name\": \"get_weather\", "),
      Tok(5, "\"arguments\": {\"city\": "),
      Tok(6, "\"Paris\"}}\n</tool_call>")};
  engine::Usage u{10, 6, 4};
  for (bool stream : {false, true}) {
    AnthropicAnswer a(Ctx(true, true), {}, 10, stream);
    std::string out = stream ? a.Begin() : "";
    for (const auto& t : toks) out += a.Tokens({t});
    out += a.End(engine::FinishReason::kStop, u, "");
    if (!stream) {
      const json b = json::parse(out);
      ASSERT_EQ(b["content"].size(), 3u) << b;
      EXPECT_EQ(b["content"][0], json::parse(R"({"type": "thinking", "thinking": "plan it",
          "signature": ""})"));
      EXPECT_EQ(b["content"][1], json::parse(R"({"type": "text", "text": "Sure."})"));
      EXPECT_EQ(b["content"][2]["type"], "tool_use");
      EXPECT_EQ(b["content"][2]["name"], "get_weather");
      EXPECT_EQ(b["content"][2]["input"], json({{"city", "Paris"}}));
      EXPECT_EQ(b["content"][2]["id"].get<std::string>().rfind("toolu_", 0), 0u);
      EXPECT_EQ(b["stop_reason"], "tool_use");
      EXPECT_EQ(b["usage"], json::parse(R"({"input_tokens": 6, "cache_creation_input_tokens": 0,
          "cache_read_input_tokens": 4, "output_tokens": 6})"));
      continue;
    }
    const std::vector<std::string> want = {"message_start",
                                           "ping",
                                           "content_block_start:thinking",
                                           "content_block_delta:thinking_delta",
                                           "content_block_delta:thinking_delta",
                                           "content_block_stop",
                                           "content_block_start:text",
                                           "content_block_delta:text_delta",
                                           "content_block_stop",
                                           "content_block_start:tool_use",
                                           "content_block_delta:input_json_delta",
                                           "content_block_delta:input_json_delta",
                                           "content_block_stop",
                                           "message_delta:tool_use",
                                           "message_stop"};
    EXPECT_EQ(EventTypes(out), want) << out;
  }
}

TEST(AnthropicAnswer, StopReasons) {
  const auto run = [](engine::FinishReason r, std::vector<std::string> stops,
                      std::string all_text) {
    AnthropicOptions o;
    o.stop_sequences = std::move(stops);
    o.detokenize = [all_text](const std::vector<int32_t>&) { return all_text; };
    AnthropicAnswer a(Ctx(false, false), o, 3, false);
    a.Tokens({Tok(1, "Hello"), Tok(2, " world")});
    return json::parse(a.End(r, engine::Usage{3, 2, 0}, ""));
  };
  json b = run(engine::FinishReason::kEos, {}, "");
  EXPECT_EQ(b["stop_reason"], "end_turn");
  EXPECT_EQ(b["stop_sequence"], nullptr);
  EXPECT_EQ(b["content"], json::parse(R"([{"type": "text", "text": "Hello world"}])"));
  EXPECT_EQ(run(engine::FinishReason::kLength, {}, "")["stop_reason"], "max_tokens");
  b = run(engine::FinishReason::kStop, {"END", "STOP"}, "Hello worldSTOP and");
  EXPECT_EQ(b["stop_reason"], "stop_sequence");
  EXPECT_EQ(b["stop_sequence"], "STOP");
  b = run(engine::FinishReason::kStop, {"END", "STOP"}, "Hello worldEND");
  EXPECT_EQ(b["stop_sequence"], "END");
}

}  // namespace
}  // namespace phx::server
