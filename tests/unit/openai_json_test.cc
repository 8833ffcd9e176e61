// OpenAI API JSON: request parsing (every field, prompt forms, chat messages, a table of bad
// requests each answered with INVALID_ARGUMENT naming the field) and response building
// (whole answers, stream chunks, usage, logprobs, errors).
#include "server/http/openai_json.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "server/core/status_map.h"
#include "server/http/openai_response.h"

namespace phx::server {
namespace {

using json = nlohmann::json;

OpenAiRequest Parse(const std::string& body, Endpoint ep = Endpoint::kCompletions) {
  OpenAiRequest r;
  const auto e = ParseRequest(body, ep, ParseOptions{}, &r);
  EXPECT_FALSE(e.has_value()) << body << " -> " << (e ? e->status.ToString() : "");
  return r;
}

TEST(OpenAiRequest, CompletionFields) {
  const OpenAiRequest r = Parse(R"({
    "model": "m", "prompt": "Once", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
    "top_k": 40, "min_p": 0.05, "presence_penalty": 0.1, "frequency_penalty": -0.2,
    "repetition_penalty": 1.1, "seed": 42, "stop": ["a", "bb"], "n": 1, "stream": true,
    "stream_options": {"include_usage": true}, "logprobs": 3, "ignore_eos": true,
    "user": "alice", "priority": 5, "add_special_tokens": false, "suffix": null})");
  EXPECT_EQ(r.model, "m");
  EXPECT_TRUE(r.api.has_text);
  EXPECT_EQ(r.api.text, "Once");
  EXPECT_FALSE(r.api.add_special);
  const auto& p = r.api.sampling;
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_TRUE(r.api.explicit_max_tokens);
  EXPECT_FLOAT_EQ(p.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_FLOAT_EQ(p.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.presence_penalty, 0.1f);
  EXPECT_FLOAT_EQ(p.frequency_penalty, -0.2f);
  EXPECT_FLOAT_EQ(p.repetition_penalty, 1.1f);
  ASSERT_TRUE(p.seed.has_value());
  EXPECT_EQ(*p.seed, 42u);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"a", "bb"}));
  EXPECT_EQ(p.logprobs, 3);
  EXPECT_TRUE(r.logprobs);
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.api.priority, 5);
}

TEST(OpenAiRequest, ChoiceCount) {
  OpenAiRequest r;
  ASSERT_FALSE(ParseRequest(R"({"prompt": "x"})", Endpoint::kCompletions, {}, &r));
  EXPECT_EQ(r.n, 1);
  OpenAiRequest r2;
  ASSERT_FALSE(
      ParseRequest(R"({"prompt": "x", "n": 16, "best_of": 16})", Endpoint::kCompletions, {}, &r2));
  EXPECT_EQ(r2.n, 16);
  OpenAiRequest r3;
  ASSERT_FALSE(ParseRequest(R"({"messages": [{"role": "user", "content": "a"}], "n": 3})",
                            Endpoint::kChat, {}, &r3));
  EXPECT_EQ(r3.n, 3);
}

TEST(OpenAiRequest, Defaults) {
  const OpenAiRequest c = Parse(R"({"prompt": "x"})");
  EXPECT_EQ(c.api.sampling.max_tokens, 16);
  EXPECT_FALSE(c.api.explicit_max_tokens);
  EXPECT_EQ(c.api.sampling.logprobs, -1);
  EXPECT_FALSE(c.stream);
  EXPECT_TRUE(c.model.empty());
  EXPECT_TRUE(c.api.add_special);
  const OpenAiRequest chat =
      Parse(R"({"messages": [{"role": "user", "content": "hi"}]})", Endpoint::kChat);
  EXPECT_EQ(chat.api.sampling.max_tokens, ParseOptions{}.default_chat_max_tokens);
  EXPECT_FALSE(chat.chat.contains("add_generation_prompt"));  // the renderer's default: true
  // null counts as absent.
  const OpenAiRequest n = Parse(R"({"prompt": "x", "temperature": null, "stop": null})");
  EXPECT_FLOAT_EQ(n.api.sampling.temperature, 1.f);
  EXPECT_TRUE(n.api.sampling.stop.empty());
}

