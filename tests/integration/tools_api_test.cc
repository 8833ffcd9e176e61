// Tool calling through HTTP against a real in-process server: a synthesized random-weight model
// with the real Qwen3 vocabulary and chat template (the Hermes <tool_call> format). Forced
// (required), named and auto choices, unary and streamed, must come back as valid
// message.tool_calls / delta.tool_calls whose arguments follow the schema (the grammar forces
// them); bad tools are 400s naming the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/integration/qwen3_server.h"

namespace phx {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class ToolsApi : public testing::Qwen3ServerTest {
 public:
  static httplib::Result PostRaw(const nlohmann::json& body) {
    httplib::Client c("127.0.0.1", server_->app->api_port());
    c.set_read_timeout(120, 0);
    return c.Post("/v1/chat/completions", body.dump(), "application/json");
  }

 protected:
  static void SetUpTestSuite() { Start("qwen3-tools", 1024); }
  static std::pair<int, json> Post(const json& body) {
    auto r = PostRaw(body);
    if (!r) return {-1, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
};

// Enums and booleans only: a forced call is short whatever the random model prefers.
json Tools() {
  return json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
      "properties": {"city": {"enum": ["Paris", "Oslo"]}, "metric": {"type": "boolean"}},
      "required": ["city", "metric"]}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
      "properties": {"zone": {"enum": ["UTC", "CET"]}}, "required": ["zone"],
      "additionalProperties": false}}}])");
}

json Request(const json& extra) {
  json body = {{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
               {"tools", Tools()},
               {"max_tokens", 200},
               {"temperature", 1.0},
               {"chat_template_kwargs", {{"enable_thinking", false}}}};
  body.update(extra);
  return body;
}

// A call in OpenAI's shape whose arguments follow its tool's schema.
void ExpectValidCall(const json& tc, const std::vector<std::string>& names) {
  ASSERT_EQ(tc["type"], "function") << tc;
  const std::string id = tc["id"];
  EXPECT_EQ(id.rfind("call_", 0), 0u);
  const std::string name = tc["function"]["name"];
  EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << tc;
  const json a = json::parse(tc["function"]["arguments"].get<std::string>(), nullptr, false);
  ASSERT_TRUE(a.is_object()) << tc;
  if (name == "get_weather") {
    EXPECT_TRUE(a["city"] == "Paris" || a["city"] == "Oslo") << a;
    EXPECT_TRUE(a["metric"].is_boolean()) << a;
    EXPECT_EQ(a.size(), 2u) << a;
  } else {
    EXPECT_TRUE(a["zone"] == "UTC" || a["zone"] == "CET") << a;
    EXPECT_EQ(a.size(), 1u) << a;
  }
}

// The streamed answer assembled from its chunks: {content, tool_calls, finish_reason}.
json Streamed(const json& body) {
  json b = body;
  b["stream"] = true;
  auto r = ToolsApi::PostRaw(b);
  EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
  json out = {{"content", ""}, {"tool_calls", json::array()}, {"finish_reason", nullptr}};
  if (!r) return out;
  size_t pos = 0;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    const size_t end = r->body.find("\n\n", pos);
    const std::string ev = r->body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (ev == "[DONE]") break;
    const json c = json::parse(ev);
    if (c["choices"].empty()) continue;
    const json& ch = c["choices"][0];
    if (!ch["finish_reason"].is_null()) out["finish_reason"] = ch["finish_reason"];
    const json& d = ch["delta"];
    if (d.contains("content"))
      out["content"] = out["content"].get<std::string>() + d["content"].get<std::string>();
    for (const json& t : d.value("tool_calls", json::array())) {
      json& calls = out["tool_calls"];
      const size_t k = t["index"];
      if (t.contains("id")) {
        EXPECT_EQ(k, calls.size()) << t;
        calls.push_back({{"id", t["id"]},
                         {"type", t["type"]},
                         {"function", {{"name", t["function"]["name"]}, {"arguments", ""}}}});
      }
      if (k >= calls.size()) {
        ADD_FAILURE() << "arguments before the call: " << t;
        continue;
      }
      calls[k]["function"]["arguments"] = calls[k]["function"]["arguments"].get<std::string>() +
                                          t["function"]["arguments"].get<std::string>();
    }
  }
  return out;
}

