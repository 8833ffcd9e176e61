// The Responses API (server/http/responses_json.h, responses_stream.h): requests translated
// into the chat request (messages, tools, response_format, max tokens), strict checking (every
// error names the field in the Responses API's names), and the answer's event sequence and
// response object for plain text, a think block, tool calls and a cut answer.
#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "server/http/responses_json.h"
#include "server/http/responses_stream.h"

namespace phx::server {
namespace {

using json = nlohmann::json;

json J(const char* text) { return json::parse(text); }

ResponsesRequest Ok(const json& body) {
  ResponsesRequest r;
  const auto e = ParseResponsesRequest(body.dump(), ParseOptions{}, &r);
  EXPECT_FALSE(e.has_value()) << body << " -> " << (e ? e->status.ToString() : "");
  return r;
}

// The error's param (and a check that the message names it).
std::string Param(const json& body) {
  ResponsesRequest r;
  const auto e = ParseResponsesRequest(body.dump(), ParseOptions{}, &r);
  if (!e) return "<no error>";
  EXPECT_EQ(e->status.code(), absl::StatusCode::kInvalidArgument) << body;
  EXPECT_NE(std::string(e->status.message()).find(e->param), std::string::npos)
      << e->status.message() << " does not name " << e->param;
  return e->param;
}

TEST(ResponsesJson, StringInputAndInstructions) {
  ResponsesRequest r = Ok({{"model", "m"},
                           {"input", "Hello"},
                           {"instructions", "Be brief"},
                           {"max_output_tokens", 7},
                           {"temperature", 0.5},
                           {"stream", true},
                           {"store", true},
                           {"metadata", {{"k", "v"}}}});
  const json m = r.chat.chat["messages"];
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0], json({{"role", "system"}, {"content", "Be brief"}}));
  EXPECT_EQ(m[1], json({{"role", "user"}, {"content", "Hello"}}));
  EXPECT_EQ(r.chat.api.sampling.max_tokens, 7);
  EXPECT_TRUE(r.chat.api.explicit_max_tokens);
  EXPECT_FLOAT_EQ(r.chat.api.sampling.temperature, 0.5f);
  EXPECT_TRUE(r.chat.stream);
  EXPECT_EQ(r.chat.model, "m");
  EXPECT_EQ(r.chat.ignored_fields, (std::vector<std::string>{"metadata", "store"}));
  EXPECT_EQ(r.echo["instructions"], "Be brief");
  EXPECT_EQ(r.echo["max_output_tokens"], 7);
  EXPECT_EQ(r.echo["metadata"], json({{"k", "v"}}));
  EXPECT_EQ(r.echo["store"], false);  // nothing is kept
  EXPECT_EQ(r.echo["text"], json({{"format", {{"type", "text"}}}}));
  EXPECT_EQ(r.echo["tool_choice"], "auto");
}

TEST(ResponsesJson, ItemsBecomeChatMessages) {
  const json input = json::parse(R"([
    {"role": "developer", "content": "sys"},
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"},
                                                    {"type": "input_text", "text": "b"}]},
    {"type": "reasoning", "id": "rs_1", "summary": [], "content": [{"type": "reasoning_text",
                                                                     "text": "think"}]},
    {"type": "function_call", "id": "fc_1", "call_id": "c1", "name": "f", "arguments": "{}",
     "status": "completed"},
    {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{\"x\":1}"},
    {"type": "function_call_output", "call_id": "c1", "output": "r1"},
    {"type": "function_call_output", "call_id": "c2", "output": "r2"},
    {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
     "content": [{"type": "output_text", "text": "done", "annotations": []}]}])");
  ResponsesRequest r = Ok({{"input", input}});
  const json m = r.chat.chat["messages"];
  ASSERT_EQ(m.size(), 6u) << m;
  EXPECT_EQ(m[0], json({{"role", "system"}, {"content", "sys"}}));
  EXPECT_EQ(m[1], json({{"role", "user"}, {"content", "ab"}}));
  EXPECT_EQ(m[2]["role"], "assistant");
  EXPECT_EQ(m[2]["reasoning_content"], "think");
  ASSERT_EQ(m[2]["tool_calls"].size(), 2u);
  EXPECT_EQ(m[2]["tool_calls"][1],
            json({{"id", "c2"},
                  {"type", "function"},
                  {"function", {{"name", "g"}, {"arguments", "{\"x\":1}"}}}}));
  EXPECT_EQ(m[3],
            json({{"role", "tool"}, {"tool_call_id", "c1"}, {"content", "r1"}, {"name", "f"}}));
  EXPECT_EQ(m[4]["tool_call_id"], "c2");
  EXPECT_EQ(m[5], json({{"role", "assistant"}, {"content", "done"}}));
}

