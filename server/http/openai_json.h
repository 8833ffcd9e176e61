// OpenAI API requests: the JSON bodies of POST /v1/completions and /v1/chat/completions parsed
// and type-checked into an ApiRequest (plus what only HTTP needs: streaming, chat messages),
// with vLLM's extensions (top_k, min_p, repetition_penalty, ignore_eos, priority, ...) and the
// structured-output fields (openai_fields.h). Strict: a field that is neither implemented nor
// documented as harmless is a 400 naming it, unless ParseOptions::lenient. Every error names
// the offending field.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "server/core/api_request.h"
#include "server/http/openai_tools.h"

namespace phx::server {

enum class Endpoint { kCompletions, kChat };

// The most choices (`n`) one request may ask for.
inline constexpr int32_t kMaxChoices = 16;

// An error as the API reports it: status (HTTP code and OpenAI type via status_map), the
// request field it is about ("" when none) and OpenAI's machine-readable code ("" when none).
struct ApiError {
  absl::Status status;
  std::string param;
  std::string code;
};

struct OpenAiRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;  // "" when absent
  ApiRequest api;     // completions: the prompt is set; chat: the caller renders `chat`
  // Chat: the body as sent, key order kept (templates print tools with tojson); the chat
  // template's variables come from it (chat::ChatRenderer).
  nlohmann::ordered_json chat;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  int32_t n = 1;               // choices, 1..kMaxChoices (best_of: absent or equal)
  bool logprobs = false;       // token log-probabilities requested (api.sampling.logprobs >= 0)
  std::string user;
  // Fields accepted but ignored, as phalanx_api_ignored_fields_total labels (one per field).
  std::vector<std::string> ignored_fields;
  // Chat: tools, tool_choice, parallel_tool_calls (openai_tools.h).
  ToolRequest tools;
};

struct ParseOptions {
  int32_t default_completion_max_tokens = 16;  // OpenAI's and vLLM's default
  int32_t default_chat_max_tokens = 4096;      // chat: up to the server's limit
  int32_t max_logprobs = 20;
  // --lenient-api: unknown top-level fields are ignored (and counted) instead of refused.
  bool lenient = false;
  // Limits on the JSON document itself, checked while it is read (docs/security.md, "JSON
  // request bodies"): parsing stops at the first value past a limit, so a hostile body costs
  // time linear in the bytes read and memory bounded by these.
  size_t max_body_bytes = 8 << 20;  // the HTTP layer's own body cap may be lower
  int max_depth = 64;               // arrays and objects nested in each other
  size_t max_values = 1 << 18;      // JSON values of every kind (a 262,144-token prompt fits)
};

// `body` as a JSON value within opts' size, depth and value limits (read with nlohmann's SAX
// parser, stopping at the first value past a limit); the error (param "") names the limit or
// says the body is not valid JSON. Otherwise *out equals what nlohmann::json::parse returns.
std::optional<ApiError> ParseJsonBody(std::string_view body, const ParseOptions& opts,
                                      nlohmann::json* out);
// The same, keeping the order of object keys as sent.
std::optional<ApiError> ParseJsonBody(std::string_view body, const ParseOptions& opts,
                                      nlohmann::ordered_json* out);

// Parses `body` (within the limits above); on error returns it and leaves *out partly filled.
std::optional<ApiError> ParseRequest(std::string_view body, Endpoint endpoint,
                                     const ParseOptions& opts, OpenAiRequest* out);

// The field an error message from the frontend or sampler validation is about ("top_p must
// be in (0, 1]" -> "top_p"; "prompt has ..." -> "prompt", or "messages" for chat).
std::string ParamOfMessage(std::string_view message, Endpoint endpoint);

}  // namespace phx::server
