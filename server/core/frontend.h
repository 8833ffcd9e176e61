// Transport-independent request handling: validation with limits, tokenization, submission to
// the engine, cancellation, tokenize and model-info answers. gRPC and HTTP handlers call this.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/engine/engine.h"
#include "server/core/api_request.h"

namespace phx::grammar {
class GrammarEngine;    // runtime/grammar/engine.h
class CompiledGrammar;  // runtime/grammar/matcher.h
}  // namespace phx::grammar

namespace phx::server {

// request_id: at most this many bytes of valid UTF-8.
inline constexpr size_t kMaxRequestIdBytes = 128;

struct FrontendLimits {
  int64_t max_prompt_bytes = 1 << 20;  // text prompts
  int32_t max_prompt_tokens = 0;       // 0: the context length - 1
  int32_t max_tokens = 4096;           // per request
  // A structured-output schema, regex or grammar (its text): compile time grows with it.
  int64_t max_grammar_bytes = 64 << 10;
  // JSON schemas and json_object: at most this many blanks (space, tab, newline) in a row
  // between JSON tokens. 1 (Outlines' default, compact JSON as OpenAI returns it) keeps a model
  // that favours blanks from spending its tokens on them; pretty-printing needs ~2 + 2 * depth.
  int32_t json_max_whitespace = 1;
  // --reasoning-budget: the thinking budget of chat prompts of a thinking template when the
  // request names none (ApiRequest::reasoning_budget); < 0: unlimited.
  int32_t reasoning_budget = -1;
};

struct Submitted {
  engine::RequestId engine_id = 0;
  std::string request_id;
  int32_t prompt_tokens = 0;
  std::string prompt_text;  // when echo
};

struct ModelInfoData {
  std::string name, architecture, dtype, backend;
  int64_t parameters = 0, kv_cache_tokens = 0;
  int32_t context_length = 0, vocab_size = 0, layers = 0, embedding_size = 0, heads = 0,
          kv_heads = 0, bos = -1, eos = -1, max_batch = 0;
};

class Frontend {
 public:
  // `grammar` (not owned; null: structured output is refused) compiles the requests'
  // StructuredSpec for the engine's vocabulary (grammar::GrammarEngine::FromTokenizer).
  Frontend(engine::Engine& engine, const std::string& backend_name, FrontendLimits limits = {},
           grammar::GrammarEngine* grammar = nullptr);

  // Validates every field that needs no tokenization against the limits: prompt bytes and
  // UTF-8, token ids (vocabulary, count), max_tokens, sampling, stop strings, priority range,
  // request_id, logit_bias and stop_token_ids (vocabulary), min_tokens (<= max_tokens), the
  // structured-output kind. Linear in the request's size and cheap, so the Gate runs it before any
  // rate-limit bucket is touched. The error is INVALID_ARGUMENT naming the field; *too_long
  // (when given) tells whether the prompt was refused for its length.
  absl::Status Validate(const ApiRequest& req, bool* too_long = nullptr) const;
  // Validate, then tokenizes `text` (or takes the token ids), checks the prompt's token count
  // and compiles req.structured into the request's Constraint (cached by the grammar engine).
  // Same error contract: a grammar that does not compile is INVALID_ARGUMENT
  // "<structured.param>: <the compiler's message>" (for schemas the message names the JSON
  // pointer and keyword); the compiler's limits bound the time and memory a schema costs.
  absl::StatusOr<engine::GenerateRequest> Prepare(const ApiRequest& req,
                                                  bool* too_long = nullptr) const;
  // The tokens a request may cost, for rate limits before it is tokenized: prompt bytes / 4 + 1
  // (or its token ids) plus max_tokens, clamped to [1, context length]. Meaningful once
  // Validate passed; never outside that range whatever the request holds.
  double EstimateTokens(const ApiRequest& req) const;
  // The tokens a prepared request may cost: prompt tokens plus max_tokens, clamped likewise.
  double ReservedTokens(const engine::GenerateRequest& g) const;
  // What the caller learns before generation starts: the request id (the caller's or a new
  // one) and, with echo, the prompt text.
  Submitted Describe(const ApiRequest& req, const engine::GenerateRequest& g);
  // Submits a prepared request; fills s->engine_id.
  absl::Status SubmitPrepared(engine::GenerateRequest g, std::shared_ptr<engine::TokenSink> sink,
                              Submitted* s);
  // Prepare + Describe + SubmitPrepared.
  absl::StatusOr<Submitted> Submit(const ApiRequest& req, std::shared_ptr<engine::TokenSink> sink);
  void Cancel(engine::RequestId id) { engine_.Cancel(id); }

  absl::StatusOr<std::vector<int32_t>> Tokenize(const std::string& text, bool add_special,
                                                bool parse_special) const;
  std::string TokenText(int32_t id) const;
  std::string Detokenize(const std::vector<int32_t>& ids) const;
  ModelInfoData ModelInfo() const;

  engine::Engine& engine() { return engine_; }
  const FrontendLimits& limits() const { return limits_; }
  std::string NewRequestId();

 private:
  // The compiled grammar of a structured-output spec (null for kNone); Validate passed.
  absl::StatusOr<std::shared_ptr<const grammar::CompiledGrammar>> Compile(
      const StructuredSpec& s) const;
  // The longest prompt in tokens: --max-prompt-tokens within the context, else ctx - 1.
  int32_t MaxPromptTokens(int32_t ctx) const;
  engine::Engine& engine_;
  grammar::GrammarEngine* grammar_;
  std::string backend_name_;
  FrontendLimits limits_;
  std::atomic<uint64_t> counter_{0};
  uint64_t boot_nonce_;
  // The think block's markers in this vocabulary: "<think>", "</think>", and the close forced
  // when a budget is spent, "\n</think>\n\n" (as Qwen3's and DeepSeek R1's templates write it).
  engine::ReasoningBudget think_markers_;
};

// logit_bias and stop_token_ids against the vocabulary, logit_bias values, min_tokens against
// max_tokens; the error names the field.
absl::Status ValidateTokenFields(const sampler::SamplingParams& p, int32_t vocab_size);
// A structured-output spec's shape (kind, text, triggers) before it is compiled; the error
// names s.param.
absl::Status ValidateStructured(const StructuredSpec& s, bool have_engine,
                                int64_t max_bytes = int64_t{64} << 10);

// Checks that `s` is valid UTF-8.
bool IsValidUtf8(std::string_view s);
// `s` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD.
std::string ToValidUtf8(std::string_view s);

}  // namespace phx::server
