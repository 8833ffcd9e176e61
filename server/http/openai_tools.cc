#include "server/http/openai_tools.h"

#include <random>

#include "base/strings.h"
#include "runtime/grammar/json_schema.h"
#include "runtime/grammar/json_value.h"
#include "server/http/json_fields.h"
#include "server/http/openai_json.h"

namespace phx::server {
namespace {

using ojson = nlohmann::ordered_json;
using json = nlohmann::json;
using namespace json_fields;  // NOLINT: the parsers' shared helpers

// OpenAI's function names: a-z, A-Z, 0-9, underscores and dashes, at most 64.
bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (char c : n) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Error ParseTool(const ojson& t, size_t i, chat::ToolDef* out) {
  const std::string at = StrCat("tools[", i, "]");
  if (!t.is_object()) return Invalid(at, at + " must be an object");
  const ojson* type = Member(t, "type");
  if (type == nullptr || !type->is_string() || type->get<std::string>() != "function") {
    return Invalid(at + ".type", at + ".type must be \"function\"");
  }
  const ojson* f = Member(t, "function");
  if (f == nullptr || !f->is_object()) {
    return Invalid(at + ".function", at + ".function must be an object");
  }
  const ojson* name = Member(*f, "name");
  if (name == nullptr || !name->is_string() || !ValidName(name->get<std::string>())) {
    return Invalid(at + ".function.name",
                   at + ".function.name must be a string of a-z, A-Z, 0-9, _ and - (1 to 64)");
  }
  out->name = name->get<std::string>();
  if (const ojson* d = Member(*f, "description")) {
    if (!d->is_string()) {
      return Invalid(at + ".function.description", at + ".function.description must be a string");
    }
    out->description = d->get<std::string>();
  }
  if (const ojson* s = Member(*f, "strict"); s != nullptr && !s->is_boolean()) {
    return Invalid(at + ".function.strict", at + ".function.strict must be a boolean");
  }
  const std::string pp = at + ".function.parameters";
  const ojson* p = Member(*f, "parameters");
  if (p == nullptr) {
    out->parameters = {{"type", "object"}, {"properties", ojson::object()}};
    return std::nullopt;
  }
  if (!p->is_object()) return Invalid(pp, pp + " must be a JSON schema object");
  if (const ojson* pt = Member(*p, "type");
      pt != nullptr && !(pt->is_string() && pt->get<std::string>() == "object")) {
    return Invalid(pp, pp + " must be a schema of type \"object\"");
  }
  // Compiled here so that an error names the tool and the construct; the grammar built from
  // it approximates what it cannot enforce (tool_gbnf.h), as non-strict schemas do.
  auto v = grammar::ParseJson(p->dump());
  if (!v.ok()) return Invalid(pp, StrCat(pp, ": ", v.status().message()));
  auto g = grammar::CompileSchemaGrammar(*v, {.strict = false});
  if (!g.ok()) return Invalid(pp, StrCat(pp, ": ", g.status().message()));
  out->parameters = *p;
  return std::nullopt;
}

Error ParseChoice(const ojson& c, const ToolRequest& r, chat::ToolChoice* out) {
  if (c.is_string()) {
    const std::string s = c.get<std::string>();
    if (s == "none") {
      out->mode = chat::ToolChoiceMode::kNone;
    } else if (s == "auto") {
      out->mode = chat::ToolChoiceMode::kAuto;
    } else if (s == "required") {
      out->mode = chat::ToolChoiceMode::kRequired;
    } else {
      return Invalid("tool_choice",
                     "tool_choice must be \"none\", \"auto\", \"required\" or "
                     "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
  } else if (c.is_object()) {
    const ojson* type = Member(c, "type");
    const ojson* f = Member(c, "function");
    const ojson* name = f != nullptr && f->is_object() ? Member(*f, "name") : nullptr;
    if (type == nullptr || !type->is_string() || type->get<std::string>() != "function" ||
        name == nullptr || !name->is_string()) {
      return Invalid("tool_choice",
                     "tool_choice as an object must be {\"type\": \"function\", \"function\": "
                     "{\"name\": ...}}");
    }
    out->mode = chat::ToolChoiceMode::kNamed;
    out->name = name->get<std::string>();
    bool found = false;
    for (const chat::ToolDef& t : r.tools) found = found || t.name == out->name;
    if (!found) {
      return Invalid("tool_choice.function.name", StrCat("tool_choice names the function '",
                                                         out->name, "', which is not among tools"));
    }
  } else {
    return Invalid("tool_choice", "tool_choice must be a string or an object");
  }
  if (!r.given && out->mode != chat::ToolChoiceMode::kNone &&
      out->mode != chat::ToolChoiceMode::kAuto) {
    return Invalid("tool_choice", "tool_choice requires tools");
  }
  return std::nullopt;
}

// Generic format: earlier assistant tool calls as the JSON the model is asked to write, so
// that templates without tool-call support show them.
void GenericHistory(ojson* messages) {
  for (ojson& m : *messages) {
    if (!m.is_object() || m.value("role", "") != "assistant") continue;
    auto tc = m.find("tool_calls");
    if (tc == m.end() || !tc->is_array() || tc->empty()) continue;
    ojson calls = ojson::array();
    for (const ojson& c : *tc) {
      const ojson* f = c.is_object() ? Member(c, "function") : nullptr;
      if (f == nullptr || !f->is_object()) continue;
      ojson args = ojson::object();
      if (const ojson* a = Member(*f, "arguments")) {
        args = a->is_string() ? ojson::parse(a->get<std::string>(), nullptr, false) : *a;
        if (args.is_discarded()) args = *a;
      }
      calls.push_back({{"name", f->value("name", "")}, {"arguments", std::move(args)}});
    }
    m["content"] = ojson{{"tool_calls", std::move(calls)}}.dump();
    m.erase("tool_calls");
  }
}

}  // namespace

Error ParseTools(const ojson& body, ToolRequest* out) {
  *out = ToolRequest{};
  if (const ojson* t = Member(body, "tools")) {
    if (!t->is_array()) return Invalid("tools", "tools must be an array");
    for (size_t i = 0; i < t->size(); ++i) {
      chat::ToolDef d;
      if (Error e = ParseTool((*t)[i], i, &d)) return e;
      for (const chat::ToolDef& prev : out->tools) {
        if (prev.name == d.name) {
          return Invalid(StrCat("tools[", i, "].function.name"),
                         StrCat("tools[", i, "].function.name '", d.name, "' is repeated"));
        }
      }
      out->tools.push_back(std::move(d));
    }
    out->given = !out->tools.empty();
  }
  out->choice.mode = out->given ? chat::ToolChoiceMode::kAuto : chat::ToolChoiceMode::kNone;
  if (const ojson* c = Member(body, "tool_choice")) {
    if (Error e = ParseChoice(*c, *out, &out->choice)) return e;
    if (!out->given) out->choice.mode = chat::ToolChoiceMode::kNone;
  }
  if (const ojson* p = Member(body, "parallel_tool_calls")) {
    if (!p->is_boolean()) {
      return Invalid("parallel_tool_calls", "parallel_tool_calls must be a boolean");
    }
    out->parallel = p->get<bool>();
  }
  return std::nullopt;
}

Error ApplyTools(chat::ToolFormat format, OpenAiRequest* r) {
  const ToolRequest& t = r->tools;
  if (!t.active()) return std::nullopt;
  const chat::ToolGrammar g = chat::BuildToolGrammar(format, t.tools, t.choice, t.parallel);
  if (g.kind != chat::ToolGrammar::Kind::kNone) {
    StructuredSpec& s = r->api.structured;
    if (s.kind != StructuredSpec::Kind::kNone) {
      return Invalid(s.param.empty() ? "tools" : s.param,
                     StrCat(s.param.empty() ? "structured output" : s.param,
                            " cannot be combined with tools"));
    }
    s.kind = g.kind == chat::ToolGrammar::Kind::kGbnf ? StructuredSpec::Kind::kGbnf
                                                      : StructuredSpec::Kind::kJsonSchema;
    s.text = g.text;
    s.strict = false;  // approximated keywords, as tool_gbnf.h lists
    s.param = "tools";
    s.triggers = g.triggers;
  }
  if (format == chat::ToolFormat::kGeneric) {
    auto m = r->chat.find("messages");
    if (m == r->chat.end() || !m->is_array()) return std::nullopt;
    GenericHistory(&*m);
    const std::string prompt = chat::GenericToolSystemPrompt(t.tools, t.choice, t.parallel);
    if (!m->empty() && (*m)[0].is_object() && (*m)[0].value("role", "") == "system" &&
        (*m)[0].contains("content") && (*m)[0]["content"].is_string()) {
      (*m)[0]["content"] = (*m)[0]["content"].get<std::string>() + "\n\n" + prompt;
    } else {
      m->insert(m->begin(), ojson{{"role", "system"}, {"content", prompt}});
    }
  }
  return std::nullopt;
}

std::string NewToolCallId() {
  static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string id = "call_";
  for (int i = 0; i < 24; ++i) id.push_back(kChars[rng() % (sizeof(kChars) - 1)]);
  return id;
}

json ToolCallsJson(const std::vector<chat::ToolCall>& calls) {
  json out = json::array();
  for (const chat::ToolCall& c : calls) {
    out.push_back({{"id", NewToolCallId()},
                   {"type", "function"},
                   {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
  }
  return out;
}

}  // namespace phx::server
