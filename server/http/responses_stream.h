// The Responses API's answer (POST /v1/responses): the response object ({id "resp_...", object
// "response", status completed | incomplete, output items, usage, the echoed request fields})
// and its typed server-sent events (response.created, response.in_progress,
// response.output_item.added, response.content_part.added, response.output_text.delta, ...,
// response.completed or response.incomplete; error and response.failed), each with its
// sequence_number. One state machine builds both: the generated text goes through the chat
// template's reasoning splitter (a reasoning item with reasoning_text content, or with a
// summary_text part when the request asked for reasoning.summary) and the tool-call
// parser (function_call items), as on /v1/chat/completions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/chat/reasoning.h"
#include "runtime/chat/tool_calls.h"
#include "server/http/answer_dialect.h"

namespace phx::server {

class ResponsesEncoder final : public DialectAnswer {
 public:
  // `echo`: ResponsesRequest::echo. ctx.id is "resp_<request id>".
  ResponsesEncoder(const ResponseContext& ctx, nlohmann::json echo, bool stream);

  std::string Begin() override;
  std::string Tokens(const std::vector<engine::TokenEvent>& events) override;
  // Streaming: the closing events; unary: Body's text.
  std::string End(engine::FinishReason r, const engine::Usage& u, const std::string& tail) override;
  // Unary: the response object, after the last tokens and the tail text.
  nlohmann::json Body(engine::FinishReason r, const engine::Usage& u, const std::string& tail);
  std::string Error(const ApiError& e) override;

 private:
  enum class Open { kNone, kReasoning, kMessage, kCall };
  // The response object with `status` and the output so far (usage null when not given).
  nlohmann::json Response(const std::string& status, const nlohmann::json& usage) const;
  // Appends one event (streaming), numbering it.
  void Emit(const std::string& type, nlohmann::json data);
  // Generated text through the reasoning splitter and the tool-call parser.
  void Feed(std::string_view text, bool final);
  void ReasoningDelta(const std::string& text);
  void TextDelta(const std::string& text);
  void CallDelta(const chat::ToolCallStream::CallDelta& c);
  void OpenItem(Open kind, nlohmann::json item);
  void CloseItem();
  // The end of generation: the last text, every item closed; the final status.
  std::string Finish(engine::FinishReason r, const std::string& tail);
  nlohmann::json Usage(const engine::Usage& u) const;

  ResponseContext ctx_;
  nlohmann::json echo_;
  bool stream_;
  // reasoning.summary was given: the reasoning item's text is its summary_text part, streamed
  // as response.reasoning_summary_*; else its reasoning_text content.
  bool summary_;
  std::optional<chat::ReasoningSplitter> splitter_;
  std::optional<chat::ToolCallStream> tools_;
  std::string out_;  // events not yet returned
  int64_t seq_ = 0;
  nlohmann::json output_ = nlohmann::json::array();
  Open open_ = Open::kNone;
  std::string item_text_;   // the open item's text (reasoning, message or arguments)
  std::string pending_ws_;  // white space between items, kept until a message needs it
  std::string item_status_ = "completed";
  int64_t reasoning_tokens_ = 0;
  bool fed_reasoning_ = false, fed_other_ = false;  // what the last Feed produced
  bool last_reasoning_ = false;                     // the last token counted as reasoning
};

// The Responses API on HttpCall: ResponsesEncoder answers, errors in the API's field names
// (RenameParam) and OpenAI's error shape.
class ResponsesDialect final : public AnswerDialect {
 public:
  explicit ResponsesDialect(nlohmann::json echo) : echo_(std::move(echo)) {}
  std::unique_ptr<DialectAnswer> NewAnswer(ResponseContext ctx, const Submitted& s,
                                           bool stream) const override;
  net::HttpResponse Error(const ApiError& e, double retry_after_s) const override;
  std::string Heartbeat() const override { return ": keep-alive\n\n"; }

 private:
  nlohmann::json echo_;
};

}  // namespace phx::server
