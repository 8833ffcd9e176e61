// What a caller gives the engine (GenerateRequest) and how results come back (TokenSink).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/engine/reasoning_budget.h"
#include "runtime/sampler/params.h"
#include "runtime/sampler/sampler.h"

namespace phx::grammar {
class CompiledGrammar;  // runtime/grammar/matcher.h
}

namespace phx::engine {

using Clock = std::chrono::steady_clock;
using RequestId = uint64_t;

// Constrained decoding (runtime/grammar): which tokens a request may produce. The engine keeps a
// grammar::Matcher per sequence, masks the logits before sampling, allows end-of-generation only
// where the grammar accepts, and ends the request (kStop) once the grammar admits nothing more.
struct Constraint {
  std::shared_ptr<const grammar::CompiledGrammar> grammar;  // null: unconstrained
  // A lazy grammar (tools with tool_choice "auto"): generation is free until the output text
  // contains one of these strings; from the first byte of that trigger on, the grammar applies
  // (the trigger text itself is fed to the matcher) to the end. Empty: from the first token.
  std::vector<std::string> triggers;
};

struct GenerateRequest {
  std::string client_id;        // echoed back; the server fills one in when empty
  std::vector<int32_t> prompt;  // token ids (BOS included when wanted)
  sampler::SamplingParams sampling;
  Constraint constraint;
  int32_t priority = 0;  // higher runs first
  std::optional<Clock::time_point> deadline;
  // Several sequences of one prompt (OpenAI's `n`): requests with the same nonzero group
  // (and the same prompt) share its KV blocks. The group's lowest-id live request leads; the
  // others are not admitted while the leader has not computed its prompt, then the prefix cache
  // hands them every full prompt block and only the last partial block is computed again. A
  // leader that ends first (finished, cancelled, failed) hands the lead to the next one, so no
  // copy waits on a request that is gone. The caller picks groups unique per engine.
  uint64_t prompt_group = 0;
  // A reasoning model's thinking budget (reasoning_budget.h): once the think block holds
  // max_tokens tokens, the next tokens are forced to the close sequence (not sampled; logprob
  // 0, no top alternatives; never a stop: stop strings and stop_token_ids do not apply to
  // them), then sampling goes on for the answer. Forced tokens count toward max_tokens. Not
  // applied while a grammar is in force (a lazy grammar before its trigger is not).
  ReasoningBudget reasoning;
  // An embedding instead of a continuation: the prompt (the input's token ids) runs through the
  // model, its final hidden states are pooled (Engine::embedding_pooling()) and the vector comes
  // back through TokenSink::OnEmbedding, followed by OnFinish(kStop). Nothing is sampled or
  // decoded (sampling and constraint are ignored); the KV blocks are freed in the same step.
  // Scheduled with generation in the same steps (a long input of a causal model in chunks).
  bool embed = false;
};

enum class FinishReason { kNone, kLength, kStop, kEos, kCancelled, kDeadline, kError };
const char* FinishReasonName(FinishReason r);

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_prompt_tokens = 0;  // prompt tokens served by the prefix cache
};

struct Timing {
  Clock::time_point arrival;
  Clock::time_point first_scheduled;  // left the queue
  Clock::time_point first_token;
  Clock::time_point finished;
  double queue_seconds() const;
  double ttft_seconds() const;
  double total_seconds() const;
};

// One generated token as delivered to the caller.
struct TokenEvent {
  int32_t token = -1;
  std::string text;     // newly completed text (may be empty: held-back UTF-8/stop prefix)
  float logprob = 0.f;  // when logprobs were requested
  std::vector<sampler::TokenLogprob> top;
  // The request's last token: OnFinish follows at once on the same thread, so a sink can hold
  // this one back and deliver it together with the finish.
  bool last = false;
};

// Receives a request's results. Called from the engine thread: implementations must not block.
class TokenSink {
 public:
  virtual ~TokenSink() = default;
  virtual void OnTokens(RequestId id, const std::vector<TokenEvent>& events) = 0;
  // An embedding request's pooled vector [n_embd] (not normalized), just before its OnFinish.
  virtual void OnEmbedding(RequestId id, std::vector<float> vector) {}
  // Exactly once per request. `status` is OK unless reason is kError.
  virtual void OnFinish(RequestId id, FinishReason reason, const absl::Status& status,
                        const Usage& usage, const Timing& timing, std::string tail_text) = 0;
};

}  // namespace phx::engine
