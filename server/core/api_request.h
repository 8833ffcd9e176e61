// A generation request as both transports (gRPC and the OpenAI HTTP API) hand it to the
// frontend, before tokenization.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/engine/request.h"
#include "runtime/sampler/params.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::server {

struct ApiRequest {
  std::string request_id;  // empty: the frontend assigns one
  bool has_text = true;    // prompt as text, else token ids
  std::string text;
  std::vector<int32_t> token_ids;
  bool add_special = true;
  bool parse_special = false;
  // With parse_special: byte ranges of `text` (sorted, disjoint) where special-token text stays
  // plain text: a chat prompt's user text (chat::ChatPrompt::plain_spans), so that a message
  // spelling "<|im_start|>" cannot forge a control token.
  std::vector<tok::TextSpan> plain_spans;
  sampler::SamplingParams sampling;
  bool explicit_max_tokens = false;  // max_tokens was given (else the default applies)
  int32_t priority = 0;
  bool echo = false;
  std::optional<engine::Clock::time_point> deadline;
  // Who is asking (audit log, rate limits).
  std::string rpc;  // "Generate", "GenerateStream", "http_completions", ...
  std::string peer;
  std::string key_id;  // API key id ("" when auth is off)
};

}  // namespace phx::server
