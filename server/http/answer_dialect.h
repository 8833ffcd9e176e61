// Another API's answers on the same HttpCall (Anthropic Messages, OpenAI Responses): its bodies,
// events and error shape for a single-choice request. HttpCall keeps the flow (admission, flushes,
// cancellation on disconnect, the server stopping); the dialect only writes what the client reads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "runtime/engine/request.h"
#include "server/core/frontend.h"
#include "server/http/net/http_types.h"
#include "server/http/openai_json.h"
#include "server/http/openai_response.h"

namespace phx::server {

// One answer, streamed or whole.
class DialectAnswer {
 public:
  virtual ~DialectAnswer() = default;
  // Streaming: the events that open the stream.
  virtual std::string Begin() = 0;
  // Streaming: the events for these tokens ("" when there are none yet); unary: accumulates.
  virtual std::string Tokens(const std::vector<engine::TokenEvent>& events) = 0;
  // Streaming: the closing events; unary: the whole JSON body.
  virtual std::string End(engine::FinishReason r, const engine::Usage& u,
                          const std::string& tail) = 0;
  // Streaming: an error after the stream began (the last events).
  virtual std::string Error(const ApiError& e) = 0;
};

class AnswerDialect {
 public:
  virtual ~AnswerDialect() = default;
  // `ctx.id` is the HttpCall's id prefix and the request id; `s` what the gate submitted.
  virtual std::unique_ptr<DialectAnswer> NewAnswer(ResponseContext ctx, const Submitted& s,
                                                   bool stream) const = 0;
  // An error answered before the stream began.
  virtual net::HttpResponse Error(const ApiError& e, double retry_after_s) const = 0;
  // What an idle stream sends every heartbeat.
  virtual std::string Heartbeat() const = 0;
};

}  // namespace phx::server
