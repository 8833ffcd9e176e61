// llama-server's utility endpoints on the API port, behind the same API keys:
//   POST /tokenize        {"content", "add_special" (false), "parse_special" (true),
//                          "with_pieces" (false)} -> {"tokens": [ids]} or
//                          {"tokens": [{"id", "piece"}]} (piece: a string when it is valid
//                          UTF-8, else its bytes as an array of numbers). Through
//                          Gate::Tokenize: the key's rate limits apply, as for gRPC Tokenize.
//   POST /detokenize      {"tokens": [ids]} -> {"content"}
//   POST /apply-template  an OpenAI chat body -> {"prompt"}: the chat template's rendering
//                          (the same variables as /v1/chat/completions)
// The JSON side of them; ApiServer routes, authenticates and answers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/chat/chat_renderer.h"
#include "runtime/tokenizer/tokenizer.h"
#include "server/http/openai_json.h"

namespace phx::server {

enum class UtilityEndpoint { kTokenize, kDetokenize, kApplyTemplate };

// The endpoint a path names, if any.
std::optional<UtilityEndpoint> UtilityEndpointOf(std::string_view path);
// "Tokenize" (as gRPC), "http_detokenize", "http_apply_template" (metrics and audit).
std::string UtilityRpcName(UtilityEndpoint ep);

struct TokenizeBody {
  std::string content;
  bool add_special = false, parse_special = true, with_pieces = false;
};
std::variant<TokenizeBody, ApiError> ParseTokenizeBody(std::string_view body,
                                                       const ParseOptions& opts);
nlohmann::json TokenizeAnswer(const std::vector<int32_t>& ids, bool with_pieces,
                              const tok::Tokenizer& tokenizer);

std::variant<nlohmann::json, ApiError> DetokenizeAnswer(std::string_view body,
                                                        const ParseOptions& opts,
                                                        const tok::Tokenizer& tokenizer);
// `chat` null or unavailable: the error says what to pass (--chat-template).
std::variant<nlohmann::json, ApiError> ApplyTemplateAnswer(std::string_view body,
                                                           const ParseOptions& opts,
                                                           const chat::ChatRenderer* chat);

}  // namespace phx::server
