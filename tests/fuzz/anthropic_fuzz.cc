// Fuzzes the Anthropic Messages request parser (server/http/anthropic_json.cc) with raw bytes,
// for /v1/messages and count_tokens, with the default limits and small lenient ones; and the
// answer writer (anthropic_response.cc) with the same bytes as generated text, streamed and
// whole, through a thinking splitter and the Hermes tool-call parser. Checks: no crash; every
// error is INVALID_ARGUMENT with a message that names its field (or is about the whole body);
// an accepted request is a chat request with messages, each with an Anthropic path, max_tokens
// >= 1, one choice, ignored fields only from the bounded label set (none unknown when strict);
// the stream is well-formed events (JSON data whose type is the event name, blocks opened and
// closed in index order, ending with message_stop) and says what the whole answer says (the
// same blocks when the text is valid UTF-8).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "runtime/chat/unicode_props.h"
#include "server/http/anthropic_json.h"
#include "server/http/anthropic_response.h"
#include "server/http/openai_fields.h"
#include "tests/fuzz/api_fuzz_util.h"

namespace {

using json = nlohmann::json;
using phx::server::AnthropicRequest;
using phx::server::ApiError;
using phx::server::ParseOptions;

void Check(bool ok, const char* what, const std::string& detail = "") {
  if (!ok) {
    std::fprintf(stderr, "anthropic_fuzz: %s %s\n", what, detail.c_str());
    std::abort();
  }
}

void FuzzRequest(std::string_view body, bool count, const ParseOptions& o) {
  AnthropicRequest r;
  const std::optional<ApiError> e = phx::server::ParseAnthropicRequest(body, o, count, &r);
  if (e) {
    phx::server::fuzz::CheckRequestError("anthropic_fuzz", *e);
    return;
  }
  const auto& m = r.chat.chat["messages"];
  Check(m.is_array() && !m.empty(), "accepted without messages");
  Check(r.message_paths.size() == m.size(), "a message without its Anthropic path");
  for (const auto& msg : m) {
    const std::string role = msg.value("role", "");
    Check(role == "system" || role == "user" || role == "assistant" || role == "tool",
          "translated role", role);
  }
  Check(r.chat.n == 1, "more than one choice");
  Check(r.chat.api.sampling.max_tokens >= 1, "max_tokens below 1 accepted");
  Check(!count || !r.chat.stream, "count_tokens streams");
  Check(r.chat.api.sampling.stop == r.stop_sequences, "stop_sequences lost");
  Check(!r.thinking.has_value() || !*r.thinking || r.thinking_budget >= 1024,
        "thinking budget below 1024 accepted");
  const auto& labels = phx::server::IgnoredFieldLabels();
  for (const std::string& f : r.chat.ignored_fields) {
    Check(std::find(labels.begin(), labels.end(), f) != labels.end(), "unbounded label", f);
    Check(o.lenient || f != "other", "strict parsing ignored an unknown field");
  }
}

// The generated text `text` in pieces of `piece` bytes: the stream's events are well formed and
// assemble to the whole answer's content and stop reason.
void FuzzAnswer(std::string_view text, size_t piece, bool tools) {
  phx::server::ResponseContext ctx;
  ctx.chat = true;
  ctx.id = "msg_x";
  ctx.model = "m";
  ctx.reasoning.emplace(phx::chat::ReasoningFormat::kDeepseek, (piece & 1) != 0);
  if (tools) ctx.tools = phx::chat::ToolFormat::kHermes;
  phx::server::AnthropicOptions opts;
  opts.stop_sequences = {"x"};
  const auto finish = text.size() % 3 == 0   ? phx::engine::FinishReason::kLength
                      : text.size() % 3 == 1 ? phx::engine::FinishReason::kEos
                                             : phx::engine::FinishReason::kStop;
  std::string whole_out, stream_out;
  for (bool stream : {false, true}) {
    phx::server::AnthropicAnswer a(ctx, opts, 7, stream);
    std::string out = stream ? a.Begin() : "";
    // Pieces end at a character boundary, as the engine's detokenizer cuts them.
    for (size_t i = 0, j = 0; i < text.size(); i = j) {
      j = std::min(text.size(), i + piece);
      while (j < text.size() && (static_cast<unsigned char>(text[j]) & 0xC0) == 0x80) ++j;
      phx::engine::TokenEvent e;
      e.token = static_cast<int32_t>(i);
      e.text = std::string(text.substr(i, j - i));
      out += a.Tokens({e});
    }
    out += a.End(finish, phx::engine::Usage{7, 3, 2}, "");
    (stream ? stream_out : whole_out) = std::move(out);
  }
  const json whole = json::parse(whole_out, nullptr, false);
  Check(whole.is_object() && whole["content"].is_array(), "whole answer not an object", whole_out);
  // Assemble the stream.
  json content = json::array();
  json stop_reason;
  std::string last;
  int open = -1;
  size_t pos = 0;
  while (pos < stream_out.size()) {
    const size_t end = stream_out.find("\n\n", pos);
    Check(end != std::string::npos, "unterminated event");
    const std::string ev = stream_out.substr(pos, end - pos);
    pos = end + 2;
    const size_t nl = ev.find('\n');
    Check(ev.rfind("event: ", 0) == 0 && nl != std::string::npos &&
              ev.compare(nl + 1, 6, "data: ") == 0,
          "malformed event", ev);
    const json d = json::parse(ev.substr(nl + 7), nullptr, false);
    Check(d.is_object() && d.value("type", "") == ev.substr(7, nl - 7), "event type", ev);
    last = d["type"];
    if (last == "content_block_start") {
      Check(open < 0 && d["index"] == content.size(), "block start out of order", ev);
      open = d["index"];
      content.push_back(d["content_block"]);
      if (content.back()["type"] == "tool_use") content.back()["input"] = "";
    } else if (last == "content_block_delta") {
      Check(d["index"] == open, "delta outside its block", ev);
      json& b = content.back();
      const json& x = d["delta"];
      if (x["type"] == "text_delta")
        b["text"] = b["text"].get<std::string>() + x["text"].get<std::string>();
      if (x["type"] == "thinking_delta")
        b["thinking"] = b["thinking"].get<std::string>() + x["thinking"].get<std::string>();
      if (x["type"] == "input_json_delta")
        b["input"] = b["input"].get<std::string>() + x["partial_json"].get<std::string>();
    } else if (last == "content_block_stop") {
      Check(d["index"] == open, "stop of a block not open", ev);
      open = -1;
      json& b = content.back();
      if (b["type"] == "tool_use") {
        const json in = json::parse(b["input"].get<std::string>(), nullptr, false);
        b["input"] = in.is_object() ? in : json::object();
      }
    } else if (last == "message_delta") {
      stop_reason = d["delta"]["stop_reason"];
    }
  }
  Check(last == "message_stop" && open < 0, "stream does not end with message_stop");
  Check(stop_reason == whole["stop_reason"], "stop reasons differ");
  // Invalid UTF-8 becomes U+FFFD per event, so pieces of it may differ.
  if (!phx::chat::IsValidUtf8(text)) return;
  Check(content.size() == whole["content"].size(), "block counts differ",
        content.dump() + " / " + whole["content"].dump());
  for (size_t i = 0; i < content.size(); ++i) {
    json w = whole["content"][i], s = content[i];
    w.erase("id");
    s.erase("id");
    Check(w == s, "blocks differ", w.dump() + " / " + s.dump());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const ParseOptions defaults;
  ParseOptions small;
  small.max_body_bytes = 512;
  small.max_depth = 5;
  small.max_values = 32;
  small.lenient = true;
  for (bool count : {false, true}) {
    FuzzRequest(body, count, defaults);
    FuzzRequest(body, count, small);
  }
  if (size > 0) FuzzAnswer(body.substr(1), 1 + data[0] % 7, (data[0] & 0x80) != 0);
  return 0;
}
