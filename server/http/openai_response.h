// OpenAI API responses: whole completions (text_completion / chat.completion), streamed chunks
// as server-sent events (text_completion / chat.completion.chunk, a usage chunk, [DONE]),
// token log-probabilities in both APIs' shapes, and the error object.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/chat/reasoning.h"
#include "runtime/chat/tool_calls.h"
#include "runtime/engine/request.h"
#include "server/http/net/http_types.h"
#include "server/http/openai_json.h"

namespace phx::server {

// The text of a token as logprobs show it.
using TokenTextFn = std::function<std::string(int32_t)>;

struct ResponseContext {
  bool chat = false;
  int index = 0;   // the choice's index (n > 1: one builder or encoder per choice)
  std::string id;  // "cmpl-..." or "chatcmpl-..."
  int64_t created = 0;
  std::string model;
  bool logprobs = false;
  bool include_usage = false;  // streaming: a usage chunk before [DONE]
  std::string echo;            // completions: the prompt text, put before the output
  TokenTextFn token_text;
  // Chat with a thinking template (chat::ChatRenderer::splits_reasoning): the think block of
  // the answer goes to reasoning_content (message.reasoning_content, delta.reasoning_content).
  std::optional<chat::ReasoningSplitter> reasoning;
  // Chat with tools (tool_choice not none): the answer's content is parsed for tool calls in
  // this format: message.tool_calls / delta.tool_calls, finish_reason "tool_calls".
  std::optional<chat::ToolFormat> tools;
};

// "stop" (EOS or a stop string), "length"; null while unfinished.
nlohmann::json FinishReasonJson(engine::FinishReason r);
nlohmann::json UsageJson(const engine::Usage& u);
// {"error": {"message", "type", "param", "code"}}; type from status_map.
nlohmann::json ErrorJson(const ApiError& e);
// An error answer: `body` with the HTTP status of e.status and, when retry_after_s > 0, a
// Retry-After header (whole seconds, rounded up).
net::HttpResponse ErrorHttpResponse(const ApiError& e, std::string body, double retry_after_s);
// OpenAI's error answer (ErrorJson).
net::HttpResponse ErrorResponse(const ApiError& e, double retry_after_s = 0);
// Serializes without throwing (invalid UTF-8, e.g. a token that is half a character, becomes
// U+FFFD).
std::string Dump(const nlohmann::json& j);
// "data: <json>\n\n".
std::string SseEvent(const nlohmann::json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// Log-probabilities of generated tokens, accumulated in the API's shape: completions'
// {tokens, token_logprobs, top_logprobs, text_offset}, chat's {content: [{token, logprob,
// bytes, top_logprobs}]}.
class LogprobsBuilder {
 public:
  LogprobsBuilder(bool chat, TokenTextFn token_text, size_t text_offset)
      : chat_(chat), token_text_(std::move(token_text)), offset_(text_offset) {}
  void Add(const engine::TokenEvent& e);
  bool empty() const { return count_ == 0; }
  // The accumulated object; Take() also starts a new one (streaming: per chunk).
  nlohmann::json Get() const;
  nlohmann::json Take();

 private:
  void Reset();
  bool chat_;
  TokenTextFn token_text_;
  size_t offset_;
  size_t count_ = 0;
  nlohmann::json tokens_ = nlohmann::json::array(), logprobs_ = nlohmann::json::array(),
                 top_ = nlohmann::json::array(), offsets_ = nlohmann::json::array(),
                 content_ = nlohmann::json::array();
};

// A non-streaming answer: feed the tokens, then Body().
class ResponseBuilder {
 public:
  explicit ResponseBuilder(ResponseContext ctx);
  void Add(const std::vector<engine::TokenEvent>& events);
  nlohmann::json Body(engine::FinishReason r, const engine::Usage& u, const std::string& tail);
  const std::string& text() const { return text_; }

 private:
  ResponseContext ctx_;
  std::string text_;
  LogprobsBuilder logprobs_;
};

// A streaming answer: each call returns the SSE text to send.
class StreamEncoder {
 public:
  explicit StreamEncoder(ResponseContext ctx);
  // The opening chunk: chat's {"role": "assistant"} delta; completions' echoed prompt.
  std::string Begin();
  // One chunk per event with text (or log-probabilities); "" when there is nothing.
  std::string Tokens(const std::vector<engine::TokenEvent>& events);
  // The final chunk with finish_reason (and the tail text), the usage chunk, [DONE].
  std::string End(engine::FinishReason r, const engine::Usage& u, const std::string& tail);
  // End in two parts, for n > 1 choices: each choice's final chunk, then (once, after the last
  // choice) the usage chunk and [DONE].
  std::string EndChoice(engine::FinishReason r, const std::string& tail);
  std::string Close(const engine::Usage& u) const;
  // An error after the stream began: an error event, then [DONE].
  static std::string Error(const ApiError& e);

 private:
  nlohmann::json Chunk(const chat::ReasoningSplitter::Delta& text, const nlohmann::json& finish,
                       const nlohmann::json& logprobs, bool role,
                       const nlohmann::json& tool_calls = nullptr) const;
  // Content through the tool-call parser (when tools are on): the content left, and the
  // delta.tool_calls entries (null when none).
  nlohmann::json ToolDeltas(chat::ReasoningSplitter::Delta* d, bool final);
  // Chat text through the reasoning splitter (when there is one).
  chat::ReasoningSplitter::Delta Split(const std::string& text, bool final);
  ResponseContext ctx_;
  LogprobsBuilder logprobs_;
  std::optional<chat::ToolCallStream> tool_stream_;
  std::vector<std::string> tool_ids_;
};

}  // namespace phx::server
