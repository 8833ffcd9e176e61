// The grammar of each tool-call format (tool_calls.h) and the generic format's system message.
#include "runtime/chat/tool_calls.h"
#include "runtime/chat/tool_gbnf.h"

namespace phx::chat {
namespace {

using ojson = nlohmann::ordered_json;

// The tools a choice allows.
std::vector<const ToolDef*> Allowed(const std::vector<ToolDef>& tools, const ToolChoice& c) {
  std::vector<const ToolDef*> out;
  for (const ToolDef& t : tools) {
    if (c.mode != ToolChoiceMode::kNamed || t.name == c.name) out.push_back(&t);
  }
  return out;
}

// Every local $ref of `j` (written against the tool's own schema) re-rooted under `base`.
void Reroot(ojson& j, const std::string& base) {
  if (j.is_array()) {
    for (ojson& e : j) Reroot(e, base);
    return;
  }
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "$ref" && it->is_string()) {
      const std::string ref = it->get<std::string>();
      if (!ref.empty() && ref[0] == '#') *it = base + ref.substr(1);
    } else {
      Reroot(*it, base);
    }
  }
}

ToolGrammar GenericGrammar(const std::vector<const ToolDef*>& tools, const ToolChoice& choice,
                           bool parallel) {
  ojson defs = ojson::object(), calls = ojson::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string key = "tool" + std::to_string(i);
    ojson params = tools[i]->parameters;
    Reroot(params, "#/$defs/" + key);
    defs[key] = std::move(params);
    calls.push_back(
        {{"type", "object"},
         {"properties",
          {{"name", {{"const", tools[i]->name}}}, {"arguments", {{"$ref", "#/$defs/" + key}}}}},
         {"required", {"name", "arguments"}},
         {"additionalProperties", false}});
  }
  ojson list = {{"type", "array"}, {"items", {{"anyOf", calls}}}, {"minItems", 1}};
  if (!parallel) list["maxItems"] = 1;
  ojson call_answer = {{"type", "object"},
                       {"properties", {{"tool_calls", list}}},
                       {"required", {"tool_calls"}},
                       {"additionalProperties", false}};
  ojson schema;
  if (choice.mode == ToolChoiceMode::kAuto) {
    ojson response = {{"type", "object"},
                      {"properties", {{"response", {{"type", "string"}}}}},
                      {"required", {"response"}},
                      {"additionalProperties", false}};
    schema = {{"anyOf", {call_answer, response}}};
  } else {
    schema = call_answer;
  }
  schema["$defs"] = std::move(defs);
  ToolGrammar g;
  g.kind = ToolGrammar::Kind::kJsonSchema;
  g.text = schema.dump();
  return g;
}

std::string Lit(std::string_view s) { return GbnfLiteral(s); }

}  // namespace

