// POST /v1/responses against a real in-process server: a synthesized random-weight model with
// the real Qwen3 vocabulary and chat template (Hermes tool calls, a thinking template). The
// answer equals what /v1/chat/completions gives for the same conversation (greedy); the streamed
// events come in the order of a table (a text answer cut by max_output_tokens, a forced call);
// DeepSeek R1's template on stories260K: the think block is the reasoning item's reasoning_text, or
// its summary_text with reasoning.summary (OpenAI's reasoning_summary_* events, in the table's
// order); forced calls carry arguments that follow the schema; a json_schema text.format answer
// parses; a function_call_output round trip renders; bad requests are 400s naming the field in the
// Responses API's names; a client that goes away cancels its stream.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/integration/raw_http.h"
#include "tests/support/qwen3_model.h"

namespace phx {
namespace {

using json = nlohmann::json;

class ResponsesApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = new testing::Qwen3Model("qwen3-responses", 1024);
    ASSERT_TRUE(model_->status().ok()) << model_->status();
    auto cfg = testing::TestConfig(model_->path());
    cfg.response_cache_mb = 0;
    server_ = testing::TestServer::Start(cfg).release();
    ASSERT_NE(server_, nullptr);
    // stories260K with DeepSeek R1's template (as anthropic_api_test): the generation prompt
    // opens the think block and the model never closes it, so its text is reasoning.
    cfg.runtime.model = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";
    cfg.chat_template =
        std::string(PHX_SHARED_DIR) + "/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja";
    thinker_ = testing::TestServer::Start(cfg).release();
    ASSERT_NE(thinker_, nullptr);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete thinker_;
    delete model_;
  }
  static std::pair<int, json> Post(const std::string& path, const json& body,
                                   testing::TestServer* server = server_) {
    httplib::Client c("127.0.0.1", server->app->api_port());
    c.set_read_timeout(120, 0);
    auto r = c.Post(path, body.dump(), "application/json");
    if (!r) return {-1, json()};
    if (body.value("stream", false)) return {r->status, json(r->body)};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  static testing::Qwen3Model* model_;
  static testing::TestServer* server_;
  static testing::TestServer* thinker_;
};
testing::Qwen3Model* ResponsesApi::model_ = nullptr;
testing::TestServer* ResponsesApi::server_ = nullptr;
testing::TestServer* ResponsesApi::thinker_ = nullptr;

// The events of a stream; checks the SSE framing and the sequence numbers.
std::vector<json> Events(const std::string& sse) {
  std::vector<json> out;
  size_t pos = 0;
  while ((pos = sse.find("event: ", pos)) != std::string::npos) {
    const size_t nl = sse.find('\n', pos);
    const std::string type = sse.substr(pos + 7, nl - pos - 7);
    EXPECT_EQ(sse.compare(nl + 1, 6, "data: "), 0) << sse;
    const size_t end = sse.find("\n\n", nl);
    json d = json::parse(sse.substr(nl + 7, end - nl - 7), nullptr, false);
    EXPECT_EQ(d["type"], type);
    EXPECT_EQ(d["sequence_number"], out.size());
    out.push_back(std::move(d));
    pos = end;
  }
  return out;
}

// The types in order, runs of one delta type merged into one entry.
std::vector<std::string> Order(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const json& e : events) {
    const std::string t = e["type"];
    if (!out.empty() && out.back() == t && t.find(".delta") != std::string::npos) continue;
    out.push_back(t);
  }
  return out;
}

// Enums only: a forced call is short whatever the random model prefers.
json Tools() {
  return json::parse(R"([{"type": "function", "name": "get_weather", "strict": true,
      "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo"]},
      "metric": {"type": "boolean"}}, "required": ["city", "metric"],
      "additionalProperties": false}}])");
}