TEST(OpenAiRequest, PromptForms) {
  const OpenAiRequest ids = Parse(R"({"prompt": [1, 2, 3]})");
  EXPECT_FALSE(ids.api.has_text);
  EXPECT_EQ(ids.api.token_ids, (std::vector<int32_t>{1, 2, 3}));
  const OpenAiRequest one = Parse(R"({"prompt": ["just one"]})");
  EXPECT_TRUE(one.api.has_text);
  EXPECT_EQ(one.api.text, "just one");
  const OpenAiRequest nested = Parse(R"({"prompt": [[5, 6]]})");
  EXPECT_EQ(nested.api.token_ids, (std::vector<int32_t>{5, 6}));
  const OpenAiRequest stop = Parse(R"({"prompt": "x", "stop": "\n", "max_tokens": 16.0})");
  EXPECT_EQ(stop.api.sampling.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(stop.api.sampling.max_tokens, 16);
  EXPECT_EQ(Parse(R"({"prompt": "x", "top_k": -1})").api.sampling.top_k, 0);  // vLLM's "off"
}

TEST(OpenAiRequest, ChatMessages) {
  const OpenAiRequest r = Parse(R"({
    "model": "m", "messages": [
      {"role": "developer", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "Hello "},
                                   {"type": "text", "text": "there"}], "name": "bob"},
      {"role": "assistant", "content": null},
      {"role": "user", "content": "again"}],
    "max_completion_tokens": 9, "max_tokens": 100, "logprobs": true, "top_logprobs": 2,
    "add_generation_prompt": false})",
                                Endpoint::kChat);
  // The body is kept as sent, in key order, for the chat template (roles, content parts, tool
  // calls and the rest are the renderer's).
  ASSERT_EQ(r.chat["messages"].size(), 4u);
  EXPECT_EQ(r.chat["messages"][0]["role"], "developer");
  EXPECT_EQ(r.chat["messages"][1]["content"][1]["text"], "there");
  EXPECT_EQ(r.chat["messages"][1].begin().key(), "role");
  EXPECT_TRUE(r.chat["messages"][2]["content"].is_null());
  EXPECT_EQ(r.chat.begin().key(), "model");
  EXPECT_EQ(r.api.sampling.max_tokens, 9);  // max_completion_tokens wins
  EXPECT_EQ(r.api.sampling.logprobs, 2);
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.chat["add_generation_prompt"], false);
  const OpenAiRequest lp = Parse(
      R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})", Endpoint::kChat);
  EXPECT_EQ(lp.api.sampling.logprobs, 0);
}

struct BadCase {
  Endpoint ep;
  const char* body;
  const char* param;
};