TEST_F(ToolsApi, BadToolsAre400NamingTheField) {
  auto [st, r] = Post(Request({{"tools", json::parse(R"([{"type": "function", "function":
      {"name": "f", "parameters": {"type": "object", "properties":
      {"x": {"$ref": "#/$defs/none"}}}}}])")}}));
  ASSERT_EQ(st, 400) << r;
  EXPECT_EQ(r["error"]["param"], "tools[0].function.parameters");
  EXPECT_EQ(r["error"]["type"], "invalid_request_error");
  std::tie(st, r) =
      Post(Request({{"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}}));
  ASSERT_EQ(st, 400) << r;
  EXPECT_EQ(r["error"]["param"], "tool_choice.function.name");
}

TEST_F(ToolsApi, NoneAnswersInText) {
  auto [st, r] = Post(Request({{"tool_choice", "none"}, {"max_tokens", 8}}));
  ASSERT_EQ(st, 200) << r;
  EXPECT_FALSE(r["choices"][0]["message"].contains("tool_calls")) << r;
}

TEST_F(ToolsApi, RequiredAndNamedForceValidCalls) {
  int cut = 0;
  for (bool parallel : {true, false}) {
    for (int seed : {1, 2, 3}) {
      SCOPED_TRACE("parallel " + std::to_string(parallel) + " seed " + std::to_string(seed));
      const json body =
          Request({{"tool_choice", "required"}, {"parallel_tool_calls", parallel}, {"seed", seed}});
      auto [st, r] = Post(body);
      ASSERT_EQ(st, 200) << r;
      const json& ch = r["choices"][0];
      // One call ends the answer; with parallel calls the random model may go on adding calls
      // until max_tokens (length; the complete calls are returned).
      if (parallel && ch["finish_reason"] == "length") {
        ++cut;
      } else {
        ASSERT_EQ(ch["finish_reason"], "tool_calls") << r;
      }
      const json& calls = ch["message"]["tool_calls"];
      ASSERT_GE(calls.size(), 1u) << r;
      if (!parallel) EXPECT_EQ(calls.size(), 1u) << r;
      for (const json& tc : calls) ExpectValidCall(tc, {"get_weather", "get_time"});
      // Streamed with the same seed: the same calls (ids aside).
      json s = Streamed(body);
      EXPECT_EQ(s["finish_reason"], ch["finish_reason"]);
      if (ch["finish_reason"] == "length" && s["tool_calls"].size() == calls.size() + 1) {
        s["tool_calls"].erase(s["tool_calls"].size() - 1);  // the call cut off, streamed in part
      }
      ASSERT_EQ(s["tool_calls"].size(), calls.size()) << s;
      for (size_t k = 0; k < calls.size(); ++k) {
        ExpectValidCall(s["tool_calls"][k], {"get_weather", "get_time"});
        EXPECT_EQ(s["tool_calls"][k]["function"], calls[k]["function"]);
      }
    }
  }
  EXPECT_LT(cut, 3) << "every parallel answer ran to max_tokens";
  const json named =
      Request({{"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}},
               {"parallel_tool_calls", false}});
  auto [st, r] = Post(named);
  ASSERT_EQ(st, 200) << r;
  ASSERT_GE(r["choices"][0]["message"]["tool_calls"].size(), 1u) << r;
  for (const json& tc : r["choices"][0]["message"]["tool_calls"]) ExpectValidCall(tc, {"get_time"});
  const json s = Streamed(named);
  ASSERT_GE(s["tool_calls"].size(), 1u) << s;
  for (const json& tc : s["tool_calls"]) ExpectValidCall(tc, {"get_time"});
}

// auto: the model may answer in text; whatever it writes from <tool_call> on follows the
// grammar, so every call it makes is valid, and the stream agrees with the unary answer.
TEST_F(ToolsApi, AutoCallsAreValidAndStreamAgrees) {
  for (int seed : {1, 2, 3, 4}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const json body = Request({{"tool_choice", "auto"}, {"seed", seed}, {"max_tokens", 48}});
    auto [st, r] = Post(body);
    ASSERT_EQ(st, 200) << r;
    const json& m = r["choices"][0]["message"];
    const json calls = m.value("tool_calls", json::array());
    for (const json& tc : calls) ExpectValidCall(tc, {"get_weather", "get_time"});
    const json s = Streamed(body);
    ASSERT_EQ(s["tool_calls"].size(), calls.size()) << s << r;
    EXPECT_EQ(s["content"], m["content"].is_null() ? json("") : m["content"]);
    EXPECT_EQ(s["finish_reason"], r["choices"][0]["finish_reason"]);
  }
}

}  // namespace
}  // namespace phx