void ExpectValidCall(const json& fc) {
  ASSERT_TRUE(fc.is_object() && fc.contains("type") && fc.contains("arguments")) << fc;
  ASSERT_EQ(fc["type"], "function_call") << fc;
  EXPECT_EQ(fc["name"], "get_weather");
  EXPECT_EQ(fc["call_id"].get<std::string>().rfind("call_", 0), 0u) << fc;
  EXPECT_EQ(fc["id"].get<std::string>().rfind("fc_", 0), 0u) << fc;
  const json a = json::parse(fc["arguments"].get<std::string>(), nullptr, false);
  ASSERT_TRUE(a.is_object()) << fc;
  EXPECT_TRUE(a["city"] == "Paris" || a["city"] == "Oslo") << a;
  EXPECT_TRUE(a["metric"].is_boolean()) << a;
  EXPECT_EQ(a.size(), 2u) << a;
}

// The message text of a response's output (every output_text part).
std::string OutputText(const json& r) {
  std::string s;
  for (const json& item : r["output"]) {
    if (item["type"] != "message") continue;
    for (const json& p : item["content"]) s += p["text"].get<std::string>();
  }
  return s;
}

TEST_F(ResponsesApi, UnaryEqualsChatAndStreamedEventsFollowTheTable) {
  const json body = {{"input", "Tell me a story"},        {"instructions", "You are brief."},
                     {"max_output_tokens", 12},           {"temperature", 0},
                     {"reasoning", {{"effort", "none"}}}, {"metadata", {{"k", "v"}}}};
  auto [st, r] = Post("/v1/responses", body);
  ASSERT_EQ(st, 200) << r;
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["id"].get<std::string>().rfind("resp_", 0), 0u) << r;
  EXPECT_EQ(r["model"], "qwen3-responses");
  EXPECT_EQ(r["instructions"], "You are brief.");
  EXPECT_EQ(r["max_output_tokens"], 12);
  EXPECT_EQ(r["metadata"], json({{"k", "v"}}));
  EXPECT_EQ(r["temperature"], 0);
  const json& u = r["usage"];
  EXPECT_GT(u["input_tokens"], 0);
  EXPECT_EQ(u["total_tokens"], u["input_tokens"].get<int>() + u["output_tokens"].get<int>());
  // The random model goes on to the limit (an end of turn among 151k tokens is unlikely).
  ASSERT_EQ(r["status"], "incomplete") << r;
  EXPECT_EQ(r["incomplete_details"], json({{"reason", "max_output_tokens"}}));
  EXPECT_EQ(u["output_tokens"], 12);
  ASSERT_EQ(r["output"].size(), 1u) << r;
  EXPECT_EQ(r["output"][0]["type"], "message");
  EXPECT_EQ(r["output"][0]["role"], "assistant");
  EXPECT_EQ(r["output"][0]["status"], "incomplete");

  // The chat endpoint, same conversation: the same text.
  auto [cst, c] =
      Post("/v1/chat/completions", {{"messages",
                                     {{{"role", "system"}, {"content", "You are brief."}},
                                      {{"role", "user"}, {"content", "Tell me a story"}}}},
                                    {"max_tokens", 12},
                                    {"temperature", 0},
                                    {"chat_template_kwargs", {{"enable_thinking", false}}}});
  ASSERT_EQ(cst, 200) << c;
  EXPECT_EQ(OutputText(r), c["choices"][0]["message"]["content"]) << r << c;
  EXPECT_EQ(u["input_tokens"], c["usage"]["prompt_tokens"]);

  json sb = body;
  sb["stream"] = true;
  auto [sst, sse] = Post("/v1/responses", sb);
  ASSERT_EQ(sst, 200) << sse;
  const std::vector<json> ev = Events(sse.get<std::string>());
  const std::vector<std::string> want = {
      "response.created",           "response.in_progress",
      "response.output_item.added", "response.content_part.added",
      "response.output_text.delta", "response.output_text.done",
      "response.content_part.done", "response.output_item.done",
      "response.incomplete"};
  ASSERT_EQ(Order(ev), want) << sse;
  EXPECT_EQ(ev[0]["response"]["status"], "in_progress");
  EXPECT_EQ(ev[0]["response"]["output"], json::array());
  std::string deltas;
  for (const json& e : ev) {
    if (e["type"] == "response.output_text.delta") {
      deltas += e["delta"].get<std::string>();
      EXPECT_EQ(e["item_id"], ev[2]["item"]["id"]);
    }
  }
  const json& fin = ev.back()["response"];
  EXPECT_EQ(deltas, OutputText(r));
  EXPECT_EQ(fin["output"][0]["content"], r["output"][0]["content"]);
  EXPECT_EQ(fin["status"], "incomplete");
  EXPECT_EQ(fin["usage"]["output_tokens"], 12);
  EXPECT_EQ(fin["id"], ev[0]["response"]["id"]);
}

