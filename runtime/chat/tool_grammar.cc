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

std::string Lit(std::string_view s) { return GbnfLiteral(s); }

}  // namespace

ToolGrammar BuildToolGrammar(ToolFormat f, const std::vector<ToolDef>& tools,
                             const ToolChoice& choice, bool parallel) {
  if (choice.mode == ToolChoiceMode::kNone) return {};
  const std::vector<const ToolDef*> allowed = Allowed(tools, choice);
  if (allowed.empty()) return {};

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
      case ToolFormat::kGeneric:
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
    }
    any_call += (any_call.empty() ? "" : " | ") + b.Rule("call-" + t->name, body);
  }
  const std::string call = b.Rule("call", any_call);
  // A list of calls in brackets: one, or one or more.
  const std::string list =
      "\"[\" sp " + call + (parallel ? " ( sp \",\" sp " + call + " )*" : "") + " sp \"]\"";
  ToolGrammar g;
  g.kind = ToolGrammar::Kind::kGbnf;
  std::string root;
  std::string trigger;
  switch (f) {
    case ToolFormat::kHermes: {
      const std::string unit =
          b.Rule("tool-call", Lit("<tool_call>") + " sp " + call + " sp " + Lit("</tool_call>"));
      root = unit + (parallel ? " ( sp " + unit + " )*" : "") + " sp";
      trigger = "<tool_call>";
      break;
    }
    case ToolFormat::kMistral:
      root = Lit("[TOOL_CALLS]") + " sp " + list + " sp";
      trigger = "[TOOL_CALLS]";
      break;
    case ToolFormat::kLlama3:
      root = call + " sp";  // one call per turn
      trigger = "{\"name\"";
      break;
    case ToolFormat::kCommandR:
      root = Lit("Action:") + " sp " + Lit("```json") + " sp " + list + " sp " + Lit("```") + " sp";
      trigger = "Action:";
      break;
    case ToolFormat::kCommandR7B:
      root = Lit("<|START_ACTION|>") + " sp " + list + " sp " + Lit("<|END_ACTION|>") + " sp";
      trigger = "<|START_ACTION|>";
      break;
    case ToolFormat::kDeepSeekR1:
      root = Lit("<｜tool▁calls▁begin｜>") + " " + (parallel ? "( " + call + " )+" : call) + " " +
             Lit("<｜tool▁calls▁end｜>") + " sp";
      trigger = "<｜tool▁calls▁begin｜>";
      break;
    case ToolFormat::kGeneric: {
      // The whole answer is one JSON object, in every mode but none: calls, or (auto) a reply.
      const std::string calls =
          "\"{\" ws " + Lit("\"tool_calls\"") + " ws \":\" ws " + list + " ws \"}\"";
      root = "sp ( " + calls +
             (choice.mode == ToolChoiceMode::kAuto
                  ? " | \"{\" ws " + Lit("\"response\"") + " ws \":\" ws string ws \"}\""
                  : "") +
             " ) sp";
      break;
    }
  }
  b.Rule("root", root);
  g.text = b.Text();
  if (choice.mode == ToolChoiceMode::kAuto && !trigger.empty()) g.triggers.push_back(trigger);
  return g;
}

std::string GenericToolSystemPrompt(const std::vector<ToolDef>& tools, const ToolChoice& choice,
                                    bool parallel) {
  // Compact: small models have small contexts.
  ojson list = ojson::array();
  for (const ToolDef* t : Allowed(tools, choice)) {
    ojson e = {{"name", t->name}};
    if (!t->description.empty()) e["description"] = t->description;
    e["parameters"] = t->parameters;
    list.push_back(std::move(e));
  }
  std::string out = "Tools: " + list.dump() + "\nCall ";
  out += parallel ? "tools" : "a tool";
  out += " with {\"tool_calls\":[{\"name\":..,\"arguments\":{..}}";
  out += parallel ? ",..]}" : "]}";
  if (choice.mode == ToolChoiceMode::kAuto) {
    out += " or reply with {\"response\":\"..\"}";
  } else {
    out += " (required)";
  }
  return out;
}

}  // namespace phx::chat
