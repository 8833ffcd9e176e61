#include "server/http/responses_json.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

#include "base/strings.h"
#include "server/http/json_fields.h"
#include "server/http/openai_fields.h"

namespace phx::server {
namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;
using namespace json_fields;  // NOLINT: the parsers' shared helpers

// Translated into the chat request (or read here).
constexpr std::string_view kImplemented[] = {
    "model", "input", "instructions", "tools", "tool_choice", "parallel_tool_calls", "text",
    "max_output_tokens", "temperature", "top_p", "reasoning", "stream", "stream_options", "user",
    "truncation", "include", "background",
    // vLLM's sampling extensions, as on the chat endpoint.
    "top_k", "min_p", "seed", "repetition_penalty", "ignore_eos"};
// Harmless: they do not change what is generated (docs/api.md). `store` defaults to true in
// the API and the SDKs: accepted, but nothing is kept.
constexpr std::string_view kIgnored[] = {"metadata", "store", "service_tier", "prompt_cache_key",
                                         "safety_identifier"};

std::string_view Unsupported(std::string_view key) {
  if (key == "previous_response_id" || key == "conversation") {
    return "responses are not stored on this server: send the whole conversation in input";
  }
  if (key == "prompt") return "stored prompt templates are not supported";
  if (key == "top_logprobs") return "log-probabilities are not supported on /v1/responses";
  if (key == "max_tool_calls") return "a limit on built-in tool calls is not supported";
  return "";
}

Error CheckFields(const ojson& body, bool lenient, std::vector<std::string>* ignored) {
  for (const auto& [k, v] : body.items()) {
    if (v.is_null() || In(k, kImplemented)) continue;
    if (In(k, kIgnored) || lenient) {
      ignored->push_back(IgnoredFieldLabel(k));
      continue;
    }
    const std::string_view why = Unsupported(k);
    return Invalid(k, why.empty() ? StrCat("Unrecognized request argument supplied: ", k,
                                           " (/v1/responses does not implement it; see "
                                           "docs/api.md, or start the server with --lenient-api "
                                           "to ignore unknown fields)")
                                  : StrCat(k, ": ", why));
  }
  return std::nullopt;
}

// The text of a message's content: a string, or parts input_text / output_text (joined).
Error ContentText(const ojson& c, const std::string& at, std::string* out) {
  if (c.is_string()) {
    *out = c.get<std::string>();
    return std::nullopt;
  }
  if (!c.is_array()) return Invalid(at, at + " must be a string or an array of content parts");
  for (size_t j = 0; j < c.size(); ++j) {
    const std::string pa = StrCat(at, "[", j, "]");
    const ojson& p = c[j];
    if (!p.is_object()) return Invalid(pa, pa + " must be an object");
    const ojson* type = Member(p, "type");
    const std::string t = type != nullptr && type->is_string() ? type->get<std::string>() : "";
    if (t == "input_image" || t == "input_file" || t == "input_audio") {
      return Invalid(pa + ".type", StrCat(pa, ".type: ", t,
                                          " is not supported: this server takes text only "
                                          "(input_text, output_text)"));
    }
    if (t != "input_text" && t != "output_text") {
      return Invalid(pa + ".type", StrCat(pa, ".type must be input_text or output_text"));
    }
    PHX_TRY_FIELD(OnlyKeys(p, pa, {"type", "text", "annotations", "logprobs"}));
    const ojson* text = Member(p, "text");
    if (text == nullptr || !text->is_string()) {
      return Invalid(pa + ".text", pa + ".text must be a string");
    }
    *out += text->get<std::string>();
  }
  return std::nullopt;
}

// The text of a reasoning item: its reasoning_text content, else its summary.
Error ReasoningText(const ojson& item, const std::string& at, std::string* out) {
  PHX_TRY_FIELD(
      OnlyKeys(item, at, {"type", "id", "summary", "content", "encrypted_content", "status"}));
  for (const char* key : {"content", "summary"}) {
    const ojson* parts = Member(item, key);
    if (parts == nullptr) continue;
    const std::string pa = StrCat(at, ".", key);
    if (!parts->is_array()) return Invalid(pa, pa + " must be an array");
    for (size_t j = 0; j < parts->size(); ++j) {
      const ojson* text = (*parts)[j].is_object() ? Member((*parts)[j], "text") : nullptr;
      if (text == nullptr || !text->is_string()) {
        return Invalid(StrCat(pa, "[", j, "].text"), StrCat(pa, "[", j, "].text must be a string"));
      }
      if (out->empty()) *out += text->get<std::string>();
    }
    if (!out->empty()) break;
  }
  return std::nullopt;
}

Error StringMember(const ojson& o, const std::string& at, const char* key, std::string* out) {
  const ojson* v = Member(o, key);
  if (v == nullptr || !v->is_string()) {
    return Invalid(StrCat(at, ".", key), StrCat(at, ".", key, " must be a string"));
  }
  *out = v->get<std::string>();
  return std::nullopt;
}

// input (and instructions) as chat messages.
Error Messages(const ojson& body, ojson* messages) {
  *messages = ojson::array();
  if (const ojson* in = Member(body, "instructions")) {
    if (!in->is_string()) return Invalid("instructions", "instructions must be a string");
    messages->push_back({{"role", "system"}, {"content", *in}});
  }
  const ojson* input = Member(body, "input");
  if (input == nullptr) return Invalid("input", "input is required");
  if (input->is_string()) {
    messages->push_back({{"role", "user"}, {"content", *input}});
    return std::nullopt;
  }
  if (!input->is_array() || input->empty()) {
    return Invalid("input", "input must be a string or a non-empty array of items");
  }
  std::string reasoning;    // a reasoning item, for the assistant message after it
  bool calls_open = false;  // the last message is an assistant one taking tool calls
  std::unordered_map<std::string, std::string> call_names;  // call_id -> function name
  for (size_t i = 0; i < input->size(); ++i) {
    const ojson& item = (*input)[i];
    const std::string at = StrCat("input[", i, "]");
    if (!item.is_object()) return Invalid(at, at + " must be an object");
    const ojson* type = Member(item, "type");
    if (type != nullptr && !type->is_string()) {
      return Invalid(at + ".type", at + ".type must be a string");
    }
    const std::string t = type != nullptr ? type->get<std::string>() : "message";
    if (t == "message") {
      PHX_TRY_FIELD(OnlyKeys(item, at, {"type", "role", "content", "id", "status"}));
      std::string role;
      PHX_TRY_FIELD(StringMember(item, at, "role", &role));
      if (role != "user" && role != "system" && role != "developer" && role != "assistant") {
        return Invalid(at + ".role", at + ".role must be user, system, developer or assistant");
      }
      const ojson* content = Member(item, "content");
      if (content == nullptr) return Invalid(at + ".content", at + ".content is required");
      std::string text;
      PHX_TRY_FIELD(ContentText(*content, at + ".content", &text));
      ojson m = {{"role", role == "developer" ? "system" : role}, {"content", text}};
      if (role == "assistant" && !reasoning.empty()) {
        m["reasoning_content"] = std::move(reasoning);
        reasoning.clear();
      }
      messages->push_back(std::move(m));
      calls_open = role == "assistant";
    } else if (t == "function_call") {
      PHX_TRY_FIELD(OnlyKeys(item, at, {"type", "id", "call_id", "name", "arguments", "status"}));
      std::string call_id, name, args;
      PHX_TRY_FIELD(StringMember(item, at, "call_id", &call_id));
      PHX_TRY_FIELD(StringMember(item, at, "name", &name));
      PHX_TRY_FIELD(StringMember(item, at, "arguments", &args));
      if (!calls_open) {
        ojson m = {{"role", "assistant"}, {"content", ""}};
        if (!reasoning.empty()) m["reasoning_content"] = std::move(reasoning);
        reasoning.clear();
        messages->push_back(std::move(m));
        calls_open = true;
      }
      ojson& m = messages->back();
      if (!m.contains("tool_calls")) m["tool_calls"] = ojson::array();
      m["tool_calls"].push_back({{"id", call_id},
                                 {"type", "function"},
                                 {"function", {{"name", name}, {"arguments", args}}}});
      call_names[call_id] = name;
    } else if (t == "function_call_output") {
      PHX_TRY_FIELD(OnlyKeys(item, at, {"type", "id", "call_id", "output", "status"}));
      std::string call_id, output;
      PHX_TRY_FIELD(StringMember(item, at, "call_id", &call_id));
      const ojson* out = Member(item, "output");
      if (out == nullptr) return Invalid(at + ".output", at + ".output is required");
      PHX_TRY_FIELD(ContentText(*out, at + ".output", &output));
      ojson m = {{"role", "tool"}, {"tool_call_id", call_id}, {"content", output}};
      if (auto it = call_names.find(call_id); it != call_names.end()) m["name"] = it->second;
      messages->push_back(std::move(m));
      calls_open = false;
    } else if (t == "reasoning") {
      reasoning.clear();
      PHX_TRY_FIELD(ReasoningText(item, at, &reasoning));
    } else if (t == "item_reference") {
      return Invalid(at + ".type", StrCat(at,
                                          ".type: item_reference is not supported: responses "
                                          "are not stored on this server"));
    } else {
      return Invalid(at + ".type", StrCat(at, ".type '", t.substr(0, 64),
                                          "' is not supported: use message, function_call, "
                                          "function_call_output or reasoning"));
    }
  }
  return std::nullopt;
}

// Function tools in the chat shape; every other tool type is a 400 naming it.
Error Tools(const ojson& body, ojson* chat) {
  const ojson* tools = Member(body, "tools");
  if (tools == nullptr) return std::nullopt;
  if (!tools->is_array()) return Invalid("tools", "tools must be an array");
  ojson out = ojson::array();
  for (size_t i = 0; i < tools->size(); ++i) {
    const ojson& t = (*tools)[i];
    const std::string at = StrCat("tools[", i, "]");
    if (!t.is_object()) return Invalid(at, at + " must be an object");
    const ojson* type = Member(t, "type");
    const std::string ty = type != nullptr && type->is_string() ? type->get<std::string>() : "";
    if (ty != "function") {
      return Invalid(at + ".type", StrCat(at, ".type '", ty.substr(0, 64),
                                          "' is not supported: only function tools are (no "
                                          "built-in tools such as web_search or file_search)"));
    }
    PHX_TRY_FIELD(OnlyKeys(t, at, {"type", "name", "description", "parameters", "strict"}));
    ojson f = ojson::object();
    for (const char* key : {"name", "description", "parameters", "strict"}) {
      if (const ojson* v = Member(t, key)) f[key] = *v;
    }
    out.push_back({{"type", "function"}, {"function", std::move(f)}});
  }
  (*chat)["tools"] = std::move(out);
  if (const ojson* c = Member(body, "tool_choice")) {
    if (c->is_object()) {
      const ojson* type = Member(*c, "type");
      if (type == nullptr || *type != "function") {
        return Invalid(
            "tool_choice.type",
            "tool_choice.type: tool_choice as an object must be {\"type\": \"function\", "
            "\"name\": ...}: "
            "built-in and allowed_tools choices are not supported");
      }
      PHX_TRY_FIELD(OnlyKeys(*c, "tool_choice", {"type", "name"}));
      const ojson* name = Member(*c, "name");
      if (name == nullptr || !name->is_string()) {
        return Invalid("tool_choice.name", "tool_choice.name must be a string");
      }
      (*chat)["tool_choice"] = {{"type", "function"}, {"function", {{"name", *name}}}};
    } else {
      (*chat)["tool_choice"] = *c;
    }
  }
  if (const ojson* p = Member(body, "parallel_tool_calls")) (*chat)["parallel_tool_calls"] = *p;
  return std::nullopt;
}

// text: {format: text | json_object | json_schema {name, schema, description, strict},
// verbosity (a hint, ignored)} as response_format.
Error Text(const ojson& body, ojson* chat) {
  const ojson* text = Member(body, "text");
  if (text == nullptr) return std::nullopt;
  if (!text->is_object()) return Invalid("text", "text must be an object");
  PHX_TRY_FIELD(OnlyKeys(*text, "text", {"format", "verbosity"}));
  const ojson* f = Member(*text, "format");
  if (f == nullptr) return std::nullopt;
  if (!f->is_object()) return Invalid("text.format", "text.format must be an object");
  const ojson* type = Member(*f, "type");
  const std::string t = type != nullptr && type->is_string() ? type->get<std::string>() : "";
  if (t == "text") return OnlyKeys(*f, "text.format", {"type"});
  if (t == "json_object") {
    PHX_TRY_FIELD(OnlyKeys(*f, "text.format", {"type"}));
    (*chat)["response_format"] = {{"type", "json_object"}};
    return std::nullopt;
  }
  if (t != "json_schema") {
    return Invalid("text.format.type", "text.format.type must be text, json_object or json_schema");
  }
  PHX_TRY_FIELD(OnlyKeys(*f, "text.format", {"type", "name", "schema", "description", "strict"}));
  ojson js = ojson::object();
  for (const char* key : {"name", "description", "schema", "strict"}) {
    if (const ojson* v = Member(*f, key)) js[key] = *v;
  }
  (*chat)["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(js)}};
  return std::nullopt;
}

// reasoning {effort, summary}: effort "none" turns the template's thinking off
// (chat_template_kwargs.enable_thinking false); the other efforts leave it on.
Error Reasoning(const ojson& body, ojson* chat) {
  const ojson* r = Member(body, "reasoning");
  if (r == nullptr) return std::nullopt;
  if (!r->is_object()) return Invalid("reasoning", "reasoning must be an object");
  PHX_TRY_FIELD(OnlyKeys(*r, "reasoning", {"effort", "summary", "generate_summary"}));
  if (const ojson* e = Member(*r, "effort")) {
    static constexpr std::string_view kEfforts[] = {"none",   "minimal", "low",
                                                    "medium", "high",    "xhigh"};
    if (!e->is_string() || !In(e->get<std::string>(), kEfforts)) {
      return Invalid("reasoning.effort",
                     "reasoning.effort must be none, minimal, low, medium, high or xhigh");
    }
    if (*e == "none") (*chat)["chat_template_kwargs"] = {{"enable_thinking", false}};
  }
  for (const char* key : {"summary", "generate_summary"}) {
    const ojson* s = Member(*r, key);
    if (s != nullptr &&
        !(s->is_string() && (*s == "auto" || *s == "concise" || *s == "detailed"))) {
      return Invalid(StrCat("reasoning.", key),
                     StrCat("reasoning.", key, " must be auto, concise or detailed"));
    }
  }
  return std::nullopt;
}

Error Misc(const ojson& body) {
  if (const ojson* m = Member(body, "max_output_tokens")) {
    const bool ok = (m->is_number_unsigned() && m->get<uint64_t>() >= 1 &&
                     m->get<uint64_t>() <= std::numeric_limits<int32_t>::max()) ||
                    (m->is_number_integer() && m->get<int64_t>() >= 1 &&
                     m->get<int64_t>() <= std::numeric_limits<int32_t>::max());
    if (!ok) return Invalid("max_output_tokens", "max_output_tokens must be an integer >= 1");
  }
  if (const ojson* t = Member(body, "truncation"); t != nullptr && *t != "disabled") {
    return Invalid("truncation",
                   "truncation: only \"disabled\" is supported (a conversation over the context "
                   "is a 400)");
  }
  if (const ojson* b = Member(body, "background"); b != nullptr && *b != false) {
    return Invalid("background", "background: background responses are not supported");
  }
  if (const ojson* inc = Member(body, "include")) {
    if (!inc->is_array()) return Invalid("include", "include must be an array of strings");
    for (size_t i = 0; i < inc->size(); ++i) {
      // Nothing is encrypted here: there is nothing to add for it.
      if ((*inc)[i] == "reasoning.encrypted_content") continue;
      return Invalid(StrCat("include[", i, "]"),
                     StrCat("include[", i, "]: only reasoning.encrypted_content is accepted"));
    }
  }
  if (const ojson* so = Member(body, "stream_options")) {
    if (!so->is_object()) return Invalid("stream_options", "stream_options must be an object");
    PHX_TRY_FIELD(OnlyKeys(*so, "stream_options", {"include_obfuscation"}));
  }
  return std::nullopt;
}

json Echo(const ojson& body) {
  auto given = [&](const char* key, json dflt) -> json {
    const ojson* v = Member(body, key);
    return v != nullptr ? json(*v) : std::move(dflt);
  };
  json text = given("text", json::object());
  if (!text.contains("format")) text["format"] = {{"type", "text"}};
  json reasoning = given("reasoning", json::object());
  for (const char* key : {"effort", "summary"}) {
    if (!reasoning.contains(key)) reasoning[key] = nullptr;
  }
  return {{"instructions", given("instructions", nullptr)},
          {"max_output_tokens", given("max_output_tokens", nullptr)},
          {"metadata", given("metadata", json::object())},
          {"parallel_tool_calls", given("parallel_tool_calls", true)},
          {"previous_response_id", nullptr},
          {"reasoning", std::move(reasoning)},
          {"store", false},  // nothing is kept, whatever the request asked
          {"temperature", given("temperature", 1.0)},
          {"text", std::move(text)},
          {"tool_choice", given("tool_choice", "auto")},
          {"tools", given("tools", json::array())},
          {"top_p", given("top_p", 1.0)},
          {"truncation", "disabled"},
          {"user", given("user", nullptr)},
          {"background", false}};
}

}  // namespace

std::string ResponsesParam(std::string_view p) {
  auto starts = [&](std::string_view prefix) { return p.substr(0, prefix.size()) == prefix; };
  if (p == "max_completion_tokens" || p == "max_tokens") return "max_output_tokens";
  if (starts("messages") || p == "prompt") return "input";
  if (starts("response_format.json_schema")) {
    return StrCat("text.format", p.substr(std::string_view("response_format.json_schema").size()));
  }
  if (starts("response_format")) return StrCat("text.format", p.substr(15));
  if (starts("chat_template_kwargs")) return "reasoning.effort";
  if (starts("tools[")) {
    const size_t f = p.find(".function");
    if (f != std::string_view::npos) return StrCat(p.substr(0, f), p.substr(f + 9));
  }
  if (p == "tool_choice.function.name") return "tool_choice.name";
  return std::string(p);
}

void RenameParam(ApiError* e) {
  const std::string renamed = ResponsesParam(e->param);
  if (renamed == e->param) return;
  std::string message(ToStd(e->status.message()));
  if (const size_t at = message.find(e->param); !e->param.empty() && at != std::string::npos) {
    message.replace(at, e->param.size(), renamed);
  }
  if (message.find(renamed) == std::string::npos) message = renamed + ": " + message;
  e->status = absl::Status(e->status.code(), message);
  e->param = renamed;
}

std::optional<ApiError> ParseResponsesRequest(std::string_view body, const ParseOptions& opts,
                                              ResponsesRequest* out) {
  ojson doc;
  if (auto e = ParseJsonBody(body, opts, &doc)) return e;
  if (!doc.is_object()) return Invalid("", "the request body must be a JSON object");
  std::vector<std::string> ignored;
  PHX_TRY_FIELD(CheckFields(doc, opts.lenient, &ignored));
  PHX_TRY_FIELD(Misc(doc));
  ojson chat = ojson::object();
  ojson messages;
  PHX_TRY_FIELD(Messages(doc, &messages));
  chat["messages"] = std::move(messages);
  // Checked by the chat parser (errors renamed below).
  static constexpr const char* kCopied[] = {
      "model", "temperature",        "top_p",     "top_k", "min_p", "seed", "stream",
      "user",  "repetition_penalty", "ignore_eos"};
  for (const char* key : kCopied) {
    if (const ojson* v = Member(doc, key)) chat[key] = *v;
  }
  if (const ojson* v = Member(doc, "max_output_tokens")) chat["max_completion_tokens"] = *v;
  PHX_TRY_FIELD(Tools(doc, &chat));
  PHX_TRY_FIELD(Text(doc, &chat));
  PHX_TRY_FIELD(Reasoning(doc, &chat));
  out->echo = Echo(doc);
  ParseOptions o = opts;
  o.lenient = false;
  o.max_body_bytes = std::numeric_limits<size_t>::max();  // the body was within the limit
  o.max_values = opts.max_values * 2 + 64;                // the translation adds a few values
  const std::string translated = chat.dump(-1, ' ', false, ojson::error_handler_t::replace);
  if (auto e = ParseRequest(translated, Endpoint::kChat, o, &out->chat)) {
    RenameParam(&*e);
    return e;
  }
  out->chat.ignored_fields = std::move(ignored);
  return std::nullopt;
}

#undef PHX_TRY_FIELD

}  // namespace phx::server