TEST(ResponsesJson, ToolsChoiceAndFormat) {
  const json tool = json::parse(R"({"type": "function", "name": "get_weather", "description": "d",
      "strict": true, "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
      "required": ["city"]}})");
  ResponsesRequest r = Ok({{"input", "hi"},
                           {"tools", {tool}},
                           {"tool_choice", {{"type", "function"}, {"name", "get_weather"}}},
                           {"parallel_tool_calls", false}});
  ASSERT_EQ(r.chat.tools.tools.size(), 1u);
  EXPECT_EQ(r.chat.tools.tools[0].name, "get_weather");
  EXPECT_EQ(r.chat.tools.choice.mode, chat::ToolChoiceMode::kNamed);
  EXPECT_FALSE(r.chat.tools.parallel);
  EXPECT_EQ(r.echo["tools"][0], tool);  // echoed in the Responses shape
  r = Ok({{"input", "hi"}, {"tools", {tool}}, {"tool_choice", "required"}});
  EXPECT_EQ(r.chat.tools.choice.mode, chat::ToolChoiceMode::kRequired);

  const json schema =
      json::parse(R"({"type": "object", "properties": {"a": {"type": "integer"}}})");
  r = Ok(J(R"({"input": "hi", "text": {"format": {"type": "json_schema", "name": "s",
            "strict": true, "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}}})"));
  EXPECT_EQ(r.chat.api.structured.kind, StructuredSpec::Kind::kJsonSchema);
  EXPECT_EQ(json::parse(r.chat.api.structured.text), schema);
  EXPECT_TRUE(r.chat.api.structured.strict);
  r = Ok(J(R"({"input": "hi", "text": {"format": {"type": "json_object"}}})"));
  EXPECT_EQ(r.chat.api.structured.kind, StructuredSpec::Kind::kJsonObject);
  r = Ok(J(R"({"input": "hi", "text": {"format": {"type": "text"}, "verbosity": "low"}})"));
  EXPECT_EQ(r.chat.api.structured.kind, StructuredSpec::Kind::kNone);
  r = Ok(J(R"({"input": "hi", "reasoning": {"effort": "none", "summary": "auto"}})"));
  EXPECT_EQ(r.chat.chat["chat_template_kwargs"]["enable_thinking"], false);
  r = Ok(J(R"({"input": "hi", "reasoning": {"effort": "high"}})"));
  EXPECT_FALSE(r.chat.chat.contains("chat_template_kwargs"));
  r = Ok(J(R"({"input": "hi", "truncation": "disabled", "include": ["reasoning.encrypted_content"],
              "background": false, "user": "u", "stream_options": {"include_obfuscation": false}})"));
  EXPECT_EQ(r.chat.user, "u");
}