ToolGrammar BuildToolGrammar(ToolFormat f, const std::vector<ToolDef>& tools,
                             const ToolChoice& choice, bool parallel) {
  if (choice.mode == ToolChoiceMode::kNone) return {};
  const std::vector<const ToolDef*> allowed = Allowed(tools, choice);
  if (allowed.empty()) return {};
  if (f == ToolFormat::kGeneric) return GenericGrammar(allowed, choice, parallel);

  GbnfBuilder b;
  std::string any_call;
  for (const ToolDef* t : allowed) {
    const std::string args = b.Schema(t->parameters, t->parameters, "args-" + t->name);
    const std::string name = Lit(ojson(t->name).dump());
    auto obj = [&](std::string_view name_key, std::string_view args_key, std::string lead) {
      return "\"{\" ws " + lead + Lit(ojson(name_key).dump()) + " ws \":\" ws " + name +
             " ws \",\" ws " + Lit(ojson(args_key).dump()) + " ws \":\" ws " + args + " ws \"}\"";
    };
    std::string body;
    switch (f) {
      case ToolFormat::kHermes:
      case ToolFormat::kMistral:
        body = obj("name", "arguments", "");
        break;
      case ToolFormat::kLlama3:
        body = obj("name", "parameters", "");
        break;
      case ToolFormat::kCommandR:
        body = obj("tool_name", "parameters", "");
        break;
      case ToolFormat::kCommandR7B:
        body = obj("tool_name", "parameters",
                   "\"\\\"tool_call_id\\\"\" ws \":\" ws string ws \",\" ws ");
        break;
      case ToolFormat::kDeepSeekR1:
        body = Lit("<｜tool▁call▁begin｜>function<｜tool▁sep｜>" + t->name + "\n```json\n") + " " +
               args + " " + Lit("\n```<｜tool▁call▁end｜>");
        break;
      case ToolFormat::kGeneric:
        break;
    }
    any_call += (any_call.empty() ? "" : " | ") + b.Rule("call-" + t->name, body);
  }
  const std::string call = b.Rule("call", any_call);
  // A list of calls in brackets: one, or one or more.
  const std::string list =
      "\"[\" ws " + call + (parallel ? " ( ws \",\" ws " + call + " )*" : "") + " ws \"]\"";
  ToolGrammar g;
  g.kind = ToolGrammar::Kind::kGbnf;
  std::string root;
  std::string trigger;
  switch (f) {
    case ToolFormat::kHermes: {
      const std::string unit =
          b.Rule("tool-call", Lit("<tool_call>") + " ws " + call + " ws " + Lit("</tool_call>"));
      root = unit + (parallel ? " ( ws " + unit + " )*" : "") + " ws";
      trigger = "<tool_call>";
      break;
    }
    case ToolFormat::kMistral:
      root = Lit("[TOOL_CALLS]") + " ws " + list + " ws";
      trigger = "[TOOL_CALLS]";
      break;
    case ToolFormat::kLlama3:
      root = call + " ws";  // one call per turn
      trigger = "{\"name\"";
      break;
    case ToolFormat::kCommandR:
      root = Lit("Action:") + " ws " + Lit("```json") + " ws " + list + " ws " + Lit("```") + " ws";
      trigger = "Action:";
      break;
    case ToolFormat::kCommandR7B:
      root = Lit("<|START_ACTION|>") + " ws " + list + " ws " + Lit("<|END_ACTION|>") + " ws";
      trigger = "<|START_ACTION|>";
      break;
    case ToolFormat::kDeepSeekR1:
      root = Lit("<｜tool▁calls▁begin｜>") + " " + (parallel ? "( " + call + " )+" : call) + " " +
             Lit("<｜tool▁calls▁end｜>") + " ws";
      trigger = "<｜tool▁calls▁begin｜>";
      break;
    case ToolFormat::kGeneric:
      break;
  }
  b.Rule("root", root);
  g.text = b.Text();
  if (choice.mode == ToolChoiceMode::kAuto) g.triggers.push_back(trigger);
  return g;
}

std::string GenericToolSystemPrompt(const std::vector<ToolDef>& tools, const ToolChoice& choice,
                                    bool parallel) {
  ojson list = ojson::array();
  for (const ToolDef* t : Allowed(tools, choice)) {
    ojson e = {{"name", t->name}};
    if (!t->description.empty()) e["description"] = t->description;
    e["parameters"] = t->parameters;
    list.push_back(std::move(e));
  }
  std::string out = "You can call these tools (each with its arguments' JSON schema):\n";
  out += list.dump(2);
  out += "\n\nAnswer with one JSON object. To call ";
  out += parallel ? "one or more tools" : "a tool";
  out += ": {\"tool_calls\": [{\"name\": \"<tool name>\", \"arguments\": {<arguments>}}";
  out += parallel ? ", ...]}" : "]}";
  if (choice.mode == ToolChoiceMode::kAuto) {
    out += ". To answer the user directly: {\"response\": \"<your answer>\"}.";
  } else {
    out += ". You must call a tool.";
  }
  return out;
}

}  // namespace phx::chat
