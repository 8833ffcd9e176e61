#include "server/http/http_call.h"

#include <algorithm>

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

// Choice i's gate call: forwards its callbacks to the HttpCall.
class HttpCall::ChoiceSink final : public CallHandler {
 public:
  ChoiceSink(std::shared_ptr<HttpCall> call, int i) : call_(std::move(call)), i_(i) {}
  void OnStarted(const Submitted& s) override { call_->OnStarted(i_, s); }
  void OnTokens(engine::RequestId, const std::vector<engine::TokenEvent>& events) override {
    call_->OnTokens(i_, events);
  }
  void OnFinish(engine::RequestId, engine::FinishReason r, const absl::Status& s,
                const engine::Usage& u, const engine::Timing&, std::string tail) override {
    call_->OnFinish(i_, r, s, u, std::move(tail));
  }
  void OnRejected(const absl::Status& s, double retry_after_s) override {
    call_->OnRejected(i_, s, retry_after_s);
  }
  void OnCached(const std::string& request_id, const CachedResponse& r) override {
    call_->OnCached(i_, request_id, r);
  }

 private:
  std::shared_ptr<HttpCall> call_;
  int i_;
};

HttpCall::HttpCall(Gate& gate, std::shared_ptr<net::Exchange> ex, Options opts)
    : gate_(gate), ex_(std::move(ex)), opts_(std::move(opts)) {
  opts_.n = std::max<int32_t>(1, opts_.n);
  choices_.resize(static_cast<size_t>(opts_.n));
  ended_.assign(static_cast<size_t>(opts_.n), false);
}

std::shared_ptr<CallHandler> HttpCall::Sink(int i) {
  return std::make_shared<ChoiceSink>(shared_from_this(), i);
}

void HttpCall::SetId(int i, Gate::CallId id) {
  bool cancel = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    Choice& c = choices_[static_cast<size_t>(i)];
    c.id = id;
    cancel =
        cancel_wanted_ && !c.finished && c.phase != Phase::kRejected && c.phase != Phase::kCached;
  }
  if (cancel) gate_.Cancel(id);
}

void HttpCall::Cancel() {
  std::vector<Gate::CallId> ids;
  {
    std::lock_guard<std::mutex> l(mu_);
    closed_ = true;
    cancel_wanted_ = true;
    for (Choice& c : choices_) {
      c.tokens.clear();
      if (c.finished || c.phase == Phase::kRejected || c.phase == Phase::kCached) continue;
      if (c.id) ids.push_back(*c.id);  // else SetId cancels it
    }
  }
  // A queued request leaves the queue, a running one stops.
  for (Gate::CallId id : ids) gate_.Cancel(id);
}

void HttpCall::Abort() { Cancel(); }

