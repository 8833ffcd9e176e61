#include "server/http/responses_stream.h"

#include <algorithm>

#include "server/core/status_map.h"
#include "server/http/openai_tools.h"
#include "server/http/responses_json.h"

namespace phx::server {
namespace {

using json = nlohmann::json;

// "msg_", "fc_", "rs_" and 24 random letters and digits.
std::string ItemId(const char* prefix) { return prefix + NewToolCallId().substr(5); }

bool AllSpace(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

// Whether the request asked for a reasoning summary (reasoning.summary, or its older name
// generate_summary: auto, concise or detailed, checked by the parser).
bool SummaryAsked(const json& echo) {
  const auto r = echo.find("reasoning");
  if (r == echo.end() || !r->is_object()) return false;
  for (const char* key : {"summary", "generate_summary"}) {
    const auto s = r->find(key);
    if (s != r->end() && s->is_string()) return true;
  }
  return false;
}

}  // namespace

ResponsesEncoder::ResponsesEncoder(const ResponseContext& ctx, json echo, bool stream)
    : ctx_(ctx), echo_(std::move(echo)), stream_(stream), summary_(SummaryAsked(echo_)) {
  splitter_ = ctx_.reasoning;
  if (ctx_.tools) tools_.emplace(*ctx_.tools);
}

json ResponsesEncoder::Response(const std::string& status, const json& usage) const {
  json r = {{"id", ctx_.id},       {"object", "response"}, {"created_at", ctx_.created},
            {"status", status},    {"error", nullptr},     {"incomplete_details", nullptr},
            {"model", ctx_.model}, {"output", output_},    {"usage", usage}};
  for (const auto& [k, v] : echo_.items()) r[k] = v;
  return r;
}

void ResponsesEncoder::Emit(const std::string& type, json data) {
  if (!stream_) return;
  json e = {{"type", type}, {"sequence_number", seq_++}};
  e.update(data);
  out_ += "event: " + type + "\ndata: " + Dump(e) + "\n\n";
}

std::string ResponsesEncoder::Begin() {
  Emit("response.created", {{"response", Response("in_progress", nullptr)}});
  Emit("response.in_progress", {{"response", Response("in_progress", nullptr)}});
  return std::move(out_);
}

void ResponsesEncoder::OpenItem(Open kind, json item) {
  CloseItem();
  open_ = kind;
  item_text_.clear();
  output_.push_back(std::move(item));
  const size_t index = output_.size() - 1;
  Emit("response.output_item.added", {{"output_index", index}, {"item", output_.back()}});
  const std::string& id = output_.back()["id"].get_ref<const std::string&>();
  if (kind == Open::kMessage) {
    Emit("response.content_part.added",
         {{"item_id", id},
          {"output_index", index},
          {"content_index", 0},
          {"part", {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}}}});
  } else if (kind == Open::kReasoning && summary_) {
    Emit("response.reasoning_summary_part.added",
         {{"item_id", id},
          {"output_index", index},
          {"summary_index", 0},
          {"part", {{"type", "summary_text"}, {"text", ""}}}});
  } else if (kind == Open::kReasoning) {
    Emit("response.content_part.added", {{"item_id", id},
                                         {"output_index", index},
                                         {"content_index", 0},
                                         {"part", {{"type", "reasoning_text"}, {"text", ""}}}});
  }
}

void ResponsesEncoder::CloseItem() {
  if (open_ == Open::kNone) return;
  const size_t index = output_.size() - 1;
  json& item = output_.back();
  const std::string id = item["id"].get<std::string>();
  if (open_ == Open::kMessage) {
    const json part = {
        {"type", "output_text"}, {"text", item_text_}, {"annotations", json::array()}};
    Emit("response.output_text.done", {{"item_id", id},
                                       {"output_index", index},
                                       {"content_index", 0},
                                       {"text", item_text_},
                                       {"logprobs", json::array()}});
    Emit("response.content_part.done",
         {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"part", part}});
    item["content"] = json::array({part});
  } else if (open_ == Open::kReasoning && summary_) {
    const json part = {{"type", "summary_text"}, {"text", item_text_}};
    Emit("response.reasoning_summary_text.done",
         {{"item_id", id}, {"output_index", index}, {"summary_index", 0}, {"text", item_text_}});
    json done = {{"item_id", id}, {"output_index", index}, {"summary_index", 0}, {"part", part}};
    if (item_status_ == "incomplete") done["status"] = "incomplete";
    Emit("response.reasoning_summary_part.done", std::move(done));
    item["summary"] = json::array({part});
  } else if (open_ == Open::kReasoning) {
    const json part = {{"type", "reasoning_text"}, {"text", item_text_}};
    Emit("response.reasoning_text.done",
         {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"text", item_text_}});
    Emit("response.content_part.done",
         {{"item_id", id}, {"output_index", index}, {"content_index", 0}, {"part", part}});
    item["content"] = json::array({part});
  } else {
    Emit("response.function_call_arguments.done",
         {{"item_id", id}, {"output_index", index}, {"arguments", item_text_}});
    item["arguments"] = item_text_;
  }
  item["status"] = item_status_;
  Emit("response.output_item.done", {{"output_index", index}, {"item", item}});
  open_ = Open::kNone;
  item_text_.clear();
}

