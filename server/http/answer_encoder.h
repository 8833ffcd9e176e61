// An answer in the shape of an API other than OpenAI's completions and chat completions (the
// Responses API, ...), for HttpCall: the engine's tokens in, a JSON body or server-sent events
// out. One per request (n = 1). Not thread-safe: HttpCall drives it from the connection's strand.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/engine/request.h"
#include "server/http/openai_json.h"
#include "server/http/openai_response.h"

namespace phx::server {

class AnswerEncoder {
 public:
  virtual ~AnswerEncoder() = default;
  // Streaming: the opening events (sent with the response head).
  virtual std::string Begin() = 0;
  // The next tokens; streaming: the events they make ("" when none). Unary answers feed their
  // tokens through this too and ignore what it returns.
  virtual std::string Tokens(const std::vector<engine::TokenEvent>& events) = 0;
  // Streaming: the closing events, after the last tokens and the tail text.
  virtual std::string End(engine::FinishReason r, const engine::Usage& u,
                          const std::string& tail) = 0;
  // Unary: the answer's body, after the last tokens and the tail text.
  virtual nlohmann::json Body(engine::FinishReason r, const engine::Usage& u,
                              const std::string& tail) = 0;
  // Streaming: an error after the stream began (the last events sent).
  virtual std::string Error(const ApiError& e) = 0;
};

// Makes a request's encoder from its context (id, model, reasoning splitter, tool format).
using AnswerEncoderFactory = std::function<std::unique_ptr<AnswerEncoder>(const ResponseContext&)>;

}  // namespace phx::server
