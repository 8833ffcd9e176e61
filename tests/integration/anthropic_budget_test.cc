// The thinking budget through the HTTP API: Anthropic's thinking.budget_tokens, the chat
// endpoint's thinking_token_budget and the server's --reasoning-budget, on a random model with
// stories260K's vocabulary (room for Anthropic's smallest budget, 1024) and DeepSeek R1's
// template, whose generation prompt opens the think block; the random model never closes it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"
#include "tests/support/tiny_synth.h"

namespace phx {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct Answer {
  int status = -1;
  json body;
  std::string raw;
};

class AnthropicBudget : public ::testing::Test {
 public:
  static Answer Post(const json& body, const std::string& path = "/v1/messages") {
    httplib::Client c("127.0.0.1", server_->app->api_port());
    c.set_read_timeout(120, 0);
    auto r = c.Post(path, {{"anthropic-version", "2023-06-01"}}, body.dump(), "application/json");
    if (!r) return {};
    return {r->status, json::parse(r->body, nullptr, false), r->body};
  }

 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("phx_budget_api_" + std::to_string(getpid())));
    fs::create_directories(*dir_);
    model::SynthOptions bo =
        testing::TinySynth("llama", std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf", 1280);
    bo.name = "budget";
    bo.seed = 3;
    const std::string budget_model = (*dir_ / "budget.gguf").string();
    ASSERT_TRUE(model::SynthesizeModel(bo, budget_model).ok());
    auto cfg = testing::TestConfig(budget_model);
    cfg.response_cache_mb = 0;
    cfg.chat_template =
        std::string(PHX_SHARED_DIR) + "/templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja";
    cfg.reasoning_budget = 6;
    server_ = testing::TestServer::Start(cfg).release();
    ASSERT_NE(server_, nullptr);
  }
  static void TearDownTestSuite() {
    delete server_;
    if (dir_) fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path* dir_;
  static testing::TestServer* server_;
};
fs::path* AnthropicBudget::dir_ = nullptr;
testing::TestServer* AnthropicBudget::server_ = nullptr;

// The reasoning splitter drops the white space around a think block's text.
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n')) s.pop_back();
  while (!s.empty() && (s.front() == ' ' || s.front() == '\n')) s.erase(0, 1);
  return s;
}