// The think block (the whole answer: cut by max_output_tokens before the model closes it)
// without reasoning.summary: reasoning_text content; with it (each value): a summary_text
// part with the same text, streamed as OpenAI streams summaries.
TEST_F(ResponsesApi, ReasoningTextOrSummary) {
  const json base = {{"input", "Why is the sky blue?"},
                     {"max_output_tokens", 12},
                     {"temperature", 0},
                     {"reasoning", {{"effort", "medium"}}}};
  auto [st, plain] = Post("/v1/responses", base, thinker_);
  ASSERT_EQ(st, 200) << plain;
  ASSERT_EQ(plain["output"].size(), 1u) << plain;
  const json& rs = plain["output"][0];
  ASSERT_EQ(rs["type"], "reasoning") << plain;
  ASSERT_EQ(rs["content"].size(), 1u) << rs;
  EXPECT_EQ(rs["content"][0]["type"], "reasoning_text");
  const std::string thought = rs["content"][0]["text"];
  EXPECT_FALSE(thought.empty());
  EXPECT_EQ(rs["summary"], json::array());
  EXPECT_EQ(rs["status"], "incomplete");
  EXPECT_EQ(plain["reasoning"]["summary"], nullptr);
  EXPECT_GT(plain["usage"]["output_tokens_details"]["reasoning_tokens"], 0);

  json sb = base;
  sb["stream"] = true;
  auto [sst, sse] = Post("/v1/responses", sb, thinker_);
  ASSERT_EQ(sst, 200) << sse;
  std::vector<json> ev = Events(sse.get<std::string>());
  EXPECT_EQ(Order(ev), (std::vector<std::string>{
                           "response.created", "response.in_progress", "response.output_item.added",
                           "response.content_part.added", "response.reasoning_text.delta",
                           "response.reasoning_text.done", "response.content_part.done",
                           "response.output_item.done", "response.incomplete"}))
      << sse;
  std::string deltas;
  for (const json& e : ev) {
    if (e["type"] == "response.reasoning_text.delta") deltas += e["delta"].get<std::string>();
  }
  EXPECT_EQ(deltas, thought);
  EXPECT_EQ(ev.back()["response"]["output"][0]["content"], rs["content"]);

  for (const char* summary : {"auto", "concise", "detailed"}) {
    SCOPED_TRACE(summary);
    json body = base;
    body["reasoning"]["summary"] = summary;
    auto [ust, u] = Post("/v1/responses", body, thinker_);
    ASSERT_EQ(ust, 200) << u;
    EXPECT_EQ(u["reasoning"]["summary"], summary);
    ASSERT_EQ(u["output"].size(), 1u) << u;
    const json part = {{"type", "summary_text"}, {"text", thought}};
    EXPECT_EQ(u["output"][0]["summary"], json::array({part})) << u;
    EXPECT_FALSE(u["output"][0].contains("content")) << u;
    EXPECT_EQ(u["output"][0]["status"], "incomplete");

    body["stream"] = true;
    auto [sst2, sse2] = Post("/v1/responses", body, thinker_);
    ASSERT_EQ(sst2, 200) << sse2;
    ev = Events(sse2.get<std::string>());
    ASSERT_EQ(Order(ev),
              (std::vector<std::string>{
                  "response.created", "response.in_progress", "response.output_item.added",
                  "response.reasoning_summary_part.added", "response.reasoning_summary_text.delta",
                  "response.reasoning_summary_text.done", "response.reasoning_summary_part.done",
                  "response.output_item.done", "response.incomplete"}))
        << sse2;
    const json id = ev[2]["item"]["id"];
    std::string text;
    for (const json& e : ev) {
      const std::string t = e["type"];
      if (t.rfind("response.reasoning_summary", 0) != 0) continue;
      EXPECT_EQ(e["item_id"], id) << e;
      EXPECT_EQ(e["output_index"], 0) << e;
      EXPECT_EQ(e["summary_index"], 0) << e;
      if (t == "response.reasoning_summary_text.delta") text += e["delta"].get<std::string>();
    }
    EXPECT_EQ(text, thought);
    const json& done = ev[ev.size() - 3];  // reasoning_summary_part.done
    EXPECT_EQ(done["part"], part);
    EXPECT_EQ(done["status"], "incomplete");
    EXPECT_EQ(ev[ev.size() - 4]["text"], thought);  // reasoning_summary_text.done
    EXPECT_EQ(ev.back()["response"]["output"][0]["summary"], json::array({part}));
    EXPECT_EQ(ev.back()["response"]["output"][0], ev[ev.size() - 2]["item"]);
  }
}

