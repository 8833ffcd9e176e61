// Fuzzes the Responses API (server/http/responses_json.cc, responses_stream.cc) with raw bytes.
// The request parser, with the default limits and small lenient ones: no crash; every error is
// INVALID_ARGUMENT with a message that names its field; an accepted request is a chat request
// with messages, max_tokens >= 1, the echo object with its fields, ignored fields only from the
// bounded label set (none unknown when strict). The answer encoder, with the same bytes as the
// model's output (a think block and Hermes tool calls parsed from it) fed in pieces, streamed
// and unary: the streamed events are numbered from 0, each delta belongs to the open item, and
// the final response's output equals the unary one (ids aside).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "server/http/openai_fields.h"
#include "server/http/responses_json.h"
#include "server/http/responses_stream.h"

namespace {

using json = nlohmann::json;
using phx::server::ParseOptions;

void Check(bool ok, const char* what, const std::string& detail = "") {
  if (!ok) {
    std::fprintf(stderr, "responses_fuzz: %s %s\n", what, detail.c_str());
    std::abort();
  }
}

void FuzzRequest(std::string_view body, const ParseOptions& o) {
  phx::server::ResponsesRequest r;
  const auto e = phx::server::ParseResponsesRequest(body, o, &r);
  if (e) {
    Check(e->status.code() == absl::StatusCode::kInvalidArgument, "unexpected error code",
          e->status.ToString());
    Check(!e->status.message().empty(), "error without a message");
    if (!e->param.empty()) {
      Check(std::string(e->status.message()).find(e->param) != std::string::npos,
            "error does not name its field", e->status.ToString() + " / " + e->param);
    }
    return;
  }
  Check(r.chat.endpoint == phx::server::Endpoint::kChat, "not a chat request");
  Check(r.chat.chat["messages"].is_array() && !r.chat.chat["messages"].empty(), "no messages");
  Check(r.chat.api.sampling.max_tokens >= 1, "max_tokens below 1 accepted");
  Check(r.chat.n == 1, "n != 1");
  for (const char* key : {"tools", "tool_choice", "text", "temperature", "top_p", "store",
                          "parallel_tool_calls", "reasoning", "metadata", "truncation"}) {
    Check(r.echo.contains(key), "echo without", key);
  }
  const auto& labels = phx::server::IgnoredFieldLabels();
  for (const std::string& f : r.chat.ignored_fields) {
    Check(std::find(labels.begin(), labels.end(), f) != labels.end(), "unbounded label", f);
    Check(o.lenient || f != "other", "strict parsing ignored an unknown field");
  }
}

// The output items without their random ids.
json WithoutIds(json output) {
  for (json& item : output) {
    item.erase("id");
    item.erase("call_id");
  }
  return output;
}

void FuzzEncoder(std::string_view text, size_t piece, bool think, bool tools) {
  phx::server::ResponseContext ctx;
  ctx.chat = true;
  ctx.id = "resp_f";
  if (think) ctx.reasoning.emplace(phx::chat::ReasoningFormat::kDeepseek, text.size() % 2 == 1);
  if (tools) ctx.tools = phx::chat::ToolFormat::kHermes;
  phx::server::ResponsesEncoder stream(ctx, json::object(), true),
      unary(ctx, json::object(), false);
  std::string sse = stream.Begin();
  for (size_t i = 0; i < text.size(); i += piece) {
    std::vector<phx::engine::TokenEvent> ev(1);
    ev[0].text = std::string(text.substr(i, piece));
    sse += stream.Tokens(ev);
    Check(unary.Tokens(ev).empty(), "unary answer made events");
  }
  const phx::engine::FinishReason r =
      text.size() % 3 == 0 ? phx::engine::FinishReason::kLength : phx::engine::FinishReason::kEos;
  sse += stream.End(r, {.prompt_tokens = 1, .completion_tokens = 2}, "");
  // Through the wire as the streamed one went (invalid UTF-8 becomes U+FFFD).
  const json body = json::parse(
      phx::server::Dump(unary.Body(r, {.prompt_tokens = 1, .completion_tokens = 2}, "")));
  // Parse the events back.
  size_t pos = 0;
  int64_t seq = 0;
  json last;
  while ((pos = sse.find("event: ", pos)) != std::string::npos) {
    const size_t nl = sse.find('\n', pos);
    const size_t end = sse.find("\n\n", nl);
    Check(nl != std::string::npos && end != std::string::npos, "bad SSE framing");
    last = json::parse(sse.substr(nl + 7, end - nl - 7), nullptr, false);
    Check(last.is_object() && last["sequence_number"] == seq++, "bad event numbering", last.dump());
    Check(last["type"] == sse.substr(pos + 7, nl - pos - 7), "event name and type differ");
    pos = end;
  }
  Check(last["type"] == (r == phx::engine::FinishReason::kLength ? "response.incomplete"
                                                                 : "response.completed"),
        "last event", last.dump());
  Check(WithoutIds(last["response"]["output"]) == WithoutIds(body["output"]),
        "streamed and unary outputs differ", last.dump() + " vs " + body.dump());
  Check(!body["output"].empty(), "empty output");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  FuzzRequest(body, ParseOptions{});
  ParseOptions small;
  small.max_body_bytes = 512;
  small.max_depth = 5;
  small.max_values = 32;
  small.lenient = true;
  FuzzRequest(body, small);
  // Any size: the tool-call parser's work is linear in the answer (run_all.sh raises max_len).
  if (size > 0) FuzzEncoder(body.substr(1), data[0] % 9 + 1, data[0] & 0x10, data[0] & 0x20);
  return 0;
}