TEST_F(AnthropicBudget, EnforcedOnMessagesAndChat) {
  // DeepSeek R1's prompt opens the block and the random model never closes it. Greedy, so a
  // budgeted run thinks exactly what an unbudgeted run's first `budget` tokens are.
  const json messages = {{{"role", "user"}, {"content", "Is 7 prime?"}}};
  auto chat = [&](const json& extra) {
    json b = {{"model", "budget"},
              {"messages", messages},
              {"temperature", 0},
              {"logprobs", true},
              {"top_logprobs", 1}};
    b.update(extra);
    return Post(b, "/v1/chat/completions");
  };
  // Chat: the server's --reasoning-budget 6, a request's own budget, and 0 (closed at once).
  const Answer unlimited = chat({{"max_tokens", 1024}, {"thinking_token_budget", -1}});
  ASSERT_EQ(unlimited.status, 200) << unlimited.raw;
  const json& um = unlimited.body["choices"][0]["message"];
  const std::string thought = um.value("reasoning_content", "");
  ASSERT_FALSE(thought.empty()) << unlimited.raw;
  EXPECT_EQ(unlimited.body["usage"]["completion_tokens"], 1024) << unlimited.raw;
  EXPECT_EQ(unlimited.raw.find("</think>"), std::string::npos);
  const json& ulp = unlimited.body["choices"][0]["logprobs"]["content"];
  for (const auto& [budget, extra] :
       std::vector<std::pair<int, json>>{{6, json::object()},
                                         {3, {{"thinking_token_budget", 3}}},
                                         {0, {{"thinking_token_budget", 0}}}}) {
    SCOPED_TRACE(budget);
    json e = extra;
    e["max_tokens"] = 24;
    const Answer a = chat(e);
    ASSERT_EQ(a.status, 200) << a.raw;
    const json& lp = a.body["choices"][0]["logprobs"]["content"];
    ASSERT_EQ(lp.size(), 24u) << a.raw;
    // `budget` sampled tokens (the unbudgeted run's), then the forced "\n</think>\n\n":
    // logprob 0 and no alternatives.
    std::string forced;
    size_t i = 0;
    for (; i < static_cast<size_t>(budget); ++i) {
      EXPECT_EQ(lp[i]["token"], ulp[i]["token"]) << i;
      EXPECT_EQ(lp[i]["top_logprobs"].size(), 1u) << i;
    }
    for (; i < lp.size() && lp[i]["top_logprobs"].empty(); ++i) {
      EXPECT_EQ(lp[i]["logprob"], 0.0) << i;
      forced += lp[i]["token"].get<std::string>();
    }
    EXPECT_EQ(forced, "\n</think>\n\n") << a.raw;
    EXPECT_LT(i, lp.size()) << a.raw;  // then the answer, sampled
    std::string thought_n;
    for (int k = 0; k < budget; ++k) thought_n += ulp[k]["token"].get<std::string>();
    const json& m = a.body["choices"][0]["message"];
    EXPECT_EQ(Trim(m.value("reasoning_content", "")), Trim(thought_n)) << a.raw;
  }
  // --reasoning-budget takes -1 (unlimited) and up.
  server::ServeConfig flags =
      testing::TestConfig(std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf");
  flags.reasoning_budget = 0;
  EXPECT_TRUE(flags.Validate().ok());
  flags.reasoning_budget = -2;
  EXPECT_NE(flags.Validate().message().find("reasoning-budget"), std::string::npos);
  const Answer bad = chat({{"thinking_token_budget", -2}});
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_EQ(bad.body["error"]["param"], "thinking_token_budget") << bad.raw;
  // Messages: thinking.budget_tokens 1024 closes the block after 1024 tokens; text follows.
  json body = {{"model", "budget"},
               {"max_tokens", 1060},
               {"temperature", 0},
               {"messages", messages},
               {"thinking", {{"type", "enabled"}, {"budget_tokens", 1024}}}};
  const Answer m = Post(body);
  ASSERT_EQ(m.status, 200) << m.raw;
  ASSERT_EQ(m.body["content"].size(), 2u) << m.raw;
  EXPECT_EQ(m.body["content"][0]["type"], "thinking") << m.raw;
  EXPECT_EQ(Trim(m.body["content"][0]["thinking"].get<std::string>()), Trim(thought));
  EXPECT_EQ(m.body["content"][1]["type"], "text") << m.raw;
  EXPECT_EQ(m.body["usage"]["output_tokens"], 1060) << m.raw;
  // Streamed: the same blocks in Anthropic's event order.
  body["stream"] = true;
  const Answer st = Post(body);
  ASSERT_EQ(st.status, 200) << st.raw;
  // The stream's thinking_delta events join into the same thinking; text_delta follows.
  std::string thinking;
  bool text = false;
  for (size_t at = st.raw.find("data: "); at != std::string::npos;
       at = st.raw.find("data: ", at + 1)) {
    const json d = json::parse(st.raw.substr(at + 6, st.raw.find('\n', at) - at - 6));
    if (d.value("type", "") != "content_block_delta") continue;
    if (d["delta"]["type"] == "thinking_delta") {
      EXPECT_FALSE(text) << "thinking after text";
      thinking += d["delta"]["thinking"].get<std::string>();
    }
    text = text || d["delta"]["type"] == "text_delta";
  }
  EXPECT_EQ(thinking, m.body["content"][0]["thinking"]);
  EXPECT_TRUE(text) << st.raw;
}

}  // namespace
}  // namespace phx
