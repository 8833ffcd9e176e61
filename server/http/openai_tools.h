// Tool calling on /v1/chat/completions: `tools`, `tool_choice` and `parallel_tool_calls` parsed
// and validated (each function's parameters compiled as a JSON schema: an error names
// tools[i].function.parameters and the JSON pointer), then turned into the request's grammar
// (ApiRequest::structured: forced for required/named, lazy from the format's start text for
// auto) in the tool-call format of the served chat template; the generic format also gets its
// system message. Responses parse the answer back (runtime/chat/tool_calls.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/chat/tool_calls.h"

namespace phx::server {

struct ApiError;
struct OpenAiRequest;

struct ToolRequest {
  std::vector<chat::ToolDef> tools;
  chat::ToolChoice choice;  // auto when tools are given, none without
  bool parallel = true;     // parallel_tool_calls
  bool given = false;       // the request had a non-empty `tools`
  // Whether answers are parsed for tool calls (tools given and tool_choice is not none).
  bool active() const { return given && choice.mode != chat::ToolChoiceMode::kNone; }
};

// Reads tools / tool_choice / parallel_tool_calls from a chat body into *out (the call from
// ParseRequest). Errors name the field: "tools[1].function.name", "tool_choice", ...
std::optional<ApiError> ParseTools(const nlohmann::ordered_json& body, ToolRequest* out);

// Once the served template's format is known (before rendering): sets r->api.structured to the
// tools' grammar and, for the generic format, adds the system message describing the tools and
// writes earlier assistant tool calls as that format's JSON, so that the template shows them.
// A request that also asks for another structured output (response_format, ...) is an error.
std::optional<ApiError> ApplyTools(chat::ToolFormat format, OpenAiRequest* r);

// "call_" and 24 random letters and digits.
std::string NewToolCallId();

// OpenAI's message.tool_calls entries.
nlohmann::json ToolCallsJson(const std::vector<chat::ToolCall>& calls);

}  // namespace phx::server