TEST_F(ResponsesApi, ForcedCallsAndRoundTrip) {
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "streamed" : "unary");
    const json body = {{"input", "Weather in Paris?"},
                       {"tools", Tools()},
                       {"tool_choice", "required"},
                       {"parallel_tool_calls", false},
                       {"reasoning", {{"effort", "none"}}},
                       {"max_output_tokens", 200},
                       {"stream", stream},
                       {"seed", 3}};
    auto [st, r] = Post("/v1/responses", body);
    ASSERT_EQ(st, 200) << r;
    if (stream) {
      const std::vector<json> ev = Events(r.get<std::string>());
      const std::vector<std::string> want = {"response.created",
                                             "response.in_progress",
                                             "response.output_item.added",
                                             "response.function_call_arguments.delta",
                                             "response.function_call_arguments.done",
                                             "response.output_item.done",
                                             "response.completed"};
      ASSERT_EQ(Order(ev), want) << r;
      EXPECT_EQ(ev[2]["item"]["status"], "in_progress");
      const json& done = ev[ev.size() - 3];
      const json& item_done = ev[ev.size() - 2];
      EXPECT_EQ(done.value("arguments", json()), item_done["item"].value("arguments", json()));
      r = ev.back()["response"];
    }
    EXPECT_EQ(r["status"], "completed") << r;
    ASSERT_EQ(r["output"].size(), 1u) << r;
    ExpectValidCall(r["output"][0]);
    EXPECT_EQ(r["tool_choice"], "required");
    EXPECT_EQ(r["tools"], Tools());

    if (stream) continue;
    // The call and its output sent back: the conversation renders and is answered.
    json input = json::array();
    input.push_back({{"role", "user"}, {"content", "Weather in Paris?"}});
    input.push_back(r["output"][0]);
    input.push_back({{"type", "function_call_output"},
                     {"call_id", r["output"][0]["call_id"]},
                     {"output", "{\"temperature\": 21}"}});
    auto [st2, r2] = Post(
        "/v1/responses",
        {{"input", input}, {"tools", Tools()}, {"tool_choice", "none"}, {"max_output_tokens", 4}});
    ASSERT_EQ(st2, 200) << r2;
    EXPECT_EQ(r2["output"].back()["type"], "message") << r2;
    // Longer than the first prompt: the call and its output are in the rendered prompt.
    EXPECT_GT(r2["usage"]["input_tokens"].get<int>(), r["usage"]["input_tokens"].get<int>() + 10);
  }
}

