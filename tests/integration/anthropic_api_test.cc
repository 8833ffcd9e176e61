// Anthropic's Messages API against real in-process servers behind an API key: a synthesized
// random-weight model with the real Qwen3 vocabulary and chat template (Hermes tool calls), and
// stories260K (which writes text where random weights repeat white space) on chatml and on
// DeepSeek R1's template (its generation prompt opens a think block). Checks the answer's
// shape, x-api-key and Bearer auth, errors in Anthropic's shape with the field named,
// count_tokens against the usage of a generation, stop sequences, the forced tool_use and its
// tool_result round trip, and every stream's event order against the table below: a stream
// cut by max_tokens, a thinking stream, a tool_use stream, and a stream the client cancels
// (the request is cancelled; the server keeps serving). The thinking budget:
// anthropic_budget_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "server/auth/api_keys.h"
#include "tests/integration/grpc_test_server.h"
#include "tests/integration/raw_http.h"
#include "tests/support/qwen3_model.h"

namespace phx {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
constexpr char kKey[] = "sk-ant-test-key";

// Which event may follow which (the type of a block start, delta type of a delta). "end" is
// the end of the body; message_delta carries the stop reason, checked per test.
const std::map<std::string, std::set<std::string>> kNext = {
    {"begin", {"message_start"}},
    {"message_start", {"ping"}},
    {"ping",
     {"content_block_start:text", "content_block_start:thinking", "content_block_start:tool_use",
      "message_delta", "ping"}},
    {"content_block_start:text", {"content_block_delta:text_delta"}},
    {"content_block_start:thinking", {"content_block_delta:thinking_delta"}},
    {"content_block_start:tool_use", {"content_block_delta:input_json_delta"}},
    {"content_block_delta:text_delta", {"content_block_delta:text_delta", "content_block_stop"}},
    {"content_block_delta:thinking_delta",
     {"content_block_delta:thinking_delta", "content_block_stop"}},
    {"content_block_delta:input_json_delta",
     {"content_block_delta:input_json_delta", "content_block_stop"}},
    {"content_block_stop",
     {"content_block_start:text", "content_block_start:thinking", "content_block_start:tool_use",
      "message_delta"}},
    {"message_delta", {"message_stop"}},
    {"message_stop", {"end"}},
};

struct Stream {
  std::vector<std::string> kinds;  // message_start, content_block_start:text, ...
  std::vector<json> events;
  json message;  // assembled as the SDKs do: content blocks, stop_reason, usage
};

// Parses an SSE body (event: / data: pairs), checks every transition against kNext and the
// event name against the data's type, and assembles the message.
Stream ParseStream(const std::string& body) {
  Stream s;
  std::string prev = "begin";
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) break;
    const std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind(":", 0) == 0) continue;  // a comment
    const size_t nl = ev.find('\n');
    EXPECT_EQ(ev.rfind("event: ", 0), 0u) << ev;
    EXPECT_EQ(ev.compare(nl + 1, 6, "data: "), 0) << ev;
    const std::string name = ev.substr(7, nl - 7);
    const json d = json::parse(ev.substr(nl + 7), nullptr, false);
    EXPECT_EQ(d.value("type", ""), name) << ev;
    std::string kind = name;
    if (name == "content_block_start") kind += ":" + d["content_block"]["type"].get<std::string>();
    if (name == "content_block_delta") kind += ":" + d["delta"]["type"].get<std::string>();
    if (name == "ping" && prev != "message_start") {
      kind = "ping";  // a heartbeat: allowed anywhere, not a transition
      continue;
    }
    EXPECT_TRUE(kNext.at(prev).count(kind)) << prev << " -> " << kind << "\n" << body;
    if (!kNext.count(kind)) break;
    prev = kind;
    s.kinds.push_back(kind);
    s.events.push_back(d);
    json& m = s.message;
    if (name == "message_start") {
      m = d["message"];
    } else if (name == "content_block_start") {
      EXPECT_EQ(d["index"], m["content"].size()) << ev;
      m["content"].push_back(d["content_block"]);
      if (d["content_block"]["type"] == "tool_use") m["content"].back()["partial"] = "";
    } else if (name == "content_block_delta") {
      json& b = m["content"][d["index"].get<size_t>()];
      const json& x = d["delta"];
      if (x["type"] == "text_delta")
        b["text"] = b["text"].get<std::string>() + x["text"].get<std::string>();
      if (x["type"] == "thinking_delta") {
        b["thinking"] = b["thinking"].get<std::string>() + x["thinking"].get<std::string>();
      }
      if (x["type"] == "input_json_delta") {
        b["partial"] = b["partial"].get<std::string>() + x["partial_json"].get<std::string>();
      }
    } else if (name == "content_block_stop") {
      json& b = m["content"][d["index"].get<size_t>()];
      if (b.contains("partial")) {
        b["input"] = json::parse(b["partial"].get<std::string>(), nullptr, false);
        b.erase("partial");
      }
    } else if (name == "message_delta") {
      m["stop_reason"] = d["delta"]["stop_reason"];
      m["stop_sequence"] = d["delta"]["stop_sequence"];
      m["usage"] = d["usage"];
    }
  }
  EXPECT_EQ(prev, "message_stop") << body;
  return s;
}