TEST(OpenAiRequest, BadRequestsNameTheField) {
  const Endpoint C = Endpoint::kCompletions, H = Endpoint::kChat;
  const BadCase cases[] = {
      {C, "{not json", ""},
      {C, "[1, 2]", ""},
      {C, R"({"model": 5, "prompt": "x"})", "model"},
      {C, R"({})", "prompt"},
      {C, R"({"prompt": 5})", "prompt"},
      {C, R"({"prompt": []})", "prompt"},
      {C, R"({"prompt": ["a", "b"]})", "prompt"},
      {C, R"({"prompt": [[1], [2]]})", "prompt"},
      {C, R"({"prompt": [1, "a"]})", "prompt"},
      {C, R"({"prompt": [1, -2]})", "prompt"},
      {C, R"({"prompt": [1.5]})", "prompt"},
      {C, R"({"prompt": "x", "max_tokens": "10"})", "max_tokens"},
      {C, R"({"prompt": "x", "max_tokens": 0})", "max_tokens"},
      {C, R"({"prompt": "x", "max_tokens": 1.5})", "max_tokens"},
      {C, R"({"prompt": "x", "temperature": "hot"})", "temperature"},
      {C, R"({"prompt": "x", "temperature": -1})", "temperature"},
      {C, R"({"prompt": "x", "top_p": 0})", "top_p"},
      {C, R"({"prompt": "x", "top_p": true})", "top_p"},
      {C, R"({"prompt": "x", "top_k": "a"})", "top_k"},
      {C, R"({"prompt": "x", "top_k": -2})", "top_k"},
      {C, R"({"prompt": "x", "min_p": 2})", "min_p"},
      {C, R"({"prompt": "x", "presence_penalty": 3})", "presence_penalty"},
      {C, R"({"prompt": "x", "frequency_penalty": -3})", "frequency_penalty"},
      {C, R"({"prompt": "x", "repetition_penalty": 0})", "repetition_penalty"},
      {C, R"({"prompt": "x", "seed": "1"})", "seed"},
      {C, R"({"prompt": "x", "stop": 1})", "stop"},
      {C, R"({"prompt": "x", "stop": ["a", 1]})", "stop"},
      {C, R"({"prompt": "x", "stop": [""]})", "stop"},
      {C, R"({"prompt": "x", "n": 0})", "n"},
      {C, R"({"prompt": "x", "n": 17})", "n"},
      {C, R"({"prompt": "x", "n": "1"})", "n"},
      {C, R"({"prompt": "x", "best_of": 3})", "best_of"},
      {C, R"({"prompt": "x", "n": 2, "best_of": 3})", "best_of"},
      {C, R"({"prompt": "x", "n": 2, "best_of": "2"})", "best_of"},
      {H, R"({"messages": [{"role": "user", "content": "a"}], "n": 17})", "n"},
      {C, R"({"prompt": "x", "stream": "yes"})", "stream"},
      {C, R"({"prompt": "x", "stream_options": 1})", "stream_options"},
      {C, R"({"prompt": "x", "stream_options": {"include_usage": 1}})",
       "stream_options.include_usage"},
      {C, R"({"prompt": "x", "logprobs": 21})", "logprobs"},
      {C, R"({"prompt": "x", "logprobs": true})", "logprobs"},
      {C, R"({"prompt": "x", "echo": 1})", "echo"},
      {C, R"({"prompt": "x", "echo": true, "logprobs": 1})", "echo"},
      {C, R"({"prompt": "x", "ignore_eos": "no"})", "ignore_eos"},
      {C, R"({"prompt": "x", "priority": 5000})", "priority"},
      {C, R"({"prompt": "x", "user": 7})", "user"},
      {C, R"({"prompt": "x", "add_special_tokens": 1})", "add_special_tokens"},
      {H, R"({})", "messages"},
      {H, R"({"messages": []})", "messages"},
      {H, R"({"messages": "hi"})", "messages"},
      {H, R"({"messages": ["hi"]})", "messages[0]"},
      {H, R"({"messages": [{"content": "hi"}]})", "messages[0].role"},
      {H, R"({"messages": [{"role": 5, "content": "hi"}]})", "messages[0].role"},
      {H, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 1})", "logprobs"},
      {H, R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs"},
      {H, R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true,
           "top_logprobs": 50})",
       "top_logprobs"},
      {H, R"({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0})",
       "max_completion_tokens"},
      {H, R"({"messages": [{"role": "user", "content": "x"}], "add_generation_prompt": 1})",
       "add_generation_prompt"},
  };
  for (const BadCase& c : cases) {
    OpenAiRequest r;
    const auto e = ParseRequest(c.body, c.ep, ParseOptions{}, &r);
    ASSERT_TRUE(e.has_value()) << c.body;
    EXPECT_EQ(e->status.code(), absl::StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(HttpStatus(e->status), 400) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body << ": " << e->status;
    if (*c.param != '\0') {
      // The message names the field too (the leading part of a nested name).
      const std::string head = std::string(c.param).substr(0, std::string(c.param).find('['));
      EXPECT_NE(e->status.message().find(head), absl::string_view::npos) << e->status;
    }
  }
}

TEST(OpenAiRequest, ParamOfMessage) {
  EXPECT_EQ(ParamOfMessage("top_p must be in (0, 1]", Endpoint::kCompletions), "top_p");
  EXPECT_EQ(ParamOfMessage("prompt has 600 tokens; the limit is 511", Endpoint::kCompletions),
            "prompt");
  EXPECT_EQ(ParamOfMessage("prompt has 600 tokens; the limit is 511", Endpoint::kChat), "messages");
  EXPECT_EQ(ParamOfMessage("max_tokens 5000 exceeds the limit 4096", Endpoint::kChat),
            "max_tokens");
  EXPECT_EQ(ParamOfMessage("server overloaded: 3 requests queued", Endpoint::kChat), "");
}

ResponseContext Ctx(bool chat, bool logprobs = false, bool usage = false) {
  ResponseContext c;
  c.chat = chat;
  c.id = chat ? "chatcmpl-1" : "cmpl-1";
  c.created = 1700000000;
  c.model = "stories";
  c.logprobs = logprobs;
  c.include_usage = usage;
  c.token_text = [](int32_t id) { return "t" + std::to_string(id); };
  return c;
}

engine::TokenEvent Ev(int32_t id, std::string text, float lp = -0.5f) {
  engine::TokenEvent e;
  e.token = id;
  e.text = std::move(text);
  e.logprob = lp;
  e.top = {{id, lp}, {id + 1, -2.f}};
  return e;
}

engine::Usage Use() {
  engine::Usage u;
  u.prompt_tokens = 4;
  u.completion_tokens = 2;
  u.cached_prompt_tokens = 3;
  return u;
}

