// The OpenAI API's top-level request fields: which ones Phalanx implements, which ones are
// harmless to ignore (docs/api.md lists both), and the parsing of the fields that ask for
// structured output (response_format, llama-server's json_schema and grammar, vLLM's guided_*
// and structured_outputs) and of logit_bias, stop_token_ids and min_tokens. Strict by default:
// a field that is neither implemented nor harmless is a 400 naming it (--lenient-api ignores
// it instead).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/sampler/params.h"
#include "server/core/api_request.h"
#include "server/http/openai_json.h"

namespace phx::server {

// Checks every top-level key of `body` (a JSON object). A key whose value is null counts as
// absent. Implemented keys pass; the documented harmless ones, and with `lenient` every
// unknown one, are appended to *ignored as their counter label (IgnoredFieldLabel); anything
// else is a 400 invalid_request_error whose param names the key.
std::optional<ApiError> CheckFields(const nlohmann::ordered_json& body, Endpoint ep, bool lenient,
                                    std::vector<std::string>* ignored);

// The label of an ignored field in phalanx_api_ignored_fields_total: its name when it is one
// of the documented harmless fields, else "other" (a bounded label set).
std::string IgnoredFieldLabel(std::string_view field);
// Every label IgnoredFieldLabel can return.
const std::vector<std::string>& IgnoredFieldLabels();

// Reads the structured-output fields of `body` into *out (kind kNone when none is given). At
// most one may be given; each nested key is checked as strictly as the top-level ones.
// Schemas keep their key order (`properties` order is the output's). Errors name the field
// ("response_format.json_schema.schema").
std::optional<ApiError> ParseStructured(const nlohmann::ordered_json& body, StructuredSpec* out);

// logit_bias (an object of token-id strings to numbers in [-100, 100]), stop_token_ids (token
// ids) and min_tokens (>= 0) into *p. Token ids are checked against the vocabulary later, by
// Frontend::Validate.
std::optional<ApiError> ParseSamplingExtras(const nlohmann::json& body, sampler::SamplingParams* p);

// vLLM's guided_choice: a regular expression (implicitly anchored) matching exactly one of
// `choices`; every ASCII character but letters and digits is escaped.
std::string ChoiceRegex(const std::vector<std::string>& choices);

}  // namespace phx::server