TEST_F(ResponsesApi, JsonSchemaFormat) {
  const json schema = json::parse(R"({"type": "object", "properties": {"mood":
      {"enum": ["happy", "sad"]}, "ok": {"type": "boolean"}}, "required": ["mood", "ok"],
      "additionalProperties": false})");
  auto [st, r] = Post(
      "/v1/responses",
      {{"input", "How are you?"},
       {"reasoning", {{"effort", "none"}}},
       {"max_output_tokens", 100},
       {"text",
        {{"format",
          {{"type", "json_schema"}, {"name", "mood"}, {"schema", schema}, {"strict", true}}}}}});
  ASSERT_EQ(st, 200) << r;
  EXPECT_EQ(r["status"], "completed") << r;
  const json v = json::parse(OutputText(r), nullptr, false);
  ASSERT_TRUE(v.is_object()) << r;
  EXPECT_TRUE(v["mood"] == "happy" || v["mood"] == "sad") << v;
  EXPECT_TRUE(v["ok"].is_boolean()) << v;
  EXPECT_EQ(v.size(), 2u);
  EXPECT_EQ(r["text"]["format"]["name"], "mood");
}

TEST_F(ResponsesApi, BadRequestsAre400sNamingTheField) {
  const std::pair<json, std::string> cases[] = {
      {{{"input", "hi"}, {"frobnicate", 1}}, "frobnicate"},
      {{{"input", "hi"}, {"previous_response_id", "resp_abc"}}, "previous_response_id"},
      {{{"input", json::parse(R"([{"role": "user", "content": [{"type": "input_image",
          "image_url": "https://x/y.png"}]}])")}},
       "input[0].content[0].type"},
      {{{"input", "hi"}, {"tools", json::parse(R"([{"type": "web_search"}])")}}, "tools[0].type"},
      {{{"input", "hi"}, {"max_output_tokens", -1}}, "max_output_tokens"},
      // Compiled by the frontend at admission: the error still names the Responses field.
      {{{"input", "hi"},
        {"text", {{"format", {{"type", "json_schema"}, {"schema", {{"type", 5}}}}}}}},
       "text.format.schema"},
      {{{"input", "hi"}, {"model", "gpt-5"}}, "model"},
  };
  for (const auto& [body, param] : cases) {
    auto [st, r] = Post("/v1/responses", body);
    EXPECT_TRUE(st == 400 || (param == "model" && st == 404)) << st << r;
    EXPECT_EQ(r["error"]["param"], param) << r;
    EXPECT_NE(r["error"]["message"].get<std::string>().find(param), std::string::npos) << r;
  }
  // store (true is the SDK's default) does not fail a request; nothing is kept.
  auto [st, r] =
      Post("/v1/responses", {{"input", "hi"}, {"store", true}, {"max_output_tokens", 2}});
  ASSERT_EQ(st, 200) << r;
  EXPECT_EQ(r["store"], false);
}

TEST_F(ResponsesApi, ClientThatGoesAwayCancelsTheStream) {
  server::Gate& gate = server_->app->gate();
  const std::string body = json({{"input", "Tell me a long story"},
                                 {"max_output_tokens", 900},
                                 {"reasoning", {{"effort", "none"}}},
                                 {"stream", true}})
                               .dump();
  const int fd = testing::Connect(server_->app->api_port());
  ASSERT_GE(fd, 0);
  testing::SendAll(fd, "POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
  const std::string head = testing::ReadUntil(fd, "response.output_text.delta");
  ASSERT_EQ(testing::StatusOf(head), 200) << head;
  EXPECT_EQ(gate.active(), 1);
  testing::Reset(fd);
  const testing::Clock::time_point t0 = testing::Clock::now();
  while (gate.active() != 0 && testing::MsSince(t0) < 20000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(gate.active(), 0);
  EXPECT_LT(testing::MsSince(t0), 1000 * testing::TimeScale());
}

}  // namespace
}  // namespace phx