TEST(OpenAiResponse, CompletionBody) {
  ResponseBuilder b(Ctx(false, true));
  b.Add({Ev(7, "Hello"), Ev(8, " world")});
  const json j = b.Body(engine::FinishReason::kEos, Use(), "!");
  EXPECT_EQ(j["id"], "cmpl-1");
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "stories");
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& c = j["choices"][0];
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["text"], "Hello world!");
  EXPECT_EQ(c["finish_reason"], "stop");
  EXPECT_EQ(c["logprobs"]["tokens"], json({"t7", "t8"}));
  EXPECT_EQ(c["logprobs"]["token_logprobs"], json({-0.5, -0.5}));
  EXPECT_EQ(c["logprobs"]["text_offset"], json({0, 2}));
  EXPECT_EQ(c["logprobs"]["top_logprobs"][0], json({{"t7", -0.5}, {"t8", -2.0}}));
  EXPECT_EQ(j["usage"], json({{"prompt_tokens", 4},
                              {"completion_tokens", 2},
                              {"total_tokens", 6},
                              {"prompt_tokens_details", {{"cached_tokens", 3}}}}));
}

TEST(OpenAiResponse, ChatBodyAndEcho) {
  ResponseBuilder b(Ctx(true, true));
  b.Add({Ev(7, "Hi")});
  const json j = b.Body(engine::FinishReason::kLength, Use(), "");
  EXPECT_EQ(j["object"], "chat.completion");
  const json& c = j["choices"][0];
  EXPECT_EQ(c["message"], json({{"role", "assistant"}, {"content", "Hi"}}));
  EXPECT_EQ(c["finish_reason"], "length");
  const json& lp = c["logprobs"]["content"][0];
  EXPECT_EQ(lp["token"], "t7");
  EXPECT_EQ(lp["bytes"], json({116, 55}));
  EXPECT_EQ(lp["top_logprobs"][1]["token"], "t8");
  ResponseContext e = Ctx(false);
  e.echo = "Once";
  ResponseBuilder eb(e);
  eb.Add({Ev(1, " upon")});
  const json ej = eb.Body(engine::FinishReason::kStop, Use(), "");
  EXPECT_EQ(ej["choices"][0]["text"], "Once upon");
  EXPECT_TRUE(ej["choices"][0]["logprobs"].is_null());
}

// Splits "data: ...\n\n" events.
std::vector<std::string> Events(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    const size_t end = s.find("\n\n", pos);
    EXPECT_NE(end, std::string::npos) << s;
    if (end == std::string::npos) break;
    const std::string ev = s.substr(pos, end - pos);
    EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    out.push_back(ev.substr(6));
    pos = end + 2;
  }
  return out;
}

