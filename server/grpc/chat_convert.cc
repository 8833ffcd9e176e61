#include "server/grpc/chat_convert.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace phx::server::grpcapi {
namespace {

using nlohmann::ordered_json;

absl::Status Invalid(const std::string& field, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", std::string(what)));
}

constexpr int kMaxJsonDepth = 64;  // as the HTTP body's limit (ParseOptions::max_depth)

// Whether `text` nests arrays and objects at most kMaxJsonDepth deep (strings skipped), so a
// hostile field costs no deep recursion later.
bool DepthOk(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char ch = text[i];
    if (in_string) {
      if (ch == '\\') {
        ++i;
      } else if (ch == '"') {
        in_string = false;
      }
    } else if (ch == '"') {
      in_string = true;
    } else if (ch == '[' || ch == '{') {
      if (++depth > kMaxJsonDepth) return false;
    } else if (ch == ']' || ch == '}') {
      --depth;
    }
  }
  return true;
}

// Parses a *_json field that must hold an array (or an object); absent when empty.
absl::Status ParseJsonField(const std::string& text, const std::string& field, bool want_array,
                            const char* key, ordered_json* out) {
  if (text.empty()) return absl::OkStatus();
  if (!DepthOk(text)) {
    return Invalid(field, absl::StrCat("nests deeper than ", kMaxJsonDepth, " levels"));
  }
  ordered_json v = ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded()) return Invalid(field, "not valid JSON");
  if (want_array ? !v.is_array() : !v.is_object()) {
    return Invalid(field, want_array ? "must be a JSON array" : "must be a JSON object");
  }
  (*out)[key] = std::move(v);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ordered_json> ChatBody(const phalanx::v1::Chat& c) {
  if (c.messages().empty()) return Invalid("chat.messages", "at least one message is required");
  ordered_json body = ordered_json::object();
  ordered_json& msgs = body["messages"] = ordered_json::array();
  for (int i = 0; i < c.messages_size(); ++i) {
    const phalanx::v1::ChatMessage& m = c.messages(i);
    const std::string f = absl::StrCat("chat.messages[", i, "]");
    if (m.role().empty()) return Invalid(f + ".role", "required");
    ordered_json j = ordered_json::object();
    j["role"] = m.role();
    if (m.has_content() && m.content_parts_size() > 0) {
      return Invalid(f + ".content_parts", "set content or content_parts, not both");
    }
    if (m.content_parts_size() > 0) {
      ordered_json parts = ordered_json::array();
      for (const std::string& p : m.content_parts()) {
        parts.push_back({{"type", "text"}, {"text", p}});
      }
      j["content"] = std::move(parts);
    } else if (m.has_content()) {
      j["content"] = m.content();
    } else {
      j["content"] = nullptr;
    }
    if (!m.name().empty()) j["name"] = m.name();
    if (!m.tool_call_id().empty()) j["tool_call_id"] = m.tool_call_id();
    if (absl::Status s =
            ParseJsonField(m.tool_calls_json(), f + ".tool_calls_json", true, "tool_calls", &j);
        !s.ok()) {
      return s;
    }
    msgs.push_back(std::move(j));
  }
  if (absl::Status s = ParseJsonField(c.tools_json(), "chat.tools_json", true, "tools", &body);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ParseJsonField(c.documents_json(), "chat.documents_json", true, "documents", &body);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ParseJsonField(c.chat_template_kwargs_json(), "chat.chat_template_kwargs_json", false,
                         "chat_template_kwargs", &body);
      !s.ok()) {
    return s;
  }
  body["add_generation_prompt"] = c.has_add_generation_prompt() ? c.add_generation_prompt() : true;
  return body;
}

absl::Status RenderChat(const chat::ChatRenderer* chat, const phalanx::v1::Chat& c, ApiRequest* a) {
  if (chat == nullptr) return absl::FailedPreconditionError("no chat template");
  if (!chat->available()) return absl::FailedPreconditionError(chat->problem());
  absl::StatusOr<ordered_json> body = ChatBody(c);
  if (!body.ok()) return body.status();
  absl::StatusOr<chat::ChatPrompt> p = chat->Render(*body);
  if (!p.ok()) {
    if (p.status().code() != absl::StatusCode::kInvalidArgument) return p.status();
    // A field of the body ("messages[1].content: ...") is named as the proto names it; a
    // template's own error (raise_exception) keeps its words.
    const std::string field = chat::ChatErrorField(p.status());
    const std::string msg(p.status().message());
    if (msg.starts_with(field + ":")) {
      return absl::InvalidArgumentError("chat." + msg);
    }
    return p.status();
  }
  a->has_text = true;
  a->token_ids.clear();
  a->text = std::move(p->text);
  a->parse_special = true;  // in the template's text only: the request's text is in plain_spans
  a->plain_spans = std::move(p->plain_spans);
  a->add_special = p->add_special;
  // The server's --reasoning-budget applies (gRPC has no per-request budget field).
  a->thinks = chat->thinks();
  a->in_reasoning = p->in_reasoning;
  return absl::OkStatus();
}

}  // namespace phx::server::grpcapi
