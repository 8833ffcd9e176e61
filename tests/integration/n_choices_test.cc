// OpenAI's `n` through HTTP on stories260K: n choices in one answer (unary: choices 0..n-1 and
// usage with the prompt once; streamed: chunks whose choices[0].index names the choice, a finish
// per choice, [DONE] after the last), choice i sampled with seed + i, the prompt's KV blocks
// computed once (the engine's prompt groups), structured output on every choice, the bounds (n in
// [1, 16], best_of absent or equal to n) as 400s naming the field, and a client that goes away
// cancelling every choice.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/integration/raw_http.h"

namespace phx {
namespace {

using json = nlohmann::json;
const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

class NChoices : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = testing::TestConfig(kStories);
    c.runtime.threads = 1;
    c.chat_template = "chatml";  // stories260K has none
    server_ = testing::TestServer::Start(c).release();
  }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static httplib::Result Post(const std::string& path, const std::string& body) {
    httplib::Client c("127.0.0.1", server_->app->api_port());
    c.set_read_timeout(120, 0);
    return c.Post(path, body, "application/json");
  }
  static json Ok(const std::string& path, const json& body) {
    auto r = Post(path, body.dump());
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << body.dump() << " -> " << r->body;
    return json::parse(r->body);
  }
  static void Expect400(const json& body, const std::string& param,
                        const std::string& path = "/v1/completions") {
    auto r = Post(path, body.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body.dump() << " -> " << r->body;
    const json e = json::parse(r->body)["error"];
    EXPECT_EQ(e["type"], "invalid_request_error") << r->body;
    EXPECT_EQ(e["param"], param) << r->body;
  }
  static std::string Metrics() {
    httplib::Client c("127.0.0.1", server_->app->http_port());
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }
  // The data events of an SSE body, up to [DONE] (which must be the last event).
  static std::vector<json> Events(const std::string& body) {
    std::vector<json> out;
    size_t at = 0;
    bool done = false;
    while ((at = body.find("data: ", at)) != std::string::npos) {
      const size_t end = body.find("\n\n", at);
      const std::string data = body.substr(at + 6, end - at - 6);
      at = end;
      EXPECT_FALSE(done) << "an event after [DONE]";
      if (data == "[DONE]") {
        done = true;
        continue;
      }
      out.push_back(json::parse(data));
    }
    EXPECT_TRUE(done);
    return out;
  }
  static json Completion(int n, uint64_t seed, const std::string& prompt = "Once upon a time") {
    return {{"prompt", prompt}, {"max_tokens", 12},   {"temperature", 1.0},
            {"seed", seed},     {"ignore_eos", true}, {"n", n}};
  }

  static testing::TestServer* server_;
};
testing::TestServer* NChoices::server_ = nullptr;

TEST_F(NChoices, UnaryChoicesMatchSeparateRequestsWithSeedPlusIndex) {
  const json a = Ok("/v1/completions", Completion(3, 40));
  ASSERT_EQ(a["choices"].size(), 3u) << a;
  std::set<std::string> texts;
  int completion = 0, prompt = -1;
  for (int i = 0; i < 3; ++i) {
    const json& c = a["choices"][i];
    EXPECT_EQ(c["index"], i);
    EXPECT_EQ(c["finish_reason"], "length");
    const json one = Ok("/v1/completions", Completion(1, 40 + i));
    ASSERT_EQ(one["choices"].size(), 1u);
    EXPECT_EQ(c["text"], one["choices"][0]["text"]) << "choice " << i;
    texts.insert(c["text"].get<std::string>());
    completion += one["usage"]["completion_tokens"].get<int>();
    prompt = one["usage"]["prompt_tokens"].get<int>();
  }
  EXPECT_EQ(texts.size(), 3u) << a;  // temperature 1, different seeds
  // The prompt counts once; completion tokens add up over the choices.
  EXPECT_EQ(a["usage"]["prompt_tokens"], prompt);
  EXPECT_EQ(a["usage"]["completion_tokens"], completion);
  EXPECT_EQ(a["usage"]["total_tokens"], prompt + completion);
}

TEST_F(NChoices, StreamInterleavesChoicesAndEndsOnce) {
  const json unary = Ok("/v1/completions", Completion(3, 7));
  json req = Completion(3, 7);
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  auto r = Post("/v1/completions", req.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  std::map<int, std::string> text;
  std::map<int, int> finishes;
  int usage_chunks = 0;
  for (const json& e : Events(r->body)) {
    if (e["choices"].empty()) {
      ++usage_chunks;
      EXPECT_EQ(e["usage"], unary["usage"]) << e;
      continue;
    }
    ASSERT_EQ(e["choices"].size(), 1u) << e;
    const json& c = e["choices"][0];
    const int i = c["index"];
    ASSERT_TRUE(i >= 0 && i < 3) << e;
    EXPECT_EQ(finishes[i], 0) << "a chunk of choice " << i << " after its finish";
    text[i] += c["text"].get<std::string>();
    if (!c["finish_reason"].is_null()) ++finishes[i];
  }
  EXPECT_EQ(usage_chunks, 1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(finishes[i], 1) << i;
    EXPECT_EQ(text[i], unary["choices"][i]["text"]) << i;
  }
}

TEST_F(NChoices, ThePromptIsComputedOnce) {
  // A prompt of a few blocks that no other test sends: the copies find its full blocks cached.
  const std::string prompt =
      "The little dog ran to the park with his friend the cat, and they played with a red ball "
      "all day long until the sun went down and the stars came out to shine on them.";
  const engine::EngineStats before = server_->engine()->stats();
  const json a = Ok("/v1/completions", Completion(4, 1, prompt));
  ASSERT_EQ(a["choices"].size(), 4u);
  const engine::EngineStats after = server_->engine()->stats();
  const int plen = a["usage"]["prompt_tokens"];
  const int bs = server_->engine()->config().block_size;
  const uint64_t full = static_cast<uint64_t>((plen - 1) / bs * bs);
  ASSERT_GT(full, 0u) << plen;
  EXPECT_EQ(after.prefix_hits - before.prefix_hits, 3 * full);
  EXPECT_EQ(after.prompt_tokens - before.prompt_tokens,
            static_cast<uint64_t>(plen) + 3 * (plen - full));
}

TEST_F(NChoices, JsonSchemaAppliesToEveryChoice) {
  const json schema = {{"type", "object"},
                       {"properties", {{"color", {{"enum", {"red", "green", "blue"}}}}}},
                       {"required", {"color"}},
                       {"additionalProperties", false}};
  // stories260K fills every gap the grammar allows with blanks until max_tokens: logit_bias
  // bans the tokens that are only blanks, so the objects end (as structured_api_test does).
  const tok::Tokenizer& tok = server_->engine()->model().tokenizer();
  json bans = json::object();
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    const std::string piece = tok.TokenToPiece(id, false);
    if (!piece.empty() && piece.find_first_not_of(" \t\r\n") == std::string::npos) {
      bans[std::to_string(id)] = -100;
    }
  }
  const json req = {
      {"messages", {{{"role", "user"}, {"content", "Pick a color."}}}},
      {"max_tokens", 40},
      {"logit_bias", bans},
      {"temperature", 1.0},
      {"seed", 3},
      {"n", 4},
      {"response_format",
       {{"type", "json_schema"}, {"json_schema", {{"name", "c"}, {"schema", schema}}}}}};
  const json a = Ok("/v1/chat/completions", req);
  ASSERT_EQ(a["choices"].size(), 4u) << a;
  for (int i = 0; i < 4; ++i) {
    const json& c = a["choices"][i];
    EXPECT_EQ(c["index"], i);
    ASSERT_EQ(c["finish_reason"], "stop") << c;
    const json v = json::parse(c["message"]["content"].get<std::string>());
    ASSERT_TRUE(v.is_object()) << v;
    EXPECT_EQ(v.size(), 1u) << v;
    const std::string color = v.at("color");
    EXPECT_TRUE(color == "red" || color == "green" || color == "blue") << v;
  }
}

TEST_F(NChoices, ToolCallsAreParsedPerChoice) {
  // chatml has no tool format of its own: the generic JSON format, forced by tool_choice.
  const json tools = json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"enum": ["Paris", "Oslo"]}}, "required": ["city"],
      "additionalProperties": false}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
      "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"],
      "additionalProperties": false}}}])");
  auto body = [&](int n, int seed) {
    return json{{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
                {"tools", tools},
                {"tool_choice", "required"},
                {"parallel_tool_calls", false},
                {"max_tokens", 200},
                {"temperature", 1.0},
                {"seed", seed},
                {"n", n}};
  };
  const json a = Ok("/v1/chat/completions", body(3, 11));
  ASSERT_EQ(a["choices"].size(), 3u) << a;
  for (int i = 0; i < 3; ++i) {
    const json& c = a["choices"][i];
    EXPECT_EQ(c["index"], i);
    ASSERT_EQ(c["finish_reason"], "tool_calls") << c;
    ASSERT_EQ(c["message"]["tool_calls"].size(), 1u) << c;
    const json& f = c["message"]["tool_calls"][0]["function"];
    const json args = json::parse(f["arguments"].get<std::string>());
    ASSERT_TRUE(args.is_object()) << f;
    if (f["name"] == "get_weather") {
      EXPECT_TRUE(args["city"] == "Paris" || args["city"] == "Oslo") << f;
    } else {
      EXPECT_EQ(f["name"], "get_time") << f;
      EXPECT_TRUE(args["zone"] == "UTC" || args["zone"] == "CET") << f;
    }
    // Parsed from this choice's own text: the same call as n = 1 with seed + i.
    const json one = Ok("/v1/chat/completions", body(1, 11 + i));
    EXPECT_EQ(one["choices"][0]["message"]["tool_calls"][0]["function"], f) << i;
  }
}