TEST(OpenAiResponse, ChatStream) {
  StreamEncoder enc(Ctx(true, false, true));
  auto first = Events(enc.Begin());
  ASSERT_EQ(first.size(), 1u);
  const json f = json::parse(first[0]);
  EXPECT_EQ(f["object"], "chat.completion.chunk");
  EXPECT_EQ(f["choices"][0]["delta"], json({{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(f.contains("usage") && f["usage"].is_null());
  // One chunk per token with text; a held-back token (no text) makes none.
  auto mid = Events(enc.Tokens({Ev(1, "A"), Ev(2, ""), Ev(3, "B")}));
  ASSERT_EQ(mid.size(), 2u);
  EXPECT_EQ(json::parse(mid[1])["choices"][0]["delta"], json({{"content", "B"}}));
  EXPECT_EQ(enc.Tokens({Ev(4, "")}), "");
  auto end = Events(enc.End(engine::FinishReason::kStop, Use(), ""));
  ASSERT_EQ(end.size(), 3u);
  const json fin = json::parse(end[0]);
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(fin["choices"][0]["delta"], json::object());
  const json usage = json::parse(end[1]);
  EXPECT_EQ(usage["choices"], json::array());
  EXPECT_EQ(usage["usage"]["total_tokens"], 6);
  EXPECT_EQ(end[2], "[DONE]");
}

TEST(OpenAiResponse, CompletionStreamWithLogprobsAndEcho) {
  ResponseContext c = Ctx(false, true, false);
  c.echo = "Hi";
  StreamEncoder enc(c);
  auto first = Events(enc.Begin());
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(json::parse(first[0])["choices"][0]["text"], "Hi");
  auto mid = Events(enc.Tokens({Ev(5, ""), Ev(6, "x")}));
  ASSERT_EQ(mid.size(), 2u);  // with logprobs every token gets its chunk
  const json m = json::parse(mid[1]);
  EXPECT_EQ(m["object"], "text_completion");
  EXPECT_EQ(m["choices"][0]["logprobs"]["tokens"], json({"t6"}));
  EXPECT_EQ(m["choices"][0]["logprobs"]["text_offset"], json({4}));
  EXPECT_FALSE(m.contains("usage"));
  auto end = Events(enc.End(engine::FinishReason::kLength, Use(), "z"));
  ASSERT_EQ(end.size(), 2u);  // no usage chunk without include_usage
  EXPECT_EQ(json::parse(end[0])["choices"][0]["text"], "z");
  EXPECT_EQ(json::parse(end[0])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(end[1], "[DONE]");
}

TEST(OpenAiResponse, Errors) {
  const json e = ErrorJson({absl::InvalidArgumentError("top_p must be in (0, 1]"), "top_p", ""});
  EXPECT_EQ(e, json({{"error",
                      {{"message", "top_p must be in (0, 1]"},
                       {"type", "invalid_request_error"},
                       {"param", "top_p"},
                       {"code", nullptr}}}}));
  EXPECT_EQ(ErrorJson({absl::UnauthenticatedError("no"), "", ""})["error"]["type"],
            "authentication_error");
  EXPECT_EQ(ErrorJson({absl::NotFoundError("m"), "model", "model_not_found"})["error"]["code"],
            "model_not_found");
  EXPECT_EQ(ErrorJson({absl::ResourceExhaustedError("busy"), "", ""})["error"]["type"],
            "rate_limit_error");
  EXPECT_EQ(HttpStatus(absl::UnavailableError("draining")), 503);
  auto ev = Events(StreamEncoder::Error({absl::InternalError("boom"), "", ""}));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(json::parse(ev[0])["error"]["message"], "boom");
  EXPECT_EQ(ev[1], "[DONE]");
  // Half a UTF-8 character (a byte token) does not make serialization throw.
  const std::string bad = Dump(json{{"text", std::string("a\xE2\x82")}});
  EXPECT_NE(bad.find("a\xEF\xBF\xBD"), std::string::npos) << bad;
}

// A thinking template: the think block goes to reasoning_content, whole and streamed, with a
// tag split across tokens; the stream's pieces add up to the whole answer's fields.
TEST(OpenAiResponse, ReasoningContent) {
  ResponseContext c = Ctx(true, false);
  c.reasoning.emplace(chat::ReasoningFormat::kDeepseek, /*in_reasoning=*/false);
  const std::vector<engine::TokenEvent> evs = {Ev(1, "<th"), Ev(2, "ink>\nLet me"), Ev(3, " see</"),
                                               Ev(4, "think>"), Ev(5, "\n\nFour")};
  ResponseBuilder b(c);
  b.Add(evs);
  const json whole = b.Body(engine::FinishReason::kStop, Use(), ".")["choices"][0]["message"];
  EXPECT_EQ(
      whole,
      json({{"role", "assistant"}, {"content", "Four."}, {"reasoning_content", "Let me see"}}));
  StreamEncoder enc(c);
  std::vector<std::string> ev = Events(enc.Begin());
  for (const auto& e : evs) {
    for (auto& x : Events(enc.Tokens({e}))) ev.push_back(std::move(x));
  }
  for (auto& x : Events(enc.End(engine::FinishReason::kStop, Use(), "."))) ev.push_back(x);
  std::string reasoning, content;
  for (const std::string& e : ev) {
    if (e == "[DONE]") continue;
    const json d = json::parse(e)["choices"][0]["delta"];
    if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
    if (d.contains("content")) content += d["content"].get<std::string>();
    for (const auto& [k, v] : d.items()) EXPECT_FALSE(v.is_string() && v == "" && k != "content");
  }
  EXPECT_EQ(reasoning, "Let me see");
  EXPECT_EQ(content, "Four.");
  // The split tag is held back: no chunk for "<th" alone.
  EXPECT_EQ(ev.size(), 6u);  // role, "Let me", " see", "Four", the final chunk, [DONE]
  // Without a splitter the tags are content.
  ResponseBuilder plain(Ctx(true, false));
  plain.Add(evs);
  EXPECT_EQ(plain.Body(engine::FinishReason::kStop, Use(), "")["choices"][0]["message"]["content"],
            "<think>\nLet me see</think>\n\nFour");
}

}  // namespace
}  // namespace phx::server
