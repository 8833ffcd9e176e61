#include "server/http/anthropic_json.h"

#include <algorithm>
#include <initializer_list>
#include <iterator>
#include <span>

#include "base/strings.h"
#include "server/http/json_fields.h"
#include "server/http/openai_fields.h"

namespace phx::server {
namespace {

using ojson = nlohmann::ordered_json;
using namespace json_fields;  // NOLINT: the parsers' shared helpers

ApiError Extra(const std::string& path) {
  return Invalid(path, path + ": Extra inputs are not permitted");
}

// The keys of object `o` (at `at`) outside `allowed`: a 400 naming the first, in Anthropic's
// words.
Error ExtraInputs(const ojson& o, const std::string& at,
                  std::initializer_list<std::string_view> allowed) {
  const std::optional<std::string> k = ExtraKey(o, allowed);
  if (!k) return std::nullopt;
  return Extra(at.empty() ? *k : StrCat(at, ".", *k));
}

// Top-level fields of POST /v1/messages (parsed below), of count_tokens, the harmless ones
// (ignored: docs/api.md lists them) and the refused ones with the reason.
constexpr std::string_view kMessagesFields[] = {
    "model", "max_tokens", "messages", "system", "stop_sequences", "stream",  "temperature",
    "top_p", "top_k",      "metadata", "tools",  "tool_choice",    "thinking"};
constexpr std::string_view kCountFields[] = {"model", "messages",    "system",
                                             "tools", "tool_choice", "thinking"};
constexpr std::string_view kIgnoredFields[] = {
    "service_tier",        // which capacity pool bills the request
    "context_management",  // server-side clearing of old tool results: the context stays whole
    "cache_control",       // automatic prompt caching: the prefix cache does it anyway
};

std::string_view Refused(std::string_view key) {
  if (key == "container") return "containers (code execution on the server) are not supported";
  if (key == "mcp_servers") return "MCP servers are not supported: run MCP tools on the client";
  return "";
}

Error CheckTopLevel(const ojson& body, bool count_tokens, bool lenient,
                    std::vector<std::string>* ignored) {
  for (const auto& [k, v] : body.items()) {
    if (v.is_null()) continue;
    if (In(k, count_tokens ? std::span<const std::string_view>(kCountFields)
                           : std::span<const std::string_view>(kMessagesFields))) {
      continue;
    }
    if (In(k, kIgnoredFields)) {
      ignored->push_back(IgnoredFieldLabel(k));
      continue;
    }
    if (std::string_view why = Refused(k); !why.empty()) {
      return Invalid(k, StrCat(k, ": ", why));
    }
    if (!lenient) return Extra(k);
    ignored->push_back(IgnoredFieldLabel(k));
  }
  return std::nullopt;
}

Error StringOf(const ojson& block, std::string_view key, const std::string& at, std::string* out,
               bool required = true) {
  const ojson* v = Member(block, key);
  if (v == nullptr) {
    if (!required) return std::nullopt;
    return Invalid(StrCat(at, ".", key), StrCat(at, ".", key, ": Field required"));
  }
  if (!v->is_string()) {
    return Invalid(StrCat(at, ".", key), StrCat(at, ".", key, " must be a string"));
  }
  *out = v->get<std::string>();
  return std::nullopt;
}

std::string TypeOf(const ojson& block) {
  const ojson* t = Member(block, "type");
  return t != nullptr && t->is_string() ? t->get<std::string>() : "";
}

// A content block the model cannot read or this server does not implement.
ApiError Unsupported(const std::string& at, const std::string& type) {
  if (type == "image" || type == "document" || type == "search_result") {
    return Invalid(at + ".type", StrCat(at, ".type: ", type,
                                        " blocks are not supported: the served model reads text"));
  }
  return Invalid(at + ".type", StrCat(at, ".type: '", type, "' is not a supported content block"));
}

// A text block: {type: text, text, cache_control?, citations?}.
Error TextBlock(const ojson& b, const std::string& at, std::string* out) {
  if (auto e = ExtraInputs(b, at, {"type", "text", "cache_control", "citations"})) return e;
  return StringOf(b, "text", at, out);
}

// `system` or a tool_result's content: a string or an array of text blocks, joined by "\n".
Error TextContent(const ojson& v, const std::string& at, std::string* out) {
  if (v.is_string()) {
    *out = v.get<std::string>();
    return std::nullopt;
  }
  if (!v.is_array()) return Invalid(at, at + " must be a string or an array of text blocks");
  std::vector<std::string> parts;
  for (size_t j = 0; j < v.size(); ++j) {
    const std::string bat = StrCat(at, "[", j, "]");
    if (!v[j].is_object()) return Invalid(bat, bat + " must be an object");
    if (TypeOf(v[j]) != "text") return Unsupported(bat, TypeOf(v[j]));
    if (auto e = TextBlock(v[j], bat, &parts.emplace_back())) return e;
  }
  *out = StrJoin(parts, "\n");
  return std::nullopt;
}

struct Translation {
  ojson messages = ojson::array();
  std::vector<std::string> paths;
  void Add(ojson m, std::string path) {
    messages.push_back(std::move(m));
    paths.push_back(std::move(path));
  }
};

// A user turn: text blocks become user messages, each tool_result a tool message, in order.
Error UserMessage(const ojson& content, const std::string& at, Translation* t) {
  std::vector<std::string> text;
  auto flush = [&] {
    if (text.empty()) return;
    t->Add(ojson{{"role", "user"}, {"content", StrJoin(text, "\n")}}, at);
    text.clear();
  };
  for (size_t j = 0; j < content.size(); ++j) {
    const ojson& b = content[j];
    const std::string bat = StrCat(at, ".content[", j, "]");
    if (!b.is_object()) return Invalid(bat, bat + " must be an object");
    const std::string type = TypeOf(b);
    if (type == "text") {
      if (auto e = TextBlock(b, bat, &text.emplace_back())) return e;
    } else if (type == "tool_result") {
      if (auto e =
              ExtraInputs(b, bat, {"type", "tool_use_id", "content", "is_error", "cache_control"}))
        return e;
      std::string id, result;
      if (auto e = StringOf(b, "tool_use_id", bat, &id)) return e;
      if (const ojson* c = Member(b, "content")) {
        if (auto e = TextContent(*c, bat + ".content", &result)) return e;
      }
      if (const ojson* err = Member(b, "is_error")) {
        if (!err->is_boolean())
          return Invalid(bat + ".is_error", bat + ".is_error must be a boolean");
        // Templates know no error flag: the model reads it in the result's text.
        if (err->get<bool>()) result = "Error: " + result;
      }
      flush();
      t->Add(ojson{{"role", "tool"}, {"tool_call_id", id}, {"content", result}}, bat);
    } else if (type == "tool_use" || type == "thinking" || type == "redacted_thinking") {
      return Invalid(bat + ".type",
                     StrCat(bat, ".type: ", type, " blocks belong to assistant turns"));
    } else {
      return Unsupported(bat, type);
    }
  }
  flush();
  return std::nullopt;
}

// An assistant turn: thinking blocks become reasoning_content (the template writes them back
// as its think block), text blocks content, tool_use blocks tool_calls.
Error AssistantMessage(const ojson& content, const std::string& at, Translation* t) {
  std::vector<std::string> text, thinking;
  ojson calls = ojson::array();
  for (size_t j = 0; j < content.size(); ++j) {
    const ojson& b = content[j];
    const std::string bat = StrCat(at, ".content[", j, "]");
    if (!b.is_object()) return Invalid(bat, bat + " must be an object");
    const std::string type = TypeOf(b);
    if (type == "text") {
      if (auto e = TextBlock(b, bat, &text.emplace_back())) return e;
    } else if (type == "thinking") {
      if (auto e = ExtraInputs(b, bat, {"type", "thinking", "signature", "cache_control"}))
        return e;
      if (auto e = StringOf(b, "thinking", bat, &thinking.emplace_back())) return e;
    } else if (type == "redacted_thinking") {
      // Another server's encrypted reasoning: nothing a template can show.
      if (auto e = ExtraInputs(b, bat, {"type", "data", "cache_control"})) return e;
    } else if (type == "tool_use") {
      if (auto e = ExtraInputs(b, bat, {"type", "id", "name", "input", "cache_control"})) return e;
      std::string id, name;
      if (auto e = StringOf(b, "id", bat, &id)) return e;
      if (auto e = StringOf(b, "name", bat, &name)) return e;
      const ojson* input = Member(b, "input");
      if (input == nullptr || !input->is_object()) {
        return Invalid(bat + ".input", bat + ".input must be an object");
      }
      calls.push_back({{"id", id},
                       {"type", "function"},
                       {"function", {{"name", name}, {"arguments", input->dump()}}}});
    } else if (type == "tool_result") {
      return Invalid(bat + ".type", bat + ".type: tool_result blocks belong to user turns");
    } else {
      return Unsupported(bat, type);
    }
  }
  ojson m = {{"role", "assistant"}, {"content", StrJoin(text, "\n")}};
  if (!thinking.empty()) m["reasoning_content"] = StrJoin(thinking, "\n");
  if (!calls.empty()) m["tool_calls"] = std::move(calls);
  t->Add(std::move(m), at);
  return std::nullopt;
}

Error Messages(const ojson& body, Translation* t) {
  const ojson* ms = Member(body, "messages");
  if (ms == nullptr) return Invalid("messages", "messages: Field required");
  if (!ms->is_array() || ms->empty()) {
    return Invalid("messages", "messages must be a non-empty array");
  }
  for (size_t i = 0; i < ms->size(); ++i) {
    const ojson& m = (*ms)[i];
    const std::string at = StrCat("messages[", i, "]");
    if (!m.is_object()) return Invalid(at, at + " must be an object");
    if (auto e = ExtraInputs(m, at, {"role", "content"})) return e;
    std::string role;
    if (auto e = StringOf(m, "role", at, &role)) return e;
    if (role != "user" && role != "assistant") {
      return Invalid(at + ".role", at + ".role must be \"user\" or \"assistant\"");
    }
    const ojson* c = Member(m, "content");
    if (c == nullptr) return Invalid(at + ".content", at + ".content: Field required");
    if (c->is_string()) {
      t->Add(ojson{{"role", role}, {"content", *c}}, at);
    } else if (!c->is_array()) {
      return Invalid(at + ".content", at + ".content must be a string or an array of blocks");
    } else if (role == "user") {
      if (c->empty()) return Invalid(at + ".content", at + ".content must not be empty");
      if (auto e = UserMessage(*c, at, t)) return e;
    } else {
      if (auto e = AssistantMessage(*c, at, t)) return e;
    }
    if (role == "assistant" && i + 1 == ms->size()) {
      return Invalid(at, at + ": a final assistant message (prefill) is not supported");
    }
  }
  return std::nullopt;
}

// tools -> OpenAI function tools (their names and schemas are checked by ParseTools).
Error Tools(const ojson& body, ojson* out) {
  const ojson* ts = Member(body, "tools");
  if (ts == nullptr) return std::nullopt;
  if (!ts->is_array()) return Invalid("tools", "tools must be an array");
  ojson tools = ojson::array();
  for (size_t i = 0; i < ts->size(); ++i) {
    const ojson& t = (*ts)[i];
    const std::string at = StrCat("tools[", i, "]");
    if (!t.is_object()) return Invalid(at, at + " must be an object");
    const std::string type = TypeOf(t);
    if (Member(t, "type") != nullptr && type != "custom") {
      return Invalid(at + ".type", StrCat(at, ".type: '", type,
                                          "' tools run on Anthropic's servers and are not "
                                          "supported; give client tools (name, input_schema)"));
    }
    if (auto e =
            ExtraInputs(t, at, {"type", "name", "description", "input_schema", "cache_control"}))
      return e;
    ojson f = ojson::object();
    std::string name, description;
    if (auto e = StringOf(t, "name", at, &name)) return e;
    f["name"] = name;
    if (auto e = StringOf(t, "description", at, &description, /*required=*/false)) return e;
    if (Member(t, "description") != nullptr) f["description"] = description;
    const ojson* schema = Member(t, "input_schema");
    if (schema == nullptr) {
      return Invalid(at + ".input_schema", at + ".input_schema: Field required");
    }
    f["parameters"] = *schema;
    tools.push_back({{"type", "function"}, {"function", std::move(f)}});
  }
  (*out)["tools"] = std::move(tools);
  return std::nullopt;
}

// tool_choice {type: auto|any|tool|none, name, disable_parallel_tool_use}.
Error ToolChoice(const ojson& body, ojson* out) {
  const ojson* c = Member(body, "tool_choice");
  if (c == nullptr) return std::nullopt;
  if (!c->is_object()) return Invalid("tool_choice", "tool_choice must be an object");
  const std::string type = TypeOf(*c);
  if (type == "none") {
    if (auto e = ExtraInputs(*c, "tool_choice", {"type"})) return e;
    (*out)["tool_choice"] = "none";
    return std::nullopt;
  }
  if (type == "auto" || type == "any") {
    if (auto e = ExtraInputs(*c, "tool_choice", {"type", "disable_parallel_tool_use"})) return e;
    (*out)["tool_choice"] = type == "auto" ? "auto" : "required";
  } else if (type == "tool") {
    if (auto e = ExtraInputs(*c, "tool_choice", {"type", "name", "disable_parallel_tool_use"}))
      return e;
    std::string name;
    if (auto e = StringOf(*c, "name", "tool_choice", &name)) return e;
    (*out)["tool_choice"] = {{"type", "function"}, {"function", {{"name", name}}}};
  } else {
    return Invalid("tool_choice.type",
                   "tool_choice.type must be \"auto\", \"any\", \"tool\" or \"none\"");
  }
  if (const ojson* d = Member(*c, "disable_parallel_tool_use")) {
    if (!d->is_boolean()) {
      return Invalid("tool_choice.disable_parallel_tool_use",
                     "tool_choice.disable_parallel_tool_use must be a boolean");
    }
    (*out)["parallel_tool_calls"] = !d->get<bool>();
  }
  return std::nullopt;
}

// thinking {type: enabled, budget_tokens} | {type: disabled}.
Error Thinking(const ojson& body, AnthropicRequest* r) {
  const ojson* t = Member(body, "thinking");
  if (t == nullptr) return std::nullopt;
  if (!t->is_object()) return Invalid("thinking", "thinking must be an object");
  const std::string type = TypeOf(*t);
  if (type == "disabled") {
    if (auto e = ExtraInputs(*t, "thinking", {"type"})) return e;
    r->thinking = false;
    return std::nullopt;
  }
  if (type != "enabled") {
    return Invalid("thinking.type", "thinking.type must be \"enabled\" or \"disabled\"");
  }
  if (auto e = ExtraInputs(*t, "thinking", {"type", "budget_tokens"})) return e;
  const ojson* b = Member(*t, "budget_tokens");
  if (b == nullptr) {
    return Invalid("thinking.budget_tokens", "thinking.budget_tokens: Field required");
  }
  if (!b->is_number_integer() || b->get<int64_t>() < 1024 || b->get<int64_t>() > (1 << 30)) {
    return Invalid("thinking.budget_tokens", "thinking.budget_tokens must be an integer >= 1024");
  }
  r->thinking = true;
  r->thinking_budget = static_cast<int32_t>(b->get<int64_t>());
  if (const ojson* m = Member(body, "max_tokens");
      m != nullptr && m->is_number_integer() && r->thinking_budget >= m->get<int64_t>()) {
    return Invalid("thinking.budget_tokens", "thinking.budget_tokens must be less than max_tokens");
  }
  return std::nullopt;
}

// Builds the OpenAI chat body of a checked Anthropic body.
Error Translate(const ojson& body, bool count_tokens, AnthropicRequest* r, ojson* out) {
  ojson& o = *out;
  const ojson* model = Member(body, "model");
  if (model == nullptr) return Invalid("model", "model: Field required");
  o["model"] = *model;
  Translation t;
  if (const ojson* s = Member(body, "system")) {
    std::string system;
    if (auto e = TextContent(*s, "system", &system)) return e;
    if (!system.empty()) t.Add(ojson{{"role", "system"}, {"content", system}}, "system");
  }
  if (auto e = Messages(body, &t)) return e;
  o["messages"] = std::move(t.messages);
  r->message_paths = std::move(t.paths);
  if (!count_tokens) {
    const ojson* mt = Member(body, "max_tokens");
    if (mt == nullptr) return Invalid("max_tokens", "max_tokens: Field required");
    o["max_tokens"] = *mt;
    if (const ojson* s = Member(body, "stop_sequences")) {
      if (!s->is_array()) {
        return Invalid("stop_sequences", "stop_sequences must be an array of strings");
      }
      for (const ojson& e : *s) {
        if (!e.is_string()) {
          return Invalid("stop_sequences", "stop_sequences must be an array of strings");
        }
        r->stop_sequences.push_back(e.get<std::string>());
      }
      if (!s->empty()) o["stop"] = *s;
    }
    for (const char* k : {"temperature", "top_p", "top_k", "stream"}) {
      if (const ojson* v = Member(body, k)) o[k] = *v;
    }
    if (const ojson* md = Member(body, "metadata")) {
      if (!md->is_object()) return Invalid("metadata", "metadata must be an object");
      if (auto e = ExtraInputs(*md, "metadata", {"user_id"})) return e;
      std::string user;
      if (auto e = StringOf(*md, "user_id", "metadata", &user, /*required=*/false)) return e;
      if (!user.empty()) o["user"] = user;
    }
  }
  if (auto e = Tools(body, &o)) return e;
  if (auto e = ToolChoice(body, &o)) return e;
  if (auto e = Thinking(body, r)) return e;
  if (r->thinking) {
    o["chat_template_kwargs"] = {{"enable_thinking", *r->thinking}};
    // The engine's thinking budget: budget_tokens, or 0 (closed at once) when disabled.
    o["thinking_token_budget"] = *r->thinking ? r->thinking_budget : 0;
  }
  return std::nullopt;
}

// Replaces the prefix `from` of e's param (and its first mention in the message) with `to`.
bool Rename(ApiError* e, std::string_view from, const std::string& to) {
  if (e->param.rfind(from, 0) != 0) return false;
  const std::string old = e->param;
  e->param = to + old.substr(from.size());
  std::string m(e->status.message());
  if (const size_t at = m.find(old); at != std::string::npos) {
    m.replace(at, old.size(), e->param);
  }
  e->status = absl::Status(e->status.code(), m);
  return true;
}

}  // namespace

ApiError AnthropicParamOf(ApiError e, const std::vector<std::string>& message_paths) {
  const std::string p = e.param;
  if (p.rfind("tools[", 0) == 0) {
    const size_t close = p.find(']');
    const std::string tool = p.substr(0, close + 1);
    for (const auto& [from, to] :
         {std::pair<std::string, std::string>{".function.parameters", ".input_schema"},
          {".function.name", ".name"},
          {".function.description", ".description"},
          {".function", ""},
          {".type", ".type"}}) {
      if (Rename(&e, tool + from, tool + to)) break;
    }
    return e;
  }
  if (Rename(&e, "tool_choice.function.name", "tool_choice.name")) return e;
  if (Rename(&e, "parallel_tool_calls", "tool_choice.disable_parallel_tool_use")) return e;
  if (p == "stop" && Rename(&e, "stop", "stop_sequences")) return e;
  if (p == "user" && Rename(&e, "user", "metadata.user_id")) return e;
  if (Rename(&e, "chat_template_kwargs", "thinking")) return e;
  if (p.rfind("messages[", 0) == 0) {
    const size_t close = p.find(']');
    size_t k = 0;
    const std::string index = p.substr(9, close == std::string::npos ? 0 : close - 9);
    if (!index.empty() && index.size() < 9 &&
        std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      k = std::stoul(index);
      if (k < message_paths.size()) Rename(&e, p.substr(0, close + 1), message_paths[k]);
    }
  }
  return e;
}

std::optional<ApiError> ParseAnthropicRequest(std::string_view body, const ParseOptions& opts,
                                              bool count_tokens, AnthropicRequest* out) {
  ojson doc;
  if (auto e = ParseJsonBody(body, opts, &doc)) return e;
  if (!doc.is_object()) return Invalid("", "the request body must be a JSON object");
  std::vector<std::string> ignored;
  if (auto e = CheckTopLevel(doc, count_tokens, opts.lenient, &ignored)) return e;
  ojson chat = ojson::object();
  if (auto e = Translate(doc, count_tokens, out, &chat)) return e;
  // The translation nests tools and tool calls one or two levels deeper and writes tool inputs
  // as JSON strings: room for that past the limits the body itself was held to.
  ParseOptions o = opts;
  o.lenient = false;
  o.max_depth += 4;
  o.max_values *= 2;
  o.max_body_bytes *= 2;
  const std::string text = chat.dump(-1, ' ', false, ojson::error_handler_t::replace);
  if (auto e = ParseRequest(text, Endpoint::kChat, o, &out->chat)) {
    return AnthropicParamOf(std::move(*e), out->message_paths);
  }
  out->chat.ignored_fields = std::move(ignored);
  return std::nullopt;
}

}  // namespace phx::server
