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
#include "server/http/net/http_types.h"
#include "server/http/openai_json.h"
#include "server/http/openai_response.h"

namespace phx::server {

// An error status from the gate or the engine as the API reports it.
ApiError FromStatus(const absl::Status& s, Endpoint ep);
// The HTTP answer for an API error (Retry-After when retry_after_s > 0).
net::HttpResponse ErrorResponse(const ApiError& e, double retry_after_s = 0);

class HttpCall final : public CallHandler, public std::enable_shared_from_this<HttpCall> {
 public:
  struct Options {
    Endpoint endpoint = Endpoint::kCompletions;
    bool stream = false;
    ResponseContext ctx;    // id filled in at the start (prefix + request id)
    std::string id_prefix;  // "cmpl-" or "chatcmpl-"
    std::string echo;       // for a cached answer
  };
  HttpCall(Gate& gate, std::shared_ptr<net::Exchange> ex, Options opts);

  // Gate::Handle returned this call's id.
  void SetId(Gate::CallId id);
  // The connection closed before the answer was complete: cancel the request.
  void Abort();
  // The server stops: a 503, or an error event on a stream that began; cancels the request.
  void Stop();
  // The answer is complete (or the call was aborted or stopped).
  bool done() const;

  void OnStarted(const Submitted& s) override;
  void OnTokens(engine::RequestId id, const std::vector<engine::TokenEvent>& events) override;
  void OnFinish(engine::RequestId id, engine::FinishReason r, const absl::Status& s,
                const engine::Usage& u, const engine::Timing& t, std::string tail) override;
  void OnRejected(const absl::Status& s, double retry_after_s) override;
  void OnCached(const std::string& request_id, const CachedResponse& r) override;

 private:
  enum class Phase { kWaiting, kStarted, kRejected, kCached };
  // Under mu_: posts a flush unless one is pending. Call ScheduleFlush's result outside mu_.
  bool NeedsFlush();
  void PostFlush();
  void Flush();  // on the strand
  void SendCached();
  void Cancel();

  Gate& gate_;
  std::shared_ptr<net::Exchange> ex_;
  Options opts_;

  mutable std::mutex mu_;
  Phase phase_ = Phase::kWaiting;
  bool flush_posted_ = false;
  bool closed_ = false;  // aborted, stopped or answered: later events are dropped
  bool cancel_wanted_ = false;
  std::optional<Gate::CallId> id_;
  Submitted submitted_;
  absl::Status rejection_;
  double retry_after_s_ = 0;
  std::string cached_id_;
  CachedResponse cached_;
  std::vector<engine::TokenEvent> tokens_;
  bool finished_ = false;
  engine::FinishReason reason_ = engine::FinishReason::kNone;
  absl::Status status_;
  engine::Usage usage_;
  std::string tail_;

  // Strand only.
  bool begun_ = false;  // the start was handled (stream head sent)
  std::optional<ResponseBuilder> unary_;
  std::optional<StreamEncoder> stream_;
};

}  // namespace phx::server
