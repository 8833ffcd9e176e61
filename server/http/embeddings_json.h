// POST /v1/embeddings as JSON: the request body parsed and type-checked (OpenAI's fields:
// model, input as a string, an array of strings, an array of token ids or an array of arrays of
// token ids; encoding_format float | base64; dimensions; user), and the answer built from the
// pooled vectors: each truncated to `dimensions` when asked, then L2-normalized as OpenAI
// returns them; base64 is the little-endian float32 bytes. Strict like openai_fields.h: an
// unknown field is a 400 naming it (ParseOptions::lenient ignores it). Pure: no engine, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/core/embedding_vector.h"
#include "server/http/openai_json.h"

namespace phx::server {

struct EmbeddingInput {
  bool has_text = true;
  std::string text;
  std::vector<int32_t> token_ids;
};

struct EmbeddingsRequest {
  std::string model;  // "" when absent
  std::vector<EmbeddingInput> inputs;
  bool input_is_array = false;  // errors then name input[i]
  bool base64 = false;          // encoding_format
  std::optional<int64_t> dimensions;
  std::string user;
  std::vector<std::string> ignored_fields;  // with lenient: unknown fields, as counter labels
};

// Parses `body` within opts' JSON limits. `dimensions` is checked against the model later
// (CheckDimensions), once n_embd is known.
std::optional<ApiError> ParseEmbeddingsRequest(std::string_view body, const ParseOptions& opts,
                                               EmbeddingsRequest* out);
// dimensions in [1, n_embd]; the error names it.
std::optional<ApiError> CheckDimensions(const EmbeddingsRequest& r, int64_t n_embd);

// The little-endian float32 bytes of `v` in base64 (RFC 4648, padded).
std::string Base64Floats(const std::vector<float>& v);

// The answer: {"object": "list", "data": [{"object": "embedding", "index", "embedding"}],
// "model", "usage": {"prompt_tokens", "total_tokens"}}. `vectors` are already normalized.
nlohmann::json EmbeddingsAnswer(const std::vector<std::vector<float>>& vectors, bool base64,
                                const std::string& model, int64_t prompt_tokens);

}  // namespace phx::server
