#include "server/http/openai_response.h"

#include <cmath>

#include "server/core/status_map.h"
#include "server/http/openai_tools.h"

namespace phx::server {

using json = nlohmann::json;

json FinishReasonJson(engine::FinishReason r) {
  switch (r) {
    case engine::FinishReason::kLength:
      return "length";
    case engine::FinishReason::kStop:
    case engine::FinishReason::kEos:
      return "stop";
    default:
      return nullptr;
  }
}

json UsageJson(const engine::Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_prompt_tokens}}}};
}

json ErrorJson(const ApiError& e) {
  json err = {{"message", std::string(e.status.message())},
              {"type", OpenAiErrorType(e.status)},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}};
  return {{"error", std::move(err)}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string SseEvent(const json& j) { return "data: " + Dump(j) + "\n\n"; }

namespace {

json Bytes(const std::string& s) {
  json b = json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

}  // namespace

void LogprobsBuilder::Add(const engine::TokenEvent& e) {
  const std::string text = token_text_ ? token_text_(e.token) : std::string();
  ++count_;
  if (chat_) {
    json top = json::array();
    for (const auto& t : e.top) {
      const std::string tt = token_text_ ? token_text_(t.token) : std::string();
      top.push_back({{"token", tt}, {"logprob", t.logprob}, {"bytes", Bytes(tt)}});
    }
    content_.push_back({{"token", text},
                        {"logprob", e.logprob},
                        {"bytes", Bytes(text)},
                        {"top_logprobs", std::move(top)}});
    return;
  }
  json top = json::object();
  for (const auto& t : e.top) top[token_text_ ? token_text_(t.token) : std::string()] = t.logprob;
  tokens_.push_back(text);
  logprobs_.push_back(e.logprob);
  top_.push_back(std::move(top));
  offsets_.push_back(offset_);
  offset_ += text.size();
}

json LogprobsBuilder::Get() const {
  if (chat_) return {{"content", content_}};
  return {{"tokens", tokens_},
          {"token_logprobs", logprobs_},
          {"top_logprobs", top_},
          {"text_offset", offsets_}};
}

json LogprobsBuilder::Take() {
  json j = Get();
  Reset();
  return j;
}

void LogprobsBuilder::Reset() {
  count_ = 0;
  for (json* a : {&tokens_, &logprobs_, &top_, &offsets_, &content_}) *a = json::array();
}

ResponseBuilder::ResponseBuilder(ResponseContext ctx)
    : ctx_(std::move(ctx)), text_(ctx_.echo), logprobs_(ctx_.chat, ctx_.token_text, text_.size()) {}

void ResponseBuilder::Add(const std::vector<engine::TokenEvent>& events) {
  for (const auto& e : events) {
    text_ += e.text;
    if (ctx_.logprobs) logprobs_.Add(e);
  }
}

json ResponseBuilder::Body(engine::FinishReason r, const engine::Usage& u,
                           const std::string& tail) {
  text_ += tail;
  json choice = {{"index", ctx_.index},
                 {"logprobs", ctx_.logprobs ? logprobs_.Get() : json(nullptr)},
                 {"finish_reason", FinishReasonJson(r)}};
  if (ctx_.chat) {
    chat::ReasoningSplitter::Delta d{"", text_};
    if (ctx_.reasoning) {
      chat::ReasoningSplitter split = *ctx_.reasoning;
      d = split.Push(text_);
      chat::ReasoningSplitter::Delta rest = split.Finish();
      d.reasoning += rest.reasoning;
      d.content += rest.content;
    }
    json message = {{"role", "assistant"}, {"content", d.content}};
    if (ctx_.tools) {
      chat::ParsedToolOutput p = chat::ParseToolCalls(*ctx_.tools, d.content);
      if (!p.calls.empty()) {
        // As OpenAI answers a call: content null unless the model also wrote text.
        message["content"] = p.content.empty() ? json(nullptr) : json(p.content);
        message["tool_calls"] = ToolCallsJson(p.calls);
        if (r == engine::FinishReason::kStop || r == engine::FinishReason::kEos) {
          choice["finish_reason"] = "tool_calls";
        }
      } else {
        message["content"] = p.content;
      }
    }
    if (!d.reasoning.empty()) message["reasoning_content"] = d.reasoning;
    choice["message"] = std::move(message);
  } else {
    choice["text"] = text_;
  }
  return {{"id", ctx_.id},
          {"object", ctx_.chat ? "chat.completion" : "text_completion"},
          {"created", ctx_.created},
          {"model", ctx_.model},
          {"choices", json::array({std::move(choice)})},
          {"usage", UsageJson(u)}};
}

StreamEncoder::StreamEncoder(ResponseContext ctx)
    : ctx_(std::move(ctx)), logprobs_(ctx_.chat, ctx_.token_text, ctx_.echo.size()) {
  if (ctx_.chat && ctx_.tools) tool_stream_.emplace(*ctx_.tools);
}

json StreamEncoder::ToolDeltas(chat::ReasoningSplitter::Delta* d, bool final) {
  if (!tool_stream_) return nullptr;
  chat::ToolCallStream::Delta t = tool_stream_->Push(d->content);
  if (final) {
    chat::ToolCallStream::Delta rest = tool_stream_->Finish();
    t.content += rest.content;
    t.calls.insert(t.calls.end(), rest.calls.begin(), rest.calls.end());
  }
  d->content = std::move(t.content);
  if (t.calls.empty()) return nullptr;
  json calls = json::array();
  for (const chat::ToolCallStream::CallDelta& c : t.calls) {
    json e = {{"index", c.index}};
    if (c.first) {
      tool_ids_.push_back(NewToolCallId());
      e["id"] = tool_ids_.back();
      e["type"] = "function";
      e["function"] = {{"name", c.name}, {"arguments", c.arguments}};
    } else {
      e["function"] = {{"arguments", c.arguments}};
    }
    calls.push_back(std::move(e));
  }
  return calls;
}

json StreamEncoder::Chunk(const chat::ReasoningSplitter::Delta& text, const json& finish,
                          const json& logprobs, bool role, const json& tool_calls) const {
  json choice = {{"index", ctx_.index}, {"logprobs", logprobs}, {"finish_reason", finish}};
  if (ctx_.chat) {
    json delta = json::object();
    if (role) delta["role"] = "assistant";
    if (!text.reasoning.empty()) delta["reasoning_content"] = text.reasoning;
    if (role || !text.content.empty()) delta["content"] = text.content;
    if (!tool_calls.is_null()) delta["tool_calls"] = tool_calls;
    choice["delta"] = std::move(delta);
  } else {
    choice["text"] = text.content;
  }
  json j = {{"id", ctx_.id},
            {"object", ctx_.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", ctx_.created},
            {"model", ctx_.model},
            {"choices", json::array({std::move(choice)})}};
  if (ctx_.include_usage) j["usage"] = nullptr;
  return j;
}

chat::ReasoningSplitter::Delta StreamEncoder::Split(const std::string& text, bool final) {
  if (!ctx_.chat || !ctx_.reasoning) return {"", text};
  chat::ReasoningSplitter::Delta d = ctx_.reasoning->Push(text);
  if (final) {
    chat::ReasoningSplitter::Delta rest = ctx_.reasoning->Finish();
    d.reasoning += rest.reasoning;
    d.content += rest.content;
  }
  return d;
}

std::string StreamEncoder::Begin() {
  if (ctx_.chat) return SseEvent(Chunk({}, nullptr, nullptr, /*role=*/true));
  if (ctx_.echo.empty()) return "";
  return SseEvent(Chunk({"", ctx_.echo}, nullptr, nullptr, false));
}

std::string StreamEncoder::Tokens(const std::vector<engine::TokenEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    if (ctx_.logprobs) logprobs_.Add(e);
    // An event without text (bytes or a partial think tag held back) and without logprobs
    // merges into the next one.
    chat::ReasoningSplitter::Delta d = Split(e.text, false);
    const json calls = ToolDeltas(&d, false);
    if (d.empty() && calls.is_null() && logprobs_.empty()) continue;
    out +=
        SseEvent(Chunk(d, nullptr, ctx_.logprobs ? logprobs_.Take() : json(nullptr), false, calls));
  }
  return out;
}

std::string StreamEncoder::End(engine::FinishReason r, const engine::Usage& u,
                               const std::string& tail) {
  return EndChoice(r, tail) + Close(u);
}

std::string StreamEncoder::EndChoice(engine::FinishReason r, const std::string& tail) {
  chat::ReasoningSplitter::Delta d = Split(tail, true);
  const json calls = ToolDeltas(&d, true);
  json finish = FinishReasonJson(r);
  if (tool_stream_ && tool_stream_->num_calls() > 0 &&
      (r == engine::FinishReason::kStop || r == engine::FinishReason::kEos)) {
    finish = "tool_calls";
  }
  return SseEvent(Chunk(d, finish, nullptr, false, calls));
}

std::string StreamEncoder::Close(const engine::Usage& u) const {
  std::string out;
  if (ctx_.include_usage) {
    out += SseEvent({{"id", ctx_.id},
                     {"object", ctx_.chat ? "chat.completion.chunk" : "text_completion"},
                     {"created", ctx_.created},
                     {"model", ctx_.model},
                     {"choices", json::array()},
                     {"usage", UsageJson(u)}});
  }
  out += kSseDone;
  return out;
}

std::string StreamEncoder::Error(const ApiError& e) {
  return SseEvent(ErrorJson(e)) + std::string(kSseDone);
}

net::HttpResponse ErrorHttpResponse(const ApiError& e, std::string body, double retry_after_s) {
  net::HttpResponse r;
  r.status = HttpStatus(e.status);
  if (retry_after_s > 0) {
    r.headers.push_back(
        {"Retry-After", std::to_string(static_cast<int>(std::ceil(retry_after_s)))});
  }
  r.body = std::move(body);
  return r;
}

net::HttpResponse ErrorResponse(const ApiError& e, double retry_after_s) {
  return ErrorHttpResponse(e, Dump(ErrorJson(e)), retry_after_s);
}

}  // namespace phx::server
