#include "runtime/chat/chat_request.h"

#include <regex>

#include "base/strings.h"

namespace phx::chat {
namespace {

using json = nlohmann::ordered_json;

absl::Status Bad(std::string field, std::string_view what) {
  return absl::InvalidArgumentError(StrCat(field, ": ", what));
}

absl::StatusOr<json> Content(const json& c, const std::string& field, bool as_parts) {
  if (c.is_string()) return c;
  if (!c.is_array()) return Bad(field, "must be a string, an array of content parts, or null");
  std::string joined;
  for (size_t j = 0; j < c.size(); ++j) {
    const std::string pf = StrCat(field, "[", j, "]");
    const json& part = c[j];
    if (!part.is_object()) return Bad(pf, "must be an object");
    if (!part.contains("type") || !part["type"].is_string()) return Bad(pf + ".type", "missing");
    if (part["type"] != "text") {
      return Bad(pf + ".type", StrCat("only text parts are supported, not '",
                                      part["type"].get<std::string>(), "'"));
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      return Bad(pf + ".text", "must be a string");
    }
    if (j) joined += "\n";
    joined += part["text"].get<std::string>();
  }
  if (as_parts) return c;
  return json(joined);
}

}  // namespace

bool TemplateIteratesContent(std::string_view src) {
  static const std::regex* re =
      new std::regex(R"(\{%-?\s*for\s+\w+\s+in\s+\w+(\.content|\[\s*['"]content['"]\s*\]))");
  return std::regex_search(src.begin(), src.end(), *re);
}

absl::StatusOr<json> ChatTemplateVariables(const json& body, const ChatRequestOptions& opt) {
  if (!body.is_object()) return absl::InvalidArgumentError("the request body must be an object");
  if (!body.contains("messages") || !body["messages"].is_array()) {
    return Bad("messages", "must be an array");
  }
  json vars = json::object();
  json messages = json::array();
  for (size_t i = 0; i < body["messages"].size(); ++i) {
    const std::string field = StrCat("messages[", i, "]");
    const json& m = body["messages"][i];
    if (!m.is_object()) return Bad(field, "must be an object");
    if (!m.contains("role") || !m["role"].is_string()) return Bad(field + ".role", "missing");
    json out = m;
    if (m["role"] == "developer") out["role"] = "system";  // OpenAI's newer name for it
    if (m.contains("content") && !m["content"].is_null()) {
      auto c = Content(m["content"], field + ".content", opt.content_as_parts);
      if (!c.ok()) return c.status();
      out["content"] = std::move(*c);
    } else {
      // Absent or null (an assistant turn with tool calls only): no parts, as vLLM reads it, so
      // templates that test `'x' in message.content` work.
      out["content"] = opt.content_as_parts ? json::array() : json("");
    }
    if (m.contains("tool_calls")) {
      if (!m["tool_calls"].is_array()) return Bad(field + ".tool_calls", "must be an array");
      for (size_t k = 0; k < m["tool_calls"].size(); ++k) {
        json& call = out["tool_calls"][k];
        if (!call.is_object())
          return Bad(StrCat(field, ".tool_calls[", k, "]"), "must be an object");
        if (call.contains("function") && call["function"].is_object() &&
            call["function"].contains("arguments") && call["function"]["arguments"].is_string()) {
          json args = json::parse(call["function"]["arguments"].get<std::string>(), nullptr, false);
          if (!args.is_discarded()) call["function"]["arguments"] = std::move(args);
        }
      }
    }
    messages.push_back(std::move(out));
  }
  vars["messages"] = std::move(messages);
  if (body.contains("tools") && !body["tools"].is_null()) {
    if (!body["tools"].is_array()) return Bad("tools", "must be an array");
    vars["tools"] = body["tools"];
  }
  if (body.contains("documents") && !body["documents"].is_null()) {
    vars["documents"] = body["documents"];
  }
  vars["add_generation_prompt"] = true;
  if (body.contains("add_generation_prompt")) {
    if (!body["add_generation_prompt"].is_boolean()) {
      return Bad("add_generation_prompt", "must be a boolean");
    }
    vars["add_generation_prompt"] = body["add_generation_prompt"];
  }
  if (body.contains("chat_template_kwargs") && !body["chat_template_kwargs"].is_null()) {
    if (!body["chat_template_kwargs"].is_object()) {
      return Bad("chat_template_kwargs", "must be an object");
    }
    for (const auto& [k, v] : body["chat_template_kwargs"].items()) {
      if (k == "bos_token" || k == "eos_token") continue;  // the vocabulary's, not the client's
      vars[k] = v;
    }
  }
  vars["bos_token"] = opt.bos_token;
  vars["eos_token"] = opt.eos_token;
  return vars;
}

}  // namespace phx::chat
