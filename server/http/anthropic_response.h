// Anthropic Messages API answers: the message body ({id "msg_...", type "message", content
// blocks thinking / text / tool_use, stop_reason, stop_sequence, usage}), the streamed events
// (message_start, ping, content_block_start / _delta / _stop, message_delta, message_stop, error)
// and the error shape {"type": "error", "error": {"type", "message"}}. The model's text goes
// through the template's reasoning splitter (thinking blocks) and tool-call parser (tool_use
// blocks) as on the chat endpoint; a whole answer is built by the same block machine as a
// stream, so both say the same.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "server/http/answer_dialect.h"

namespace phx::server {

// Anthropic's error type for a status: invalid_request_error (400), authentication_error
// (401), permission_error (403), not_found_error (404), request_too_large (413),
// rate_limit_error (429), overloaded_error (503), timeout_error (504), api_error otherwise.
std::string AnthropicErrorType(const absl::Status& s);
// {"type": "error", "error": {"type", "message"}}.
nlohmann::json AnthropicErrorJson(const ApiError& e);
// The HTTP answer (status from status_map, Retry-After when retry_after_s > 0).
net::HttpResponse AnthropicErrorResponse(const ApiError& e, double retry_after_s = 0);
// "event: <type>\ndata: <json>\n\n".
std::string AnthropicEvent(const nlohmann::json& data);

struct AnthropicOptions {
  std::vector<std::string> stop_sequences;
  // The text of generated token ids (Frontend::Detokenize): which stop sequence ended the
  // answer is read from the text past what was sent. May be empty.
  std::function<std::string(const std::vector<int32_t>&)> detokenize;
};

class AnthropicDialect final : public AnswerDialect {
 public:
  explicit AnthropicDialect(AnthropicOptions o) : opts_(std::move(o)) {}
  std::unique_ptr<DialectAnswer> NewAnswer(ResponseContext ctx, const Submitted& s,
                                           bool stream) const override;
  net::HttpResponse Error(const ApiError& e, double retry_after_s) const override {
    return AnthropicErrorResponse(e, retry_after_s);
  }
  std::string Heartbeat() const override;

 private:
  AnthropicOptions opts_;
};

// "toolu_" and 24 random letters and digits.
std::string NewToolUseId();

// One answer (DialectAnswer): a machine of content blocks fed with the generated text.
class AnthropicAnswer final : public DialectAnswer {
 public:
  AnthropicAnswer(ResponseContext ctx, AnthropicOptions opts, int32_t prompt_tokens, bool stream);
  std::string Begin() override;
  std::string Tokens(const std::vector<engine::TokenEvent>& events) override;
  std::string End(engine::FinishReason r, const engine::Usage& u, const std::string& tail) override;
  std::string Error(const ApiError& e) override { return AnthropicEvent(AnthropicErrorJson(e)); }

 private:
  enum class Kind { kNone, kThinking, kText, kToolUse };
  // Text for a thinking or text block; white space is held back until more text follows it
  // (a block neither starts nor ends with white space).
  void AddText(Kind kind, std::string_view s);
  void OpenBlock(Kind kind, nlohmann::json start);
  void Delta(std::string_view s);
  void CloseBlock();
  // The pending delta of the open block as an event (streaming).
  void FlushDelta();
  void Feed(std::string_view text, bool final);
  nlohmann::json Usage(const engine::Usage& u) const;

  ResponseContext ctx_;
  AnthropicOptions opts_;
  int32_t prompt_tokens_;
  bool stream_;
  std::optional<chat::ToolCallStream> tool_stream_;
  std::string out_;   // streaming: events not returned yet
  std::string sent_;  // the generated text so far (before splitting)
  std::vector<int32_t> ids_;
  Kind kind_ = Kind::kNone;
  int index_ = -1;
  std::string held_;      // white space held back
  std::string delta_;     // streaming: the open block's text not yet in an event
  nlohmann::json block_;  // the open block (whole answers), its text accumulated
  std::string input_;     // the open tool_use block's arguments text
  nlohmann::json content_ = nlohmann::json::array();
  size_t tool_uses_ = 0;
};

}  // namespace phx::server
