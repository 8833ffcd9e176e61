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

// Structured output as a request asked for it (OpenAI response_format, llama-server's
// json_schema/grammar, vLLM's guided_* and structured_outputs, gRPC StructuredOutput, tool
// calls). The Frontend compiles it with the model's grammar::GrammarEngine (cached by hash)
// into the engine request's Constraint; a grammar that does not compile is INVALID_ARGUMENT
// naming `param` and, for schemas, the JSON pointer of the construct.
struct StructuredSpec {
  enum class Kind { kNone, kJsonSchema, kJsonObject, kRegex, kGbnf };
  Kind kind = Kind::kNone;
  std::string text;    // the schema (JSON text), regex or GBNF grammar; "" for kJsonObject
  bool strict = true;  // json_schema.strict: refuse keywords that cannot be enforced exactly
  std::string param;   // the request field it came from ("response_format.json_schema.schema")
  std::vector<std::string> triggers;  // engine::Constraint::triggers (lazy grammar)
};

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
  StructuredSpec structured;
  std::optional<engine::Clock::time_point> deadline;
  // One choice of several (OpenAI's n > 1): the choices share a nonzero prompt group
  // (engine::GenerateRequest::prompt_group) so that they share the prompt's KV blocks, and are
  // never answered from or stored in the degraded-mode response cache.
  uint64_t prompt_group = 0;
  // An embedding (engine::GenerateRequest::embed): the prompt is the input; sampling,
  // structured output and echo do not apply, and the length limit is the engine's
  // max_embedding_tokens(). Errors name `input` instead of `prompt`.
  bool embed = false;
  // The thinking budget (engine::ReasoningBudget) of a chat prompt rendered with a template that
  // thinks (`thinks`; `in_reasoning`: the prompt opened the block). `reasoning_budget`: the
  // request's (Anthropic thinking.budget_tokens, chat thinking_token_budget); absent: the
  // server's --reasoning-budget. < 0: unlimited.
  bool thinks = false;
  bool in_reasoning = false;
  std::optional<int32_t> reasoning_budget;
  // Who is asking (audit log, rate limits).
  std::string rpc;  // "Generate", "GenerateStream", "http_completions", ...
  std::string peer;
  std::string key_id;  // API key id ("" when auth is off)
};

}  // namespace phx::server
