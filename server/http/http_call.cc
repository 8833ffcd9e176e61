#include "server/http/http_call.h"

#include <cmath>

#include "base/strings.h"
#include "server/core/status_map.h"

namespace phx::server {
namespace {

constexpr auto kHeartbeat = std::chrono::seconds(15);  // SSE comment on an idle stream

}  // namespace

ApiError FromStatus(const absl::Status& s, Endpoint ep) {
  ApiError e{s, ParamOfMessage(ToStd(s.message()), ep), ""};
  switch (HttpStatus(s)) {
    case 401:
      e.code = "invalid_api_key";
      break;
    case 429:
      e.code = "rate_limit_exceeded";
      break;
    default:
      break;
  }
  return e;
}

net::HttpResponse ErrorResponse(const ApiError& e, double retry_after_s) {
  net::HttpResponse r;
  r.status = HttpStatus(e.status);
  if (retry_after_s > 0) {
    r.headers.push_back(
        {"Retry-After", std::to_string(static_cast<int>(std::ceil(retry_after_s)))});
  }
  r.body = Dump(ErrorJson(e));
  return r;
}

HttpCall::HttpCall(Gate& gate, std::shared_ptr<net::Exchange> ex, Options opts)
    : gate_(gate), ex_(std::move(ex)), opts_(std::move(opts)) {}

void HttpCall::SetId(Gate::CallId id) {
  bool cancel = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    id_ = id;
    cancel = cancel_wanted_ && !finished_;
  }
  if (cancel) gate_.Cancel(id);
}

void HttpCall::Cancel() {
  std::optional<Gate::CallId> id;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    tokens_.clear();
    if (finished_ || phase_ == Phase::kRejected || phase_ == Phase::kCached) return;
    cancel_wanted_ = true;
    id = id_;
  }
  if (id) gate_.Cancel(*id);  // a queued request leaves the queue, a running one stops
}

void HttpCall::Abort() { Cancel(); }

void HttpCall::Stop() {
  ex_->Post([self = shared_from_this()] {
    {
      std::lock_guard<std::mutex> l(self->mu_);
      if (self->closed_) return;
    }
    const ApiError e{absl::UnavailableError("server is stopping"), "", ""};
    if (self->stream_) {
      self->ex_->End(StreamEncoder::Error(e));
    } else {
      self->ex_->Respond(ErrorResponse(e));
    }
    self->Cancel();
  });
}

bool HttpCall::done() const {
  std::lock_guard<std::mutex> l(mu_);
  return closed_;
}

bool HttpCall::NeedsFlush() {
  if (flush_posted_ || closed_) return false;
  flush_posted_ = true;
  return true;
}

void HttpCall::PostFlush() {
  ex_->Post([self = shared_from_this()] { self->Flush(); });
}

void HttpCall::OnStarted(const Submitted& s) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    submitted_ = s;
    phase_ = Phase::kStarted;
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;
    tokens_.insert(tokens_.end(), events.begin(), events.end());
    // The last token comes with the finish: flush both at once.
    post = (events.empty() || !events.back().last) && NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                        const engine::Usage& u, const engine::Timing&, std::string tail) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    finished_ = true;
    reason_ = r;
    status_ = FinishStatus(r, s);
    usage_ = u;
    tail_ = std::move(tail);
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnRejected(const absl::Status& s, double retry_after_s) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (phase_ == Phase::kStarted) {
      // Submission failed after OnStarted: the request ends in error.
      finished_ = true;
      reason_ = engine::FinishReason::kError;
      status_ = s;
    } else {
      phase_ = Phase::kRejected;
      rejection_ = s;
      retry_after_s_ = retry_after_s;
    }
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnCached(const std::string& request_id, const CachedResponse& r) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    phase_ = Phase::kCached;
    cached_id_ = request_id;
    cached_ = r;
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::Flush() {
  Phase phase;
  std::vector<engine::TokenEvent> tokens;
  bool finished;
  {
    std::lock_guard<std::mutex> l(mu_);
    flush_posted_ = false;
    if (closed_) return;
    phase = phase_;
    tokens.swap(tokens_);
    finished = finished_;
    if (phase != Phase::kStarted || finished) closed_ = true;  // this flush answers
  }
  switch (phase) {
    case Phase::kWaiting:
      return;
    case Phase::kRejected:
      return ex_->Respond(ErrorResponse(FromStatus(rejection_, opts_.endpoint), retry_after_s_));
    case Phase::kCached:
      return SendCached();
    case Phase::kStarted:
      break;
  }
  if (!begun_) {
    begun_ = true;
    opts_.ctx.id = opts_.id_prefix + submitted_.request_id;
    opts_.ctx.echo = submitted_.prompt_text;
    if (opts_.stream) {
      stream_.emplace(opts_.ctx);
      net::HttpResponse head;
      head.content_type = "text/event-stream";
      head.headers = {{"X-Request-Id", submitted_.request_id},
                      {"Cache-Control", "no-cache"},
                      {"X-Accel-Buffering", "no"}};
      head.body = stream_->Begin();
      ex_->BeginStream(std::move(head), kHeartbeat, ": keep-alive\n\n");
    } else {
      unary_.emplace(opts_.ctx);
    }
  }
  if (opts_.stream) {
    std::string out;
    if (!tokens.empty()) out = stream_->Tokens(tokens);
    if (!finished) {
      if (!out.empty()) ex_->Send(std::move(out));  // false: the connection closes, Abort runs
      return;
    }
    out += status_.ok() ? stream_->End(reason_, usage_, tail_)
                        : StreamEncoder::Error(FromStatus(status_, opts_.endpoint));
    return ex_->End(std::move(out));
  }
  unary_->Add(tokens);
  if (!finished) return;
  if (!status_.ok()) return ex_->Respond(ErrorResponse(FromStatus(status_, opts_.endpoint)));
  net::HttpResponse r;
  r.headers = {{"X-Request-Id", submitted_.request_id}};
  r.body = Dump(unary_->Body(reason_, usage_, tail_));
  ex_->Respond(std::move(r));
}

void HttpCall::SendCached() {
  ResponseContext ctx = opts_.ctx;
  ctx.id = opts_.id_prefix + cached_id_;
  ctx.echo = opts_.echo;
  const CachedResponse& c = cached_;
  size_t token_bytes = 0;
  for (const auto& e : c.tokens) token_bytes += e.text.size();
  const std::string tail = c.text.substr(std::min(c.text.size(), token_bytes));
  net::HttpResponse r;
  r.headers = {{"X-Request-Id", cached_id_}, {"x-phalanx-degraded", "cache"}};
  if (!opts_.stream) {
    ResponseBuilder b(std::move(ctx));
    b.Add(c.tokens);
    r.body = Dump(b.Body(c.finish, c.usage, tail));
    return ex_->Respond(std::move(r));
  }
  StreamEncoder enc(std::move(ctx));
  std::string body = enc.Begin();
  for (const auto& e : c.tokens) body += enc.Tokens({e});  // replayed token by token
  body += enc.End(c.finish, c.usage, tail);
  r.content_type = "text/event-stream";
  r.headers.push_back({"Cache-Control", "no-cache"});
  r.body = std::move(body);
  ex_->Respond(std::move(r));
}

}  // namespace phx::server