void ResponsesEncoder::ReasoningDelta(const std::string& text) {
  if (open_ != Open::kReasoning) {
    json item = {{"id", ItemId("rs_")}, {"type", "reasoning"}, {"summary", json::array()}};
    // With a summary asked for, the summary carries the text (no reasoning_text content).
    if (!summary_) item["content"] = json::array();
    item["status"] = "in_progress";
    OpenItem(Open::kReasoning, std::move(item));
  }
  item_text_ += text;
  if (summary_) {
    Emit("response.reasoning_summary_text.delta", {{"item_id", output_.back()["id"]},
                                                   {"output_index", output_.size() - 1},
                                                   {"summary_index", 0},
                                                   {"delta", text}});
    return;
  }
  Emit("response.reasoning_text.delta", {{"item_id", output_.back()["id"]},
                                         {"output_index", output_.size() - 1},
                                         {"content_index", 0},
                                         {"delta", text}});
}

void ResponsesEncoder::TextDelta(const std::string& text) {
  if (open_ != Open::kMessage) {
    // White space after a think block or around calls is no message by itself.
    if (AllSpace(text)) {
      pending_ws_ += text;
      return;
    }
    OpenItem(Open::kMessage, {{"id", ItemId("msg_")},
                              {"type", "message"},
                              {"role", "assistant"},
                              {"status", "in_progress"},
                              {"content", json::array()}});
  }
  const std::string delta = std::move(pending_ws_) + text;
  pending_ws_.clear();
  item_text_ += delta;
  Emit("response.output_text.delta", {{"item_id", output_.back()["id"]},
                                      {"output_index", output_.size() - 1},
                                      {"content_index", 0},
                                      {"delta", delta},
                                      {"logprobs", json::array()}});
}

void ResponsesEncoder::CallDelta(const chat::ToolCallStream::CallDelta& c) {
  if (c.first || open_ != Open::kCall) {
    pending_ws_.clear();
    OpenItem(Open::kCall, {{"id", ItemId("fc_")},
                           {"type", "function_call"},
                           {"status", "in_progress"},
                           {"arguments", ""},
                           {"call_id", NewToolCallId()},
                           {"name", c.name}});
  }
  if (c.arguments.empty()) return;
  item_text_ += c.arguments;
  Emit("response.function_call_arguments.delta", {{"item_id", output_.back()["id"]},
                                                  {"output_index", output_.size() - 1},
                                                  {"delta", c.arguments}});
}

void ResponsesEncoder::Feed(std::string_view text, bool final) {
  chat::ReasoningSplitter::Delta d{"", std::string(text)};
  if (splitter_) {
    d = splitter_->Push(text);
    if (final) {
      chat::ReasoningSplitter::Delta rest = splitter_->Finish();
      d.reasoning += rest.reasoning;
      d.content += rest.content;
    }
  }
  fed_reasoning_ = !d.reasoning.empty();
  fed_other_ = !d.content.empty();
  if (!d.reasoning.empty()) ReasoningDelta(d.reasoning);
  chat::ToolCallStream::Delta t{std::move(d.content), {}};
  if (tools_) {
    t = tools_->Push(t.content);
    if (final) {
      chat::ToolCallStream::Delta rest = tools_->Finish();
      t.content += rest.content;
      t.calls.insert(t.calls.end(), rest.calls.begin(), rest.calls.end());
    }
  }
  if (!t.content.empty()) TextDelta(t.content);
  for (const chat::ToolCallStream::CallDelta& c : t.calls) CallDelta(c);
}

