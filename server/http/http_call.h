// One generation request of the HTTP API as the Gate sees it: a CallHandler whose callbacks
// (engine and gate threads; they never block) record what happened under a mutex and post one
// flush at a time to the connection's strand, which turns it into the answer: a JSON body, an
// error, or server-sent events (tokens coalesced per flush, a heartbeat comment on idle
// streams). A client that goes away (reset, FIN, or a stream whose unread bytes pass the cap)
// cancels the request through Gate::Cancel whether it is queued or running; the server
// stopping ends it with a 503 or an SSE error event. No thread waits for a call.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/core/gate.h"
#include "server/http/answer_dialect.h"
#include "server/http/net/http_types.h"
#include "server/http/openai_json.h"
#include "server/http/openai_response.h"

namespace phx::server {

// An error status from the gate or the engine as the API reports it.
ApiError FromStatus(const absl::Status& s, Endpoint ep);

class HttpCall final : public std::enable_shared_from_this<HttpCall> {
 public:
  struct Options {
    Endpoint endpoint = Endpoint::kCompletions;
    bool stream = false;
    ResponseContext ctx;    // id filled in at the start (prefix + request id)
    std::string id_prefix;  // "cmpl-" or "chatcmpl-"
    std::string echo;       // for a cached answer
    int32_t n = 1;          // choices: one gate call each (Sink(i))
    // Another API's answer shapes (n must be 1); null: OpenAI's.
    std::shared_ptr<const AnswerDialect> dialect;
  };
  HttpCall(Gate& gate, std::shared_ptr<net::Exchange> ex, Options opts);

  // The handler of choice i's gate call (0 <= i < n).
  std::shared_ptr<CallHandler> Sink(int i);
  // Gate::Handle returned choice i's call id.
  void SetId(int i, Gate::CallId id);
  // The connection closed before the answer was complete: cancel every choice.
  void Abort();
  // The server stops: a 503, or an error event on a stream that began; cancels the request.
  void Stop();
  // The answer is complete (or the call was aborted or stopped).
  bool done() const;

 private:
  class ChoiceSink;
  enum class Phase { kWaiting, kStarted, kRejected, kCached };
  // One choice's gate call, as its callbacks recorded it (under mu_).
  struct Choice {
    Phase phase = Phase::kWaiting;
    std::optional<Gate::CallId> id;
    Submitted submitted;
    absl::Status rejection;
    double retry_after_s = 0;
    std::string cached_id;
    CachedResponse cached;
    std::vector<engine::TokenEvent> tokens;
    bool finished = false;
    engine::FinishReason reason = engine::FinishReason::kNone;
    absl::Status status;
    engine::Usage usage;
    std::string tail;
  };
  // Callbacks of choice i (ChoiceSink).
  void OnStarted(int i, const Submitted& s);
  void OnTokens(int i, const std::vector<engine::TokenEvent>& events);
  void OnFinish(int i, engine::FinishReason r, const absl::Status& s, const engine::Usage& u,
                std::string tail);
  void OnRejected(int i, const absl::Status& s, double retry_after_s);
  void OnCached(int i, const std::string& request_id, const CachedResponse& r);
  // Under mu_: posts a flush unless one is pending. Call PostFlush outside mu_ when true.
  bool NeedsFlush();
  void PostFlush();
  void Flush();  // on the strand
  void Begin(const std::vector<Choice>& snap);
  void SendCached(const std::string& id, const CachedResponse& c);
  void Cancel();
  // The answer to an error, in the dialect's shape when there is one.
  net::HttpResponse Error(const ApiError& e, double retry_after_s = 0) const;
  std::string StreamError(const ApiError& e);
  // Flush's end for a dialect's answer (choice 0 only).
  void FlushDialect(const Choice& c, bool failed);
  // Usage of the whole answer: the prompt once, completion tokens summed over the choices.
  static engine::Usage TotalUsage(const std::vector<Choice>& snap);

  Gate& gate_;
  std::shared_ptr<net::Exchange> ex_;
  Options opts_;

  mutable std::mutex mu_;
  bool flush_posted_ = false;
  bool closed_ = false;  // aborted, stopped or answered: later events are dropped
  bool cancel_wanted_ = false;
  std::vector<Choice> choices_;

  // Strand only.
  bool begun_ = false;  // the start was handled (stream head sent)
  std::vector<ResponseBuilder> unary_;
  std::vector<StreamEncoder> stream_;
  std::vector<bool> ended_;                // streaming: choice i's final chunk was sent
  std::unique_ptr<DialectAnswer> answer_;  // with a dialect
};

}  // namespace phx::server