TEST(ResponsesJson, ErrorsNameTheField) {
  const std::pair<const char*, const char*> kCases[] = {
      {R"({"input": "hi", "frobnicate": 1})", "frobnicate"},
      {R"({"input": "hi", "previous_response_id": "resp_1"})", "previous_response_id"},
      {R"({"input": "hi", "conversation": "c"})", "conversation"},
      {R"({"model": "m"})", "input"},
      {R"({"input": 3})", "input"},
      {R"({"input": []})", "input"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "x"}]}]})",
       "input[0].content[0].type"},
      {R"({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "x"}]}]})",
       "input[0].content[0].type"},
      {R"({"input": [{"role": "tool", "content": "x"}]})", "input[0].role"},
      {R"({"input": [{"role": "user", "content": "x", "extra": 1}]})", "input[0].extra"},
      {R"({"input": [{"type": "item_reference", "id": "x"}]})", "input[0].type"},
      {R"({"input": [{"type": "web_search_call"}]})", "input[0].type"},
      {R"({"input": [{"type": "function_call", "call_id": "c", "name": "f"}]})",
       "input[0].arguments"},
      {R"({"input": [{"type": "function_call_output", "call_id": "c"}]})", "input[0].output"},
      {R"({"input": "hi", "tools": [{"type": "web_search"}]})", "tools[0].type"},
      {R"({"input": "hi", "tools": [{"type": "file_search"}]})", "tools[0].type"},
      {R"({"input": "hi", "tools": [{"type": "function", "name": "a b"}]})", "tools[0].name"},
      {R"({"input": "hi", "tools": [{"type": "function", "name": "f", "parameters": 3}]})",
       "tools[0].parameters"},
      {R"({"input": "hi", "tools": [{"type": "function", "name": "f", "x": 1}]})", "tools[0].x"},
      {R"({"input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "function", "name": "g"}})",
       "tool_choice.name"},
      {R"({"input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": {"type": "web_search"}})",
       "tool_choice.type"},
      {R"({"input": "hi", "tools": [{"type": "function", "name": "f"}], "tool_choice": "sometimes"})",
       "tool_choice"},
      {R"({"input": "hi", "max_output_tokens": 0})", "max_output_tokens"},
      {R"({"input": "hi", "max_output_tokens": "x"})", "max_output_tokens"},
      {R"({"input": "hi", "max_output_tokens": -1})", "max_output_tokens"},
      {R"({"input": "hi", "max_output_tokens": 1.5})", "max_output_tokens"},
      {R"({"input": "hi", "temperature": "hot"})", "temperature"},
      {R"({"input": "hi", "text": {"format": {"type": "yaml"}}})", "text.format.type"},
      {R"({"input": "hi", "text": {"format": {"type": "json_schema"}}})", "text.format.schema"},
      {R"({"input": "hi", "text": {"format": {"type": "text", "x": 1}}})", "text.format.x"},
      {R"({"input": "hi", "reasoning": {"effort": "max"}})", "reasoning.effort"},
      {R"({"input": "hi", "reasoning": {"summary": "long"}})", "reasoning.summary"},
      {R"({"input": "hi", "truncation": "auto"})", "truncation"},
      {R"({"input": "hi", "background": true})", "background"},
      {R"({"input": "hi", "include": ["message.output_text.logprobs"]})", "include[0]"},
      {R"({"input": "hi", "instructions": 5})", "instructions"},
      {R"({"input": "hi", "stream": "yes"})", "stream"},
  };
  for (const auto& [b, param] : kCases) EXPECT_EQ(Param(J(b)), param) << b;
  // Unknown fields are ignored (and counted) with --lenient-api.
  ResponsesRequest r;
  ParseOptions lenient;
  lenient.lenient = true;
  EXPECT_FALSE(ParseResponsesRequest(R"({"input": "hi", "frobnicate": 1})", lenient, &r));
  EXPECT_EQ(r.chat.ignored_fields, std::vector<std::string>{"other"});
  // Not JSON, not an object.
  EXPECT_EQ(Param(json::array()), "");
  EXPECT_TRUE(ParseResponsesRequest("{", ParseOptions{}, &r).has_value());
}

std::vector<engine::TokenEvent> Events(const std::vector<std::string>& texts) {
  std::vector<engine::TokenEvent> out;
  for (const std::string& t : texts) out.push_back({.token = 1, .text = t});
  return out;
}

// The events of a stream: their types in order; checks sequence numbers count from 0.
std::vector<std::string> Types(const std::string& sse, std::vector<json>* data = nullptr) {
  std::vector<std::string> types;
  size_t pos = 0;
  int64_t seq = 0;
  while ((pos = sse.find("event: ", pos)) != std::string::npos) {
    const size_t nl = sse.find('\n', pos);
    const std::string type = sse.substr(pos + 7, nl - pos - 7);
    EXPECT_EQ(sse.compare(nl + 1, 6, "data: "), 0);
    const size_t end = sse.find("\n\n", nl);
    const json d = json::parse(sse.substr(nl + 7, end - nl - 7));
    EXPECT_EQ(d["type"], type);
    EXPECT_EQ(d["sequence_number"], seq++);
    if (data != nullptr) data->push_back(d);
    types.push_back(type);
    pos = end;
  }
  return types;
}