template <class Bytes>
std::string Hex(const Bytes& bytes) {
  static const char* d = "0123456789abcdef";
  std::string h;
  for (unsigned char c : bytes) {
    h.push_back(d[c >> 4]);
    h.push_back(d[c & 15]);
  }
  return h;
}

struct Answer {
  int status = -1;
  json body;
  std::string raw;
};

class AnthropicApi : public ::testing::Test {
 public:
  static Answer Post(testing::TestServer* s, const json& body,
                     const std::string& path = "/v1/messages",
                     httplib::Headers headers = {{"x-api-key", kKey},
                                                 {"anthropic-version", "2023-06-01"}}) {
    httplib::Client c("127.0.0.1", s->app->api_port());
    c.set_read_timeout(120, 0);
    auto r = c.Post(path, headers, body.dump(), "application/json");
    if (!r) return {};
    return {r->status, json::parse(r->body, nullptr, false), r->body};
  }

 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / ("phx_anthropic_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    model_ = new testing::Qwen3Model("qwen3-anthropic", 1024);
    ASSERT_TRUE(model_->status().ok()) << model_->status();
    std::ofstream(*dir_ / "keys.yaml")
        << "keys:\n  - id: tester\n    sha256: " << Hex(server::Sha256(kKey)) << "\n";
    auto cfg = testing::TestConfig(model_->path());
    cfg.api_keys = (*dir_ / "keys.yaml").string();
    cfg.response_cache_mb = 0;
    server_ = testing::TestServer::Start(cfg).release();
    ASSERT_NE(server_, nullptr);
    // stories260K writes text where random weights repeat white space (which makes no block).
    cfg.runtime.model = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";
    cfg.chat_template = "chatml";
    stories_ = testing::TestServer::Start(cfg).release();
    ASSERT_NE(stories_, nullptr);
    cfg.chat_template =
        std::string(PHX_SHARED_DIR) + "/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja";
    thinker_ = testing::TestServer::Start(cfg).release();
    ASSERT_NE(thinker_, nullptr);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete stories_;
    delete thinker_;
    delete model_;
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path* dir_;
  static testing::Qwen3Model* model_;
  static testing::TestServer* server_;
  static testing::TestServer* stories_;
  static testing::TestServer* thinker_;
};
fs::path* AnthropicApi::dir_ = nullptr;
testing::Qwen3Model* AnthropicApi::model_ = nullptr;
testing::TestServer* AnthropicApi::server_ = nullptr;
testing::TestServer* AnthropicApi::stories_ = nullptr;
testing::TestServer* AnthropicApi::thinker_ = nullptr;

json Tools() {
  return json::parse(R"([
    {"name": "get_weather", "description": "Weather in a city", "input_schema": {"type": "object",
      "properties": {"city": {"enum": ["Paris", "Oslo"]}, "metric": {"type": "boolean"}},
      "required": ["city", "metric"]}, "cache_control": {"type": "ephemeral"}},
    {"name": "get_time", "input_schema": {"type": "object",
      "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"]}}])");
}

