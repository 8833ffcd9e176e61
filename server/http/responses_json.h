// OpenAI's Responses API (POST /v1/responses), the stateless subset: the JSON body checked
// strictly against its own field table (an unknown or unsupported field is a 400 naming it, in
// OpenAI's error shape) and translated into the equivalent chat request, which then goes through
// the chat endpoint's own parser (openai_json.h), tools (openai_tools.h), structured output
// (openai_fields.h) and template rendering: one path into the Gate and the engine.
//
// `input` (a string or items: messages, function_call, function_call_output, reasoning) and
// `instructions` become chat messages; function tools become chat tools; text.format becomes
// response_format; max_output_tokens becomes max_completion_tokens. Nothing is stored:
// `store` is accepted (the SDK's default is true) but no response is kept, so
// previous_response_id, conversation and item_reference are 400s. docs/api.md lists every field.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "server/http/openai_json.h"

namespace phx::server {

struct ResponsesRequest {
  // The equivalent chat request (endpoint kChat; chat holds the translated body).
  OpenAiRequest chat;
  // The request fields the response object echoes (instructions, tools, tool_choice, text,
  // temperature, top_p, max_output_tokens, parallel_tool_calls, reasoning, metadata, store,
  // truncation, user, ...), each with OpenAI's default when the request left it out.
  nlohmann::json echo;
};

// Parses and validates `body`; on error returns it (param in the Responses API's names:
// "input[2].content[0].type", "text.format.schema", "max_output_tokens") and leaves *out
// partly filled.
std::optional<ApiError> ParseResponsesRequest(std::string_view body, const ParseOptions& opts,
                                              ResponsesRequest* out);

// The Responses API's name for a field of the translated chat request ("max_completion_tokens"
// -> "max_output_tokens", "response_format.json_schema.schema" -> "text.format.schema",
// "tools[1].function.name" -> "tools[1].name", "messages[3]" -> "input"); other names as given.
std::string ResponsesParam(std::string_view chat_param);
// An error about the translated chat request, in the Responses API's names (param and message).
void RenameParam(ApiError* e);

}  // namespace phx::server