ResponseContext Ctx(bool think, bool tools) {
  ResponseContext c;
  c.chat = true;
  c.id = "resp_x";
  c.model = "m";
  c.created = 5;
  if (think) c.reasoning.emplace(chat::ReasoningFormat::kDeepseek, false);
  if (tools) c.tools = chat::ToolFormat::kHermes;
  return c;
}

TEST(ResponsesEncoder, ThinkThenCallThenText) {
  const engine::Usage u{.prompt_tokens = 10, .completion_tokens = 9};
  for (bool stream : {true, false}) {
    ResponsesEncoder enc(Ctx(true, true), json{{"tools", json::array()}}, stream);
    std::string sse = enc.Begin();
    sse += enc.Tokens(Events({"<think>", "hmm", " ok", "</think>", "\n\n", "<tool_call>",
                              "\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}", "\n</tool_call>"}));
    json body;
    if (stream) {
      sse += enc.End(engine::FinishReason::kEos, u, "");
    } else {
      body = enc.Body(engine::FinishReason::kEos, u, "");
      EXPECT_EQ(sse, "");
    }
    std::vector<json> data;
    const std::vector<std::string> want = {"response.created",
                                           "response.in_progress",
                                           "response.output_item.added",
                                           "response.content_part.added",
                                           "response.reasoning_text.delta",
                                           "response.reasoning_text.delta",
                                           "response.reasoning_text.done",
                                           "response.content_part.done",
                                           "response.output_item.done",
                                           "response.output_item.added",
                                           "response.function_call_arguments.delta",
                                           "response.function_call_arguments.done",
                                           "response.output_item.done",
                                           "response.completed"};
    if (stream) {
      const std::vector<std::string> types = Types(sse, &data);
      // Argument deltas come as the parser releases them: at least one.
      std::vector<std::string> merged;
      for (const std::string& t : types) {
        if (!merged.empty() && merged.back() == t && t.find(".delta") != std::string::npos &&
            t.find("reasoning") == std::string::npos) {
          continue;
        }
        merged.push_back(t);
      }
      EXPECT_EQ(merged, want) << sse;
      body = data.back()["response"];
      EXPECT_EQ(data[0]["response"]["status"], "in_progress");
    }
    EXPECT_EQ(body["id"], "resp_x");
    EXPECT_EQ(body["object"], "response");
    EXPECT_EQ(body["status"], "completed");
    EXPECT_EQ(body["created_at"], 5);
    ASSERT_EQ(body["output"].size(), 2u) << body;
    const json& rs = body["output"][0];
    EXPECT_EQ(rs["type"], "reasoning");
    EXPECT_EQ(rs["content"], json::parse(R"([{"type": "reasoning_text", "text": "hmm ok"}])"));
    EXPECT_EQ(rs["summary"], json::array());
    const json& fc = body["output"][1];
    EXPECT_EQ(fc["type"], "function_call");
    EXPECT_EQ(fc["name"], "f");
    EXPECT_EQ(json::parse(fc["arguments"].get<std::string>()), json({{"a", 1}}));
    EXPECT_EQ(fc["status"], "completed");
    EXPECT_EQ(fc["call_id"].get<std::string>().rfind("call_", 0), 0u);
    EXPECT_EQ(fc["id"].get<std::string>().rfind("fc_", 0), 0u);
    EXPECT_EQ(body["usage"]["input_tokens"], 10);
    EXPECT_EQ(body["usage"]["output_tokens"], 9);
    EXPECT_EQ(body["usage"]["total_tokens"], 19);
    // hmm, ok, </think> and the white space after it.
    EXPECT_EQ(body["usage"]["output_tokens_details"]["reasoning_tokens"], 4);
    EXPECT_EQ(body["tools"], json::array());  // echoed
  }
}