std::string ResponsesEncoder::Tokens(const std::vector<engine::TokenEvent>& events) {
  for (const engine::TokenEvent& e : events) {
    Feed(e.text, false);
    // A token that added reasoning text, or nothing right after one (held back inside the think
    // block: its end tag).
    last_reasoning_ = fed_reasoning_ || (!fed_other_ && last_reasoning_);
    reasoning_tokens_ += last_reasoning_ ? 1 : 0;
  }
  return std::move(out_);
}

std::string ResponsesEncoder::Finish(engine::FinishReason r, const std::string& tail) {
  const bool cut = r == engine::FinishReason::kLength;
  Feed(tail, true);
  item_status_ = cut ? "incomplete" : "completed";
  bool answered = false;
  for (const json& item : output_) answered = answered || item["type"] != "reasoning";
  if (!answered && open_ != Open::kMessage && (!pending_ws_.empty() || output_.empty())) {
    // An answer of white space (or nothing) is still a message.
    const std::string ws = std::move(pending_ws_);
    pending_ws_.clear();
    OpenItem(Open::kMessage, {{"id", ItemId("msg_")},
                              {"type", "message"},
                              {"role", "assistant"},
                              {"status", "in_progress"},
                              {"content", json::array()}});
    if (!ws.empty()) {
      item_text_ = ws;
      Emit("response.output_text.delta", {{"item_id", output_.back()["id"]},
                                          {"output_index", output_.size() - 1},
                                          {"content_index", 0},
                                          {"delta", ws},
                                          {"logprobs", json::array()}});
    }
  }
  CloseItem();
  return cut ? "incomplete" : "completed";
}

json ResponsesEncoder::Usage(const engine::Usage& u) const {
  return {{"input_tokens", u.prompt_tokens},
          {"input_tokens_details", {{"cached_tokens", u.cached_prompt_tokens}}},
          {"output_tokens", u.completion_tokens},
          {"output_tokens_details",
           {{"reasoning_tokens", std::min<int64_t>(reasoning_tokens_, u.completion_tokens)}}},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

std::string ResponsesEncoder::End(engine::FinishReason r, const engine::Usage& u,
                                  const std::string& tail) {
  if (!stream_) return Dump(Body(r, u, tail));
  const std::string status = Finish(r, tail);
  json resp = Response(status, Usage(u));
  if (status == "incomplete") resp["incomplete_details"] = {{"reason", "max_output_tokens"}};
  Emit(status == "incomplete" ? "response.incomplete" : "response.completed",
       {{"response", std::move(resp)}});
  return std::move(out_);
}

json ResponsesEncoder::Body(engine::FinishReason r, const engine::Usage& u,
                            const std::string& tail) {
  const std::string status = Finish(r, tail);
  json resp = Response(status, Usage(u));
  if (status == "incomplete") resp["incomplete_details"] = {{"reason", "max_output_tokens"}};
  out_.clear();
  return resp;
}

std::string ResponsesEncoder::Error(const ApiError& error) {
  ApiError e = error;
  RenameParam(&e);  // the chat request's field names in the Responses API's
  const std::string code = e.code.empty() ? OpenAiErrorType(e.status) : e.code;
  const std::string message(e.status.message());
  Emit("error", {{"code", code},
                 {"message", message},
                 {"param", e.param.empty() ? json(nullptr) : json(e.param)}});
  json resp = Response("failed", nullptr);
  resp["error"] = {{"code", code}, {"message", message}};
  Emit("response.failed", {{"response", std::move(resp)}});
  return std::move(out_);
}

std::unique_ptr<DialectAnswer> ResponsesDialect::NewAnswer(ResponseContext ctx, const Submitted& s,
                                                           bool stream) const {
  ctx.echo = s.prompt_text;
  return std::make_unique<ResponsesEncoder>(ctx, echo_, stream);
}

net::HttpResponse ResponsesDialect::Error(const ApiError& error, double retry_after_s) const {
  ApiError e = error;
  RenameParam(&e);
  return ErrorResponse(e, retry_after_s);
}

}  // namespace phx::server
