// Anthropic Messages API requests (POST /v1/messages and /v1/messages/count_tokens): the JSON
// body checked field by field (strict: a field that is neither implemented nor documented as
// harmless is a 400 naming it, unless ParseOptions::lenient) and translated into the OpenAI chat
// body that /v1/chat/completions takes, which then goes through the same parser (ParseRequest),
// tool machinery (ApplyTools) and chat template. Errors name the Anthropic field
// ("tools[0].input_schema", "messages[1].content[0].type"), not the translated one.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/http/net/http_types.h"
#include "server/http/openai_json.h"

namespace phx::server {

enum class AnthropicEndpoint { kMessages, kCountTokens };
// "/v1/messages", "/v1/messages/count_tokens"; nullopt for another path.
std::optional<AnthropicEndpoint> AnthropicEndpointOf(std::string_view path);
// The key as the Gate reads it: the Authorization header, else "Bearer " + x-api-key (what
// the Anthropic SDKs send).
std::string AnthropicAuthorization(const net::HttpRequest& req);

struct AnthropicRequest {
  // The translated chat request (endpoint kChat, n 1): sampling, tools, messages, stream.
  OpenAiRequest chat;
  std::vector<std::string> stop_sequences;
  // `thinking`: absent (the template's default), enabled or disabled (chat_template_kwargs'
  // enable_thinking); budget_tokens as given (0 when none), the engine's thinking budget
  // (chat.api.reasoning_budget; 0 when disabled).
  std::optional<bool> thinking;
  int32_t thinking_budget = 0;
  // Per message of chat.chat["messages"]: the Anthropic path it came from ("system",
  // "messages[2]", "messages[2].content[1]" for a tool_result), for AnthropicParamOf.
  std::vector<std::string> message_paths;
};

// Parses `body`. count_tokens: the body of /v1/messages/count_tokens (max_tokens, stream and
// the sampling fields are not part of it). On error returns it and leaves *out partly filled.
std::optional<ApiError> ParseAnthropicRequest(std::string_view body, const ParseOptions& opts,
                                              bool count_tokens, AnthropicRequest* out);

// An error about the translated OpenAI body as the Anthropic request names it: param and
// message rewritten ("tools[0].function.parameters" -> "tools[0].input_schema", "stop" ->
// "stop_sequences", "messages[3]" -> the Anthropic message it came from).
ApiError AnthropicParamOf(ApiError e, const std::vector<std::string>& message_paths);

}  // namespace phx::server