TEST(ResponsesEncoder, TextCutByLength) {
  ResponsesEncoder enc(Ctx(false, false), json::object(), true);
  std::string sse = enc.Begin() + enc.Tokens(Events({"Hel", "", "lo"}));
  sse += enc.End(engine::FinishReason::kLength, {.prompt_tokens = 2, .completion_tokens = 3}, "!");
  std::vector<json> data;
  EXPECT_EQ(
      Types(sse, &data),
      (std::vector<std::string>{
          "response.created", "response.in_progress", "response.output_item.added",
          "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
          "response.output_text.delta", "response.output_text.done", "response.content_part.done",
          "response.output_item.done", "response.incomplete"}));
  EXPECT_EQ(data[7]["text"], "Hello!");
  const json& r = data.back()["response"];
  EXPECT_EQ(r["status"], "incomplete");
  EXPECT_EQ(r["incomplete_details"], json({{"reason", "max_output_tokens"}}));
  EXPECT_EQ(r["output"][0]["status"], "incomplete");
  EXPECT_EQ(r["output"][0]["content"][0],
            json({{"type", "output_text"}, {"text", "Hello!"}, {"annotations", json::array()}}));
  EXPECT_EQ(data[2]["item"]["id"], r["output"][0]["id"]);
  EXPECT_EQ(data[4]["item_id"], r["output"][0]["id"]);
}

TEST(ResponsesEncoder, EmptyAnswerIsAnEmptyMessageAndErrorsAreEvents) {
  ResponsesEncoder enc(Ctx(false, false), json::object(), false);
  const json body = enc.Body(engine::FinishReason::kEos, {}, "");
  ASSERT_EQ(body["output"].size(), 1u);
  EXPECT_EQ(body["output"][0]["content"][0]["text"], "");
  ResponsesEncoder s(Ctx(false, false), json::object(), true);
  std::vector<json> data;
  const std::string sse = s.Begin() + s.Tokens(Events({"a"})) +
                          s.Error({absl::UnavailableError("server is stopping"), "", ""});
  const std::vector<std::string> types = Types(sse, &data);
  ASSERT_GE(types.size(), 2u);
  EXPECT_EQ(types[types.size() - 2], "error");
  EXPECT_EQ(data[data.size() - 2]["message"], "server is stopping");
  EXPECT_EQ(types.back(), "response.failed");
  EXPECT_EQ(data.back()["response"]["status"], "failed");
  EXPECT_EQ(data.back()["response"]["error"]["message"], "server is stopping");
}

}  // namespace
}  // namespace phx::server

namespace phx::server {
namespace {

TEST(ResponsesEncoder, LeadingWhiteSpaceStaysInTheMessage) {
  for (bool stream : {true, false}) {
    ResponsesEncoder enc(Ctx(false, false), json::object(), stream);
    std::string sse = enc.Begin() + enc.Tokens(Events({" ", "\n", "Hi"}));
    const json body = enc.Body(engine::FinishReason::kEos, {}, "");
    EXPECT_EQ(body["output"].size(), 1u);
    EXPECT_EQ(body["output"][0]["content"][0]["text"], " \nHi");
    if (stream) {
      std::vector<json> data;
      Types(sse, &data);
      ASSERT_EQ(data.size(), 5u) << sse;
      EXPECT_EQ(data[4]["delta"], " \nHi");  // one delta: the white space waited for the text
    }
  }
  ResponsesEncoder ws(Ctx(false, false), json::object(), false);
  ws.Tokens(Events({"\n", " "}));
  const json body = ws.Body(engine::FinishReason::kEos, {}, "\n");
  ASSERT_EQ(body["output"].size(), 1u);
  EXPECT_EQ(body["output"][0]["content"][0]["text"], "\n \n");
}

}  // namespace
}  // namespace phx::server