json Request(const json& extra) {
  json b = {{"model", "qwen3-anthropic"},
            {"max_tokens", 24},
            {"temperature", 1.0},
            {"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}}};
  if (extra.is_object()) b.update(extra);
  return b;
}

void ExpectWeatherInput(const json& input) {
  ASSERT_TRUE(input.is_object()) << input;
  EXPECT_TRUE(input["city"] == "Paris" || input["city"] == "Oslo") << input;
  EXPECT_TRUE(input["metric"].is_boolean()) << input;
  EXPECT_EQ(input.size(), 2u) << input;
}

TEST_F(AnthropicApi, UnaryMessageShapeAndCountTokens) {
  const Answer a =
      Post(server_, Request({{"metadata", {{"user_id", "u-1"}}}, {"service_tier", "auto"}}));
  ASSERT_EQ(a.status, 200) << a.raw;
  const json& b = a.body;
  EXPECT_EQ(b["id"].get<std::string>().rfind("msg_", 0), 0u) << b;
  EXPECT_EQ(b["type"], "message");
  EXPECT_EQ(b["role"], "assistant");
  EXPECT_EQ(b["model"], "qwen3-anthropic");
  // Random weights: 24 tokens of text (an end of turn is possible but rare).
  EXPECT_TRUE(b["stop_reason"] == "max_tokens" || b["stop_reason"] == "end_turn") << b;
  if (b["stop_reason"] == "max_tokens") EXPECT_EQ(b["usage"]["output_tokens"], 24);
  EXPECT_EQ(b["stop_sequence"], nullptr);
  // The random model may write only white space, which makes no block (a block neither starts
  // nor ends with white space); stories260K below writes words.
  ASSERT_LE(b["content"].size(), 1u) << b;
  if (!b["content"].empty()) EXPECT_EQ(b["content"][0]["type"], "text") << b;
  const Answer words = Post(stories_, Request({{"model", "stories260K"}}));
  ASSERT_EQ(words.status, 200) << words.raw;
  ASSERT_EQ(words.body["content"].size(), 1u) << words.body;
  EXPECT_EQ(words.body["content"][0]["type"], "text") << words.body;
  EXPECT_FALSE(words.body["content"][0]["text"].get<std::string>().empty()) << words.body;
  const int in =
      b["usage"]["input_tokens"].get<int>() + b["usage"]["cache_read_input_tokens"].get<int>();
  // count_tokens counts the same rendered prompt; tools add their description.
  json count = Request({});
  for (const char* k : {"max_tokens", "temperature"}) count.erase(k);
  const Answer c = Post(server_, count, "/v1/messages/count_tokens");
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_EQ(c.body, json({{"input_tokens", in}}));
  count["tools"] = Tools();
  const Answer ct = Post(server_, count, "/v1/messages/count_tokens");
  ASSERT_EQ(ct.status, 200) << ct.raw;
  EXPECT_GT(ct.body["input_tokens"].get<int>(), in + 20);
  // The same prompt again: served from the prefix cache, counted as cache reads.
  const Answer again = Post(server_, Request({}));
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.body["usage"]["input_tokens"].get<int>() +
                again.body["usage"]["cache_read_input_tokens"].get<int>(),
            in);
}

TEST_F(AnthropicApi, KeysAndErrorsInAnthropicShape) {
  const auto expect_error = [](const Answer& a, int status, const std::string& type,
                               const std::string& says) {
    EXPECT_EQ(a.status, status) << a.raw;
    EXPECT_EQ(a.body["type"], "error") << a.raw;
    EXPECT_EQ(a.body["error"]["type"], type) << a.raw;
    EXPECT_NE(a.body["error"]["message"].get<std::string>().find(says), std::string::npos) << a.raw;
  };
  expect_error(Post(server_, Request({}), "/v1/messages", {}), 401, "authentication_error", "");
  expect_error(Post(server_, Request({}), "/v1/messages", {{"x-api-key", "wrong"}}), 401,
               "authentication_error", "");
  expect_error(Post(server_, Request({}), "/v1/messages/count_tokens", {{"x-api-key", "wrong"}}),
               401, "authentication_error", "");
  // Authorization: Bearer works as x-api-key does; anthropic-beta is accepted.
  EXPECT_EQ(Post(server_, Request({}), "/v1/messages",
                 {{"authorization", std::string("Bearer ") + kKey},
                  {"anthropic-beta", "interleaved-thinking-2025-05-14"}})
                .status,
            200);
  expect_error(Post(server_, Request({{"max_tokenz", 3}})), 400, "invalid_request_error",
               "max_tokenz: Extra inputs are not permitted");
  json no_max = Request({});
  no_max.erase("max_tokens");
  expect_error(Post(server_, no_max), 400, "invalid_request_error", "max_tokens: Field required");
  expect_error(
      Post(server_,
           Request({{"messages",
                     {{{"role", "user"},
                       {"content", {{{"type", "image"}, {"source", json::object()}}}}}}}})),
      400, "invalid_request_error", "messages[0].content[0].type: image");
  expect_error(
      Post(server_, Request({{"tools",
                              {{{"name", "t"},
                                {"input_schema", {{"type", "object"}, {"properties", 3}}}}}}})),
      400, "invalid_request_error", "tools[0].input_schema");
  expect_error(Post(server_, Request({{"model", "claude-opus-4"}})), 404, "not_found_error",
               "claude-opus-4");
  // A prompt past the context (1024 tokens) is the request's fault.
  std::string big;
  for (int i = 0; i < 1500; ++i) big += "word ";
  expect_error(Post(server_, Request({{"messages", {{{"role", "user"}, {"content", big}}}}})), 400,
               "invalid_request_error", "");
  httplib::Client c("127.0.0.1", server_->app->api_port());
  auto g = c.Get("/v1/messages", {{"x-api-key", kKey}});
  ASSERT_TRUE(g);
  EXPECT_EQ(g->status, 404);
  EXPECT_EQ(json::parse(g->body)["error"]["type"], "not_found_error") << g->body;
}

TEST_F(AnthropicApi, StreamCutByMaxTokensFollowsTheTable) {
  const Answer a =
      Post(stories_, Request({{"stream", true}, {"max_tokens", 24}, {"model", "stories260K"}}));
  ASSERT_EQ(a.status, 200) << a.raw;
  const Stream s = ParseStream(a.raw);
  ASSERT_GE(s.kinds.size(), 4u);
  EXPECT_EQ(s.kinds[0], "message_start");
  EXPECT_EQ(s.kinds[1], "ping");
  const json& m = s.message;
  if (m["stop_reason"] == "max_tokens") EXPECT_EQ(m["usage"]["output_tokens"], 24) << m;
  EXPECT_TRUE(m["stop_reason"] == "max_tokens" || m["stop_reason"] == "end_turn") << m;
  EXPECT_GT(s.events[0]["message"]["usage"]["input_tokens"].get<int>(), 5);
  ASSERT_EQ(m["content"].size(), 1u) << a.raw;
  EXPECT_EQ(m["content"][0]["type"], "text") << m;
}

TEST_F(AnthropicApi, StopSequenceEndsWithStopReasonAndSequence) {
  // Greedy: the same prompt gives the same text; a piece of it is then the stop sequence.
  const Answer first =
      Post(stories_, Request({{"temperature", 0}, {"max_tokens", 24}, {"model", "stories260K"}}));
  ASSERT_EQ(first.status, 200) << first.raw;
  ASSERT_FALSE(first.body["content"].empty()) << first.raw;
  const std::string text = first.body["content"][0]["text"];
  ASSERT_GE(text.size(), 12u) << text;
  const std::string stop = text.substr(text.size() / 2, 3);
  for (bool stream : {false, true}) {
    const Answer a = Post(stories_, Request({{"temperature", 0},
                                             {"model", "stories260K"},
                                             {"max_tokens", 24},
                                             {"stream", stream},
                                             {"stop_sequences", {"zzqx-never", stop}}}));
    ASSERT_EQ(a.status, 200) << a.raw;
    const json m = stream ? ParseStream(a.raw).message : a.body;
    EXPECT_EQ(m["stop_reason"], "stop_sequence") << m;
    EXPECT_EQ(m["stop_sequence"], stop) << m;
  }
}

TEST_F(AnthropicApi, ForcedToolUseStreamsAndRoundTrips) {
  const json forced =
      Request({{"tools", Tools()},
               {"tool_choice",
                {{"type", "tool"}, {"name", "get_weather"}, {"disable_parallel_tool_use", true}}},
               {"max_tokens", 200}});
  const Answer u = Post(server_, forced);
  ASSERT_EQ(u.status, 200) << u.raw;
  ASSERT_EQ(u.body["content"].size(), 1u) << u.raw;
  const json call = u.body["content"][0];
  EXPECT_EQ(call["type"], "tool_use");
  EXPECT_EQ(call["name"], "get_weather");
  EXPECT_EQ(call["id"].get<std::string>().rfind("toolu_", 0), 0u);
  ExpectWeatherInput(call["input"]);
  EXPECT_EQ(u.body["stop_reason"], "tool_use");
  json streamed = forced;
  streamed["stream"] = true;
  const Answer st = Post(server_, streamed);
  ASSERT_EQ(st.status, 200) << st.raw;
  const Stream s = ParseStream(st.raw);
  EXPECT_EQ(s.kinds[2], "content_block_start:tool_use") << st.raw;
  EXPECT_EQ(s.message["stop_reason"], "tool_use");
  ASSERT_EQ(s.message["content"].size(), 1u) << st.raw;
  ExpectWeatherInput(s.message["content"][0]["input"]);
  // any: some tool is called.
  const Answer any = Post(
      server_, Request({{"tools", Tools()},
                        {"tool_choice", {{"type", "any"}, {"disable_parallel_tool_use", true}}},
                        {"max_tokens", 200}}));
  ASSERT_EQ(any.status, 200) << any.raw;
  EXPECT_EQ(any.body["stop_reason"], "tool_use") << any.raw;
  // The call and its result go back: the template renders them and the model answers.
  json round = Request({{"tools", Tools()}});
  round["messages"].push_back({{"role", "assistant"}, {"content", {call}}});
  round["messages"].push_back(
      {{"role", "user"},
       {"content",
        {{{"type", "tool_result"}, {"tool_use_id", call["id"]}, {"content", "21 C, sunny"}},
         {{"type", "text"}, {"text", "Thanks."}}}}});
  const Answer r = Post(server_, round);
  ASSERT_EQ(r.status, 200) << r.raw;
  // The tool result is in the prompt the model saw.
  json count = round;
  for (const char* k : {"max_tokens", "temperature"}) count.erase(k);
  const Answer c = Post(server_, count, "/v1/messages/count_tokens");
  ASSERT_EQ(c.status, 200) << c.raw;
  EXPECT_EQ(c.body["input_tokens"], r.body["usage"]["input_tokens"].get<int>() +
                                        r.body["usage"]["cache_read_input_tokens"].get<int>());
  EXPECT_GT(c.body["input_tokens"].get<int>(), u.body["usage"]["input_tokens"].get<int>() + 10);
}

TEST_F(AnthropicApi, ThinkingTemplateStreamsThinkingBlocks) {
  // DeepSeek R1's generation prompt opens <think>: a random model never closes it, so the
  // whole answer is thinking, cut by max_tokens.
  json body = Request({{"max_tokens", 40}, {"model", "stories260K"}});
  const Answer u = Post(thinker_, body);
  ASSERT_EQ(u.status, 200) << u.raw;
  ASSERT_EQ(u.body["content"].size(), 1u) << u.raw;
  EXPECT_EQ(u.body["content"][0]["type"], "thinking") << u.raw;
  EXPECT_FALSE(u.body["content"][0]["thinking"].get<std::string>().empty());
  body["stream"] = true;
  const Answer st = Post(thinker_, body);
  ASSERT_EQ(st.status, 200) << st.raw;
  const Stream s = ParseStream(st.raw);
  EXPECT_EQ(s.kinds[2], "content_block_start:thinking") << st.raw;
  EXPECT_EQ(s.message["stop_reason"], "max_tokens") << st.raw;
  // A thinking block given back (with any signature) is accepted as the template's reasoning.
  body["stream"] = false;
  body["messages"].push_back({{"role", "assistant"},
                              {"content",
                               {{{"type", "thinking"}, {"thinking", "Hm."}, {"signature", "x"}},
                                {{"type", "text"}, {"text", "Sunny."}}}}});
  body["messages"].push_back({{"role", "user"}, {"content", "Sure?"}});
  EXPECT_EQ(Post(thinker_, body).status, 200);
  // A call forced from the first token is no thinking though the prompt opened the block: the
  // answer is the tool_use alone.
  const Answer forced =
      Post(thinker_, Request({{"model", "stories260K"},
                              {"tools", Tools()},
                              {"tool_choice", {{"type", "tool"}, {"name", "get_weather"}}},
                              {"max_tokens", 200}}));
  ASSERT_EQ(forced.status, 200) << forced.raw;
  ASSERT_EQ(forced.body["content"].size(), 1u) << forced.raw;
  EXPECT_EQ(forced.body["content"][0]["type"], "tool_use") << forced.raw;
  ExpectWeatherInput(forced.body["content"][0]["input"]);
}

TEST_F(AnthropicApi, ClientCancelledStreamIsCancelledAndServerKeepsServing) {
  const json body = Request({{"stream", true}, {"max_tokens", 900}, {"temperature", 1.0}});
  const std::string b = body.dump();
  const int fd = testing::Connect(server_->app->api_port());
  ASSERT_GE(fd, 0);
  testing::SendAll(fd, std::string("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: ") + kKey +
                           "\r\nContent-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b);
  const std::string got = testing::ReadUntil(fd, "content_block_delta", 60);
  ASSERT_NE(got.find("event: message_start"), std::string::npos) << got;
  testing::Reset(fd);
  server::Gate& gate = server_->app->gate();
  const auto t0 = testing::Clock::now();
  const auto idle = [&] { return gate.active() == 0 && server_->engine()->stats().running == 0; };
  while (!idle() && testing::MsSince(t0) < 20000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_TRUE(idle()) << gate.active();
  // The next request is answered.
  const Answer a = Post(server_, Request({{"stream", true}}));
  ASSERT_EQ(a.status, 200);
  ParseStream(a.raw);
  const int m = testing::Connect(server_->app->http_port());
  testing::SendAll(m, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  const std::string metrics = testing::ReadUntil(m, "\x01", 10);
  ::close(m);
  EXPECT_EQ(testing::MetricValue(metrics,
                                 R"(phalanx_requests_total{code="CANCELLED",rpc="http_messages"})"),
            1)
      << metrics;
}

}  // namespace
}  // namespace phx