void HttpCall::Stop() {
  ex_->Post([self = shared_from_this()] {
    {
      std::lock_guard<std::mutex> l(self->mu_);
      if (self->closed_) return;
    }
    const ApiError e{absl::UnavailableError("server is stopping"), "", ""};
    if (self->begun_ && self->opts_.stream) {
      self->ex_->End(self->StreamError(e));
    } else {
      self->ex_->Respond(self->Error(e));
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

void HttpCall::OnStarted(int i, const Submitted& s) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    Choice& c = choices_[static_cast<size_t>(i)];
    c.submitted = s;
    c.phase = Phase::kStarted;
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnTokens(int i, const std::vector<engine::TokenEvent>& events) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (closed_) return;
    Choice& c = choices_[static_cast<size_t>(i)];
    c.tokens.insert(c.tokens.end(), events.begin(), events.end());
    // The last token comes with the finish: flush both at once.
    post = (events.empty() || !events.back().last) && NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnFinish(int i, engine::FinishReason r, const absl::Status& s,
                        const engine::Usage& u, std::string tail) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    Choice& c = choices_[static_cast<size_t>(i)];
    c.finished = true;
    c.reason = r;
    c.status = FinishStatus(r, s);
    c.usage = u;
    c.tail = std::move(tail);
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnRejected(int i, const absl::Status& s, double retry_after_s) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    Choice& c = choices_[static_cast<size_t>(i)];
    if (c.phase == Phase::kStarted) {
      // Submission failed after OnStarted: the choice ends in error.
      c.finished = true;
      c.reason = engine::FinishReason::kError;
      c.status = s;
    } else {
      c.phase = Phase::kRejected;
      c.rejection = s;
      c.retry_after_s = retry_after_s;
    }
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

void HttpCall::OnCached(int i, const std::string& request_id, const CachedResponse& r) {
  bool post;
  {
    std::lock_guard<std::mutex> l(mu_);
    Choice& c = choices_[static_cast<size_t>(i)];
    c.phase = Phase::kCached;
    c.cached_id = request_id;
    c.cached = r;
    post = NeedsFlush();
  }
  if (post) PostFlush();
}

engine::Usage HttpCall::TotalUsage(const std::vector<Choice>& snap) {
  engine::Usage u = snap[0].usage;  // the prompt counts once, as OpenAI counts it
  u.completion_tokens = 0;
  for (const Choice& c : snap) u.completion_tokens += c.usage.completion_tokens;
  return u;
}

net::HttpResponse HttpCall::Error(const ApiError& e, double retry_after_s) const {
  return opts_.dialect ? opts_.dialect->Error(e, retry_after_s) : ErrorResponse(e, retry_after_s);
}

std::string HttpCall::StreamError(const ApiError& e) {
  return answer_ ? answer_->Error(e) : StreamEncoder::Error(e);
}

void HttpCall::Begin(const std::vector<Choice>& snap) {
  begun_ = true;
  opts_.ctx.id = opts_.id_prefix + snap[0].submitted.request_id;
  std::string head_body;
  std::string heartbeat = ": keep-alive\n\n";
  if (opts_.dialect) {
    answer_ = opts_.dialect->NewAnswer(opts_.ctx, snap[0].submitted, opts_.stream);
    if (opts_.stream) head_body = answer_->Begin();
    heartbeat = opts_.dialect->Heartbeat();
  }
  for (size_t i = 0; i < snap.size() && !opts_.dialect; ++i) {
    ResponseContext ctx = opts_.ctx;
    ctx.index = static_cast<int>(i);
    ctx.echo = snap[i].submitted.prompt_text;
    if (opts_.stream) {
      stream_.emplace_back(std::move(ctx));
      head_body += stream_.back().Begin();
    } else {
      unary_.emplace_back(std::move(ctx));
    }
  }
  if (!opts_.stream) return;
  net::HttpResponse head;
  head.content_type = "text/event-stream";
  head.headers = {{"X-Request-Id", snap[0].submitted.request_id},
                  {"Cache-Control", "no-cache"},
                  {"X-Accel-Buffering", "no"}};
  head.body = std::move(head_body);
  ex_->BeginStream(std::move(head), kHeartbeat, std::move(heartbeat));
}

void HttpCall::Flush() {
  std::vector<Choice> snap;
  const Choice* rejected = nullptr;
  const Choice* failed = nullptr;  // a choice that ended in error: the answer is that error
  bool all_finished = true;
  {
    std::lock_guard<std::mutex> l(mu_);
    flush_posted_ = false;
    if (closed_) return;
    bool all_started = true;
    bool cached = false;
    for (const Choice& c : choices_) {
      all_started = all_started && c.phase == Phase::kStarted;
      cached = cached || c.phase == Phase::kCached;
    }
    bool any_rejected = false, any_failed = false;
    for (const Choice& c : choices_) {
      any_rejected = any_rejected || c.phase == Phase::kRejected;
      any_failed = any_failed || (c.finished && !c.status.ok());
      all_finished = all_finished && c.finished;
    }
    // The answer begins once every choice reached the engine (a refusal answers at once).
    if (!all_started && !any_rejected && !cached) return;
    snap.resize(choices_.size());
    for (size_t i = 0; i < choices_.size(); ++i) {
      Choice& c = choices_[i];
      Choice& d = snap[i];
      d.phase = c.phase;
      d.submitted = c.submitted;
      d.rejection = c.rejection;
      d.retry_after_s = c.retry_after_s;
      d.cached_id = c.cached_id;
      if (c.phase == Phase::kCached) d.cached = c.cached;
      d.tokens.swap(c.tokens);
      d.finished = c.finished;
      d.reason = c.reason;
      d.status = c.status;
      d.usage = c.usage;
      d.tail = c.tail;
    }
    if (any_rejected || cached || all_finished || any_failed) closed_ = true;  // this answers
  }
  for (const Choice& c : snap) {
    if (c.phase == Phase::kRejected && rejected == nullptr) rejected = &c;
    if (c.finished && !c.status.ok() && failed == nullptr) failed = &c;
  }
  if (rejected != nullptr) {
    // One choice refused (rate limit, queue full, ...): the request is, and the others stop.
    const ApiError e = FromStatus(rejected->rejection, opts_.endpoint);
    if (begun_ && opts_.stream) {
      ex_->End(StreamError(e));
    } else {
      ex_->Respond(Error(e, rejected->retry_after_s));
    }
    return Cancel();
  }
  if (snap[0].phase == Phase::kCached) return SendCached(snap[0].cached_id, snap[0].cached);
  if (!begun_) Begin(snap);
  if (answer_) return FlushDialect(snap[0], failed != nullptr);
  if (opts_.stream) {
    std::string out;
    bool all_ended = true;
    for (size_t i = 0; i < snap.size(); ++i) {
      if (ended_[i]) continue;
      const Choice& c = snap[i];
      if (!c.tokens.empty()) out += stream_[i].Tokens(c.tokens);
      if (!c.finished) {
        all_ended = false;
      } else if (c.status.ok()) {
        out += stream_[i].EndChoice(c.reason, c.tail);
        ended_[i] = true;
      }
    }
    if (failed != nullptr) {
      ex_->End(out + StreamEncoder::Error(FromStatus(failed->status, opts_.endpoint)));
      return Cancel();
    }
    if (all_ended) return ex_->End(out + stream_[0].Close(TotalUsage(snap)));
    if (!out.empty()) ex_->Send(std::move(out));  // false: the connection closes, Abort runs
    return;
  }
  for (size_t i = 0; i < snap.size(); ++i) unary_[i].Add(snap[i].tokens);
  if (failed != nullptr) {
    ex_->Respond(ErrorResponse(FromStatus(failed->status, opts_.endpoint)));
    return Cancel();
  }
  if (!all_finished) return;
  const engine::Usage total = TotalUsage(snap);
  nlohmann::json body = unary_[0].Body(snap[0].reason, total, snap[0].tail);
  for (size_t i = 1; i < snap.size(); ++i) {
    nlohmann::json b = unary_[i].Body(snap[i].reason, total, snap[i].tail);
    body["choices"].push_back(std::move(b["choices"][0]));
  }
  net::HttpResponse r;
  r.headers = {{"X-Request-Id", snap[0].submitted.request_id}};
  r.body = Dump(body);
  ex_->Respond(std::move(r));
}

void HttpCall::FlushDialect(const Choice& c, bool failed) {
  std::string out;
  if (!c.tokens.empty()) out = answer_->Tokens(c.tokens);
  if (failed) {
    const ApiError e = FromStatus(c.status, opts_.endpoint);
    if (opts_.stream) {
      ex_->End(out + StreamError(e));
    } else {
      ex_->Respond(Error(e));
    }
    return Cancel();
  }
  if (c.finished) {
    out += answer_->End(c.reason, c.usage, c.tail);
    if (opts_.stream) return ex_->End(std::move(out));
    net::HttpResponse r;
    r.headers = {{"X-Request-Id", c.submitted.request_id}};
    r.body = std::move(out);
    return ex_->Respond(std::move(r));
  }
  if (opts_.stream && !out.empty()) ex_->Send(std::move(out));
}

void HttpCall::SendCached(const std::string& id, const CachedResponse& c) {
  ResponseContext ctx = opts_.ctx;
  ctx.id = opts_.id_prefix + id;
  ctx.echo = opts_.echo;
  size_t token_bytes = 0;
  for (const auto& e : c.tokens) token_bytes += e.text.size();
  const std::string tail = c.text.substr(std::min(c.text.size(), token_bytes));
  net::HttpResponse r;
  r.headers = {{"X-Request-Id", id}, {"x-phalanx-degraded", "cache"}};
  if (opts_.dialect) {
    Submitted s;
    s.request_id = id;
    s.prompt_tokens = c.usage.prompt_tokens;
    auto a = opts_.dialect->NewAnswer(std::move(ctx), s, opts_.stream);
    std::string body = opts_.stream ? a->Begin() : "";
    for (const auto& e : c.tokens) body += a->Tokens({e});
    body += a->End(c.finish, c.usage, tail);
    if (opts_.stream) {
      r.content_type = "text/event-stream";
      r.headers.push_back({"Cache-Control", "no-cache"});
    }
    r.body = std::move(body);
    return ex_->Respond(std::move(r));
  }
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