namespace phx::server {
namespace {

// reasoning.summary: the think block is the reasoning item's one summary_text part, streamed as
// OpenAI streams summaries (part added, text deltas, text done, part done); no reasoning_text.
TEST(ResponsesEncoder, ReasoningSummaryEventsAndItem) {
  const engine::Usage u{.prompt_tokens = 4, .completion_tokens = 6};
  const json echo = {{"reasoning", {{"effort", nullptr}, {"summary", "auto"}}}};
  for (bool cut : {false, true}) {
    SCOPED_TRACE(cut ? "cut by length" : "whole");
    const auto reason = cut ? engine::FinishReason::kLength : engine::FinishReason::kEos;
    const std::vector<std::string> pieces = {"<think>", "hmm", " ok", "</think>", "\n\nHi"};
    ResponsesEncoder unary(Ctx(true, false), echo, false);
    unary.Tokens(Events(pieces));
    const json body = unary.Body(reason, u, "");
    ResponsesEncoder enc(Ctx(true, false), echo, true);
    std::string sse = enc.Begin() + enc.Tokens(Events(pieces));
    sse += enc.End(reason, u, "");
    std::vector<json> data;
    EXPECT_EQ(
        Types(sse, &data),
        (std::vector<std::string>{
            "response.created", "response.in_progress", "response.output_item.added",
            "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done", "response.output_item.done",
            "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", cut ? "response.incomplete" : "response.completed"}))
        << sse;
    ASSERT_EQ(data.size(), 16u);
    const json part = {{"type", "summary_text"}, {"text", "hmm ok"}};
    const json& rs = data.back()["response"]["output"][0];
    EXPECT_EQ(rs["type"], "reasoning");
    EXPECT_EQ(rs["summary"], json::array({part}));
    EXPECT_FALSE(rs.contains("content")) << rs;
    EXPECT_EQ(rs["status"], "completed");  // the message after it was cut, not the reasoning
    const json& added = data[2]["item"];
    EXPECT_EQ(added["summary"], json::array());
    EXPECT_EQ(added["status"], "in_progress");
    const json id = added["id"];
    EXPECT_EQ(data[3], json({{"type", "response.reasoning_summary_part.added"},
                             {"sequence_number", 3},
                             {"item_id", id},
                             {"output_index", 0},
                             {"summary_index", 0},
                             {"part", {{"type", "summary_text"}, {"text", ""}}}}));
    EXPECT_EQ(data[4], json({{"type", "response.reasoning_summary_text.delta"},
                             {"sequence_number", 4},
                             {"item_id", id},
                             {"output_index", 0},
                             {"summary_index", 0},
                             {"delta", "hmm"}}));
    EXPECT_EQ(data[5]["delta"], " ok");
    EXPECT_EQ(data[6], json({{"type", "response.reasoning_summary_text.done"},
                             {"sequence_number", 6},
                             {"item_id", id},
                             {"output_index", 0},
                             {"summary_index", 0},
                             {"text", "hmm ok"}}));
    EXPECT_EQ(data[7], json({{"type", "response.reasoning_summary_part.done"},
                             {"sequence_number", 7},
                             {"item_id", id},
                             {"output_index", 0},
                             {"summary_index", 0},
                             {"part", part}}));
    EXPECT_EQ(data[8]["item"], rs);
    // The unary answer is the streamed one's final response (ids aside).
    ASSERT_EQ(body["output"].size(), 2u) << body;
    EXPECT_EQ(body["output"][0]["summary"], rs["summary"]);
    EXPECT_FALSE(body["output"][0].contains("content"));
    EXPECT_EQ(body["output"][1]["content"][0]["text"], "Hi");
  }
  // A think block cut by the limit: its summary part is done with status incomplete.
  ResponsesEncoder enc(Ctx(true, false), json{{"reasoning", {{"generate_summary", "concise"}}}},
                       true);
  std::string sse = enc.Begin() + enc.Tokens(Events({"<think>", "hmm"}));
  sse += enc.End(engine::FinishReason::kLength, u, "");
  std::vector<json> data;
  const std::vector<std::string> types = Types(sse, &data);
  ASSERT_EQ(types.size(), 9u) << sse;
  EXPECT_EQ(types[6], "response.reasoning_summary_part.done");
  EXPECT_EQ(data[6]["status"], "incomplete");
  EXPECT_EQ(data[6]["part"]["text"], "hmm");
  EXPECT_EQ(data.back()["response"]["output"][0]["status"], "incomplete");
}

}  // namespace
}  // namespace phx::server