TEST_F(NChoices, BoundsAre400sNamingTheField) {
  Expect400(Completion(17, 1), "n");
  Expect400(Completion(0, 1), "n");
  json b = Completion(3, 1);
  b["best_of"] = 4;
  Expect400(b, "best_of");
  b["best_of"] = 3;  // equal to n: accepted
  EXPECT_EQ(Ok("/v1/completions", b)["choices"].size(), 3u);
  Expect400({{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"n", 2}, {"best_of", 2}},
            "best_of", "/v1/chat/completions");
}

TEST_F(NChoices, AClientThatGoesAwayCancelsEveryChoice) {
  const std::string series = R"(phalanx_requests_total{code="CANCELLED",rpc="http_completions"})";
  const double cancelled_before = std::max(0.0, testing::MetricValue(Metrics(), series));
  const uint64_t generated_before = server_->engine()->stats().generated_tokens;
  json req = Completion(4, 1);
  req["max_tokens"] = 400;
  req["stream"] = true;
  const std::string body = req.dump();
  const int fd = testing::Connect(server_->app->api_port());
  ASSERT_GE(fd, 0);
  testing::SendAll(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n" + body);
  const std::string begun = testing::ReadUntil(fd, "data: {", 60);
  ASSERT_EQ(testing::StatusOf(begun), 200) << begun;
  EXPECT_EQ(server_->app->gate().active(), 4);  // one gate call per choice
  testing::Reset(fd);
  // Every choice stops well before its 400 tokens (bounded wait on a loaded machine).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (server_->app->gate().active() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server_->app->gate().active(), 0);
  EXPECT_EQ(server_->engine()->stats().running, 0);
  // All four were cancelled, none ran to its 400 tokens.
  EXPECT_EQ(testing::MetricValue(Metrics(), series) - cancelled_before, 4);
  EXPECT_LT(server_->engine()->stats().generated_tokens - generated_before, 4u * 400u);
}

}  // namespace
}  // namespace phx
