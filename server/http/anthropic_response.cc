#include "server/http/anthropic_response.h"

#include <random>

#include "server/core/status_map.h"

namespace phx::server {

using json = nlohmann::json;

std::string AnthropicErrorType(const absl::Status& s) {
  switch (HttpStatus(s)) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 413:
      return "request_too_large";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    case 504:
      return "timeout_error";
    default:
      return "api_error";
  }
}

json AnthropicErrorJson(const ApiError& e) {
  return {{"type", "error"},
          {"error",
           {{"type", AnthropicErrorType(e.status)}, {"message", std::string(e.status.message())}}}};
}

net::HttpResponse AnthropicErrorResponse(const ApiError& e, double retry_after_s) {
  return ErrorHttpResponse(e, Dump(AnthropicErrorJson(e)), retry_after_s);
}

std::string AnthropicEvent(const json& data) {
  return "event: " + data.value("type", std::string("message")) + "\ndata: " + Dump(data) + "\n\n";
}

std::string AnthropicDialect::Heartbeat() const { return AnthropicEvent({{"type", "ping"}}); }

std::unique_ptr<DialectAnswer> AnthropicDialect::NewAnswer(ResponseContext ctx, const Submitted& s,
                                                           bool stream) const {
  return std::make_unique<AnthropicAnswer>(std::move(ctx), opts_, s.prompt_tokens, stream);
}

std::string NewToolUseId() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "toolu_";
  for (int i = 0; i < 24; ++i) id.push_back(kChars[rng() % (sizeof(kChars) - 1)]);
  return id;
}

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

}  // namespace

AnthropicAnswer::AnthropicAnswer(ResponseContext ctx, AnthropicOptions opts, int32_t prompt_tokens,
                                 bool stream)
    : ctx_(std::move(ctx)), opts_(std::move(opts)), prompt_tokens_(prompt_tokens), stream_(stream) {
  if (ctx_.tools) tool_stream_.emplace(*ctx_.tools);
}

json AnthropicAnswer::Usage(const engine::Usage& u) const {
  // As Anthropic counts: input_tokens are the prompt tokens not read from the cache.
  return {{"input_tokens", u.prompt_tokens - u.cached_prompt_tokens},
          {"cache_creation_input_tokens", 0},
          {"cache_read_input_tokens", u.cached_prompt_tokens},
          {"output_tokens", u.completion_tokens}};
}

std::string AnthropicAnswer::Begin() {
  json message = {{"id", ctx_.id},
                  {"type", "message"},
                  {"role", "assistant"},
                  {"model", ctx_.model},
                  {"content", json::array()},
                  {"stop_reason", nullptr},
                  {"stop_sequence", nullptr},
                  {"usage", {{"input_tokens", prompt_tokens_}, {"output_tokens", 0}}}};
  return AnthropicEvent({{"type", "message_start"}, {"message", std::move(message)}}) +
         AnthropicEvent({{"type", "ping"}});
}

void AnthropicAnswer::FlushDelta() {
  if (!stream_ || delta_.empty()) return;
  json d;
  switch (kind_) {
    case Kind::kThinking:
      d = {{"type", "thinking_delta"}, {"thinking", delta_}};
      break;
    case Kind::kText:
      d = {{"type", "text_delta"}, {"text", delta_}};
      break;
    default:
      d = {{"type", "input_json_delta"}, {"partial_json", delta_}};
      break;
  }
  out_ += AnthropicEvent({{"type", "content_block_delta"}, {"index", index_}, {"delta", d}});
  delta_.clear();
}

void AnthropicAnswer::CloseBlock() {
  held_.clear();  // white space at the end of a block is dropped
  if (kind_ == Kind::kNone) return;
  if (stream_) {
    FlushDelta();
    out_ += AnthropicEvent({{"type", "content_block_stop"}, {"index", index_}});
  } else {
    if (kind_ == Kind::kToolUse) {
      json input = json::parse(input_, nullptr, false);
      // A call cut by max_tokens has no whole input: an empty one (stop_reason says why).
      block_["input"] = input.is_object() ? std::move(input) : json::object();
    }
    content_.push_back(std::move(block_));
  }
  kind_ = Kind::kNone;
  input_.clear();
}

void AnthropicAnswer::OpenBlock(Kind kind, json start) {
  CloseBlock();
  kind_ = kind;
  ++index_;
  if (stream_) {
    out_ += AnthropicEvent(
        {{"type", "content_block_start"}, {"index", index_}, {"content_block", start}});
  }
  block_ = std::move(start);
}

void AnthropicAnswer::Delta(std::string_view s) {
  if (s.empty()) return;
  if (kind_ == Kind::kToolUse) input_ += s;
  if (stream_) {
    delta_ += s;
  } else if (kind_ == Kind::kText) {
    block_["text"] = block_["text"].get<std::string>() + std::string(s);
  } else if (kind_ == Kind::kThinking) {
    block_["thinking"] = block_["thinking"].get<std::string>() + std::string(s);
  }
}

void AnthropicAnswer::AddText(Kind kind, std::string_view s) {
  if (s.empty()) return;
  if (kind_ != kind) held_.clear();  // white space between blocks belongs to neither
  held_ += s;
  size_t end = held_.size();
  while (end > 0 && IsSpace(held_[end - 1])) --end;
  if (end == 0) return;  // only white space so far
  size_t begin = 0;
  if (kind_ != kind) {
    while (IsSpace(held_[begin])) ++begin;  // a block starts with text
  }
  const std::string piece = held_.substr(begin, end - begin);
  std::string rest = held_.substr(end);
  if (kind_ != kind) {
    if (kind == Kind::kText) {
      OpenBlock(kind, {{"type", "text"}, {"text", ""}});
    } else {
      OpenBlock(kind, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}});
    }
  }
  Delta(piece);
  held_ = std::move(rest);
}

void AnthropicAnswer::Feed(std::string_view text, bool final) {
  chat::ReasoningSplitter::Delta d{"", std::string(text)};
  if (ctx_.reasoning) {
    d = ctx_.reasoning->Push(text);
    if (final) {
      chat::ReasoningSplitter::Delta rest = ctx_.reasoning->Finish();
      d.reasoning += rest.reasoning;
      d.content += rest.content;
    }
  }
  AddText(Kind::kThinking, d.reasoning);
  if (!tool_stream_) return AddText(Kind::kText, d.content);
  chat::ToolCallStream::Delta t = tool_stream_->Push(d.content);
  if (final) {
    chat::ToolCallStream::Delta rest = tool_stream_->Finish();
    t.content += rest.content;
    t.calls.insert(t.calls.end(), rest.calls.begin(), rest.calls.end());
  }
  // Content comes before the calls it precedes; a call's arguments follow its start.
  AddText(Kind::kText, t.content);
  for (const chat::ToolCallStream::CallDelta& c : t.calls) {
    if (c.first) {
      ++tool_uses_;
      OpenBlock(Kind::kToolUse, {{"type", "tool_use"},
                                 {"id", NewToolUseId()},
                                 {"name", c.name},
                                 {"input", json::object()}});
    }
    if (kind_ == Kind::kToolUse) Delta(c.arguments);
  }
}

std::string AnthropicAnswer::Tokens(const std::vector<engine::TokenEvent>& events) {
  for (const engine::TokenEvent& e : events) {
    ids_.push_back(e.token);
    sent_ += e.text;
    Feed(e.text, false);
  }
  FlushDelta();
  std::string out;
  out.swap(out_);
  return out;
}

std::string AnthropicAnswer::End(engine::FinishReason r, const engine::Usage& u,
                                 const std::string& tail) {
  sent_ += tail;
  Feed(tail, true);
  CloseBlock();
  json stop_reason = "end_turn";
  json stop_sequence = nullptr;
  if (r == engine::FinishReason::kLength) {
    stop_reason = "max_tokens";
  } else if (tool_uses_ > 0) {
    stop_reason = "tool_use";
  } else if (r == engine::FinishReason::kStop && !opts_.stop_sequences.empty()) {
    // The engine drops the stop sequence from the text: it is what the tokens spell past it.
    stop_reason = "stop_sequence";
    const std::string all = opts_.detokenize ? opts_.detokenize(ids_) : "";
    for (const std::string& s : opts_.stop_sequences) {
      if (all.size() >= sent_.size() && all.compare(sent_.size(), s.size(), s) == 0) {
        stop_sequence = s;
        break;
      }
    }
    if (stop_sequence.is_null() && opts_.stop_sequences.size() == 1) {
      stop_sequence = opts_.stop_sequences[0];
    }
  }
  if (!stream_) {
    std::string body = Dump({{"id", ctx_.id},
                             {"type", "message"},
                             {"role", "assistant"},
                             {"model", ctx_.model},
                             {"content", std::move(content_)},
                             {"stop_reason", stop_reason},
                             {"stop_sequence", stop_sequence},
                             {"usage", Usage(u)}});
    return body;
  }
  out_ +=
      AnthropicEvent({{"type", "message_delta"},
                      {"delta", {{"stop_reason", stop_reason}, {"stop_sequence", stop_sequence}}},
                      {"usage", Usage(u)}});
  out_ += AnthropicEvent({{"type", "message_stop"}});
  std::string out;
  out.swap(out_);
  return out;
}

}  // namespace phx::server
