#include "server/core/gate.h"

#include <optional>

#include "base/strings.h"
#include "server/core/status_map.h"

namespace phx::server {
namespace {

using Clock = engine::Clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

absl::Status FinishStatus(engine::FinishReason r, const absl::Status& s) {
  switch (r) {
    case engine::FinishReason::kCancelled:
      return absl::CancelledError("request cancelled");
    case engine::FinishReason::kDeadline:
      return absl::DeadlineExceededError("deadline exceeded");
    case engine::FinishReason::kError:
      return s.ok() ? absl::InternalError("generation failed") : s;
    default:
      return absl::OkStatus();
  }
}

struct Gate::Call {
  CallId id = 0;
  ApiRequest req;
  std::shared_ptr<CallHandler> handler;
  std::string key_id;
  KeyLimits limits;
  Clock::time_point arrival;
  double tokens_charged = 0;
  uint64_t ticket = 0;
  std::atomic<engine::RequestId> engine_id{0};
  std::atomic<bool> cancelled{false};
  std::string request_id;
  // Set by the engine thread (Sink), read after OnFinish.
  int tokens = 0;
  Clock::time_point last_token{};
  double ttft = 0, max_gap = 0;
  std::optional<std::string> cache_key;
  CachedResponse record;
};

// Engine -> handler, measuring tokens on the way.
class Gate::Sink final : public engine::TokenSink {
 public:
  Sink(Gate* gate, std::shared_ptr<Call> c) : gate_(gate), c_(std::move(c)) {}
  void OnTokens(engine::RequestId id, const std::vector<engine::TokenEvent>& events) override {
    const Clock::time_point now = Clock::now();
    for (const auto& e : events) {
      if (c_->tokens++ == 0) {
        c_->ttft = std::chrono::duration<double>(now - c_->arrival).count();
        gate_->metrics_.FirstToken(c_->ttft);
      } else {
        const double gap = std::chrono::duration<double>(now - c_->last_token).count();
        c_->max_gap = std::max(c_->max_gap, gap);
        gate_->metrics_.InterToken(gap);
      }
      c_->last_token = now;
      if (c_->cache_key) {
        c_->record.text += e.text;
        c_->record.tokens.push_back(e);
      }
    }
    c_->handler->OnTokens(id, events);
  }
  void OnFinish(engine::RequestId id, engine::FinishReason r, const absl::Status& s,
                const engine::Usage& u, const engine::Timing& t, std::string tail) override {
    if (c_->cache_key) c_->record.text += tail;
    c_->handler->OnFinish(id, r, s, u, t, std::move(tail));
    // Bookkeeping (and starting queued requests, which tokenizes them) off the engine thread.
    gate_->executor_.Post([g = gate_, c = c_, r, s, u, t] { g->Finished(c, r, s, u, t); });
  }

 private:
  Gate* gate_;
  std::shared_ptr<Call> c_;
};

Gate::Gate(Frontend& fe, Metrics& metrics, RateLimiter& limiter, AdmissionQueue& admission,
           ResponseCache* cache, AuditLog* audit, KeyStoreProvider keys, GateConfig cfg)
    : fe_(fe),
      metrics_(metrics),
      limiter_(limiter),
      admission_(admission),
      cache_(cache),
      audit_(audit),
      keys_(std::move(keys)),
      cfg_(std::move(cfg)),
      executor_(2) {}

Gate::~Gate() = default;

absl::StatusOr<std::string> Gate::Authenticate(std::string_view authorization) {
  std::shared_ptr<const ApiKeyStore> store = keys_ ? keys_() : nullptr;
  if (!store) return std::string();
  const auto bearer = ParseBearer(authorization);
  if (!bearer) {
    return absl::UnauthenticatedError("missing API key: send 'authorization: Bearer <key>'");
  }
  auto key = store->Authenticate(*bearer);
  if (!key.ok()) return key.status();
  return (*key)->id;
}

Gate::CallId Gate::Handle(ApiRequest req, std::string_view authorization,
                          std::shared_ptr<CallHandler> handler) {
  auto c = std::make_shared<Call>();
  c->id = next_id_++;
  c->req = std::move(req);
  c->handler = std::move(handler);
  c->arrival = Clock::now();
  c->request_id = c->req.request_id;
  {
    std::lock_guard<std::mutex> l(mu_);
    calls_.emplace(c->id, c);
  }
  ++active_;
  // 1. Who is asking.
  if (std::shared_ptr<const ApiKeyStore> store = keys_ ? keys_() : nullptr) {
    const auto bearer = ParseBearer(authorization);
    auto key = bearer ? store->Authenticate(*bearer)
                      : absl::StatusOr<const ApiKey*>(absl::UnauthenticatedError(
                            "missing API key: send 'authorization: Bearer <key>'"));
    if (!key.ok()) {
      Reject(c, key.status(), RejectReason::kUnauthenticated, 0);
      return c->id;
    }
    c->key_id = (*key)->id;
    c->limits = (*key)->limits;
  }
  c->req.key_id = c->key_id;
  // 2. Not taking work: answer from the cache or refuse fast (load balancers retry elsewhere).
  if (draining_) {
    if (!TryDegraded(c, DegradedReason::kDraining)) {
      Reject(c, absl::UnavailableError("server is draining"), RejectReason::kDraining, 0);
    }
    return c->id;
  }
  if (fe_.engine().failed()) {
    if (!TryDegraded(c, DegradedReason::kEngineFailed)) {
      Reject(c,
             absl::UnavailableError(StrCat("engine failed: ", fe_.engine().last_error().message())),
             std::nullopt, 0);
    }
    return c->id;
  }
  // 3. Rate limits, before any tokenization: requests, then an estimate of the tokens
  // (prompt bytes / 4 + max_tokens), corrected once the prompt is tokenized.
  const Clock::time_point now = Clock::now();
  double retry_after = 0;
  absl::Status s = limiter_.AdmitRequest(c->key_id, c->limits, now, &retry_after);
  if (s.ok()) {
    const double estimate = (c->req.has_text ? static_cast<double>(c->req.text.size()) / 4 + 1
                                             : static_cast<double>(c->req.token_ids.size())) +
                            c->req.sampling.max_tokens;
    s = limiter_.ChargeTokens(c->key_id, c->limits, estimate, now, &retry_after);
    if (s.ok()) c->tokens_charged = estimate;
  }
  if (!s.ok()) {
    Reject(c, s, RejectReason::kRateLimit, retry_after);
    return c->id;
  }
  // 4. Global admission: a slot in the engine, or a place in the bounded queue.
  const auto res = admission_.Enter(
      c->req.priority, c->req.deadline, [this, c] { Start(c); },
      [this, c](const absl::Status& why) {
        limiter_.Adjust(c->key_id, -c->tokens_charged, Clock::now());
        Reject(c, why, std::nullopt, 0);
      },
      &c->ticket, &retry_after);
  if (res == AdmissionQueue::Result::kRejected) {
    limiter_.Adjust(c->key_id, -c->tokens_charged, Clock::now());
    if (!TryDegraded(c, DegradedReason::kOverload)) {
      Reject(c,
             absl::ResourceExhaustedError(StrCat("server overloaded: ", admission_.queued(),
                                                 " requests queued; retry after ",
                                                 static_cast<int>(std::ceil(retry_after)), " s")),
             RejectReason::kQueueFull, retry_after);
    }
  }
  return c->id;
}

void Gate::Start(const std::shared_ptr<Call>& c) {
  auto release = [&](const absl::Status& s, std::optional<RejectReason> why) {
    admission_.Leave();
    limiter_.Adjust(c->key_id, -c->tokens_charged, Clock::now());
    Reject(c, s, why, 0);
  };
  if (c->cancelled) return release(absl::CancelledError("request cancelled"), std::nullopt);
  bool too_long = false;
  auto g = fe_.Prepare(c->req, &too_long);
  if (!g.ok()) {
    return release(g.status(), too_long ? RejectReason::kTooLong : RejectReason::kInvalid);
  }
  const double actual = static_cast<double>(g->prompt.size()) + g->sampling.max_tokens;
  limiter_.Adjust(c->key_id, actual - c->tokens_charged, Clock::now());
  c->tokens_charged = actual;
  if (cache_ != nullptr) c->cache_key = ResponseCache::Key(cfg_.model_id, g->prompt, g->sampling);
  Submitted sub = fe_.Describe(c->req, *g);
  c->request_id = sub.request_id;
  c->handler->OnStarted(sub);
  absl::Status s = fe_.SubmitPrepared(std::move(*g), std::make_shared<Sink>(this, c), &sub);
  if (!s.ok()) return release(s, RejectReason::kInvalid);
  c->engine_id = sub.engine_id;
  if (c->cancelled) fe_.Cancel(sub.engine_id);
}

bool Gate::TryDegraded(const std::shared_ptr<Call>& c, DegradedReason why) {
  if (!cfg_.degraded_cache || cache_ == nullptr) return false;
  auto g = fe_.Prepare(c->req);
  if (!g.ok()) return false;
  const auto key = ResponseCache::Key(cfg_.model_id, g->prompt, g->sampling);
  if (!key) return false;
  auto hit = cache_->Get(*key, Clock::now());
  if (!hit) return false;
  metrics_.Degraded(why);
  const std::string request_id = c->req.request_id.empty() ? fe_.NewRequestId() : c->req.request_id;
  c->request_id = request_id;
  c->handler->OnCached(request_id, *hit);
  metrics_.RequestFinished(c->req.rpc, "OK", Since(c->arrival));
  Audit(*c, "OK", DegradedReasonName(why), hit->usage, true);
  Take(c->id);
  return true;
}

void Gate::Reject(const std::shared_ptr<Call>& c, const absl::Status& s,
                  std::optional<RejectReason> reason, double retry_after_s) {
  if (reason) metrics_.Rejected(*reason);
  const std::string code = CodeName(s.code());
  metrics_.RequestFinished(c->req.rpc, code, Since(c->arrival));
  Audit(*c, code, reason ? RejectReasonName(*reason) : std::string(s.message()), {}, false);
  c->handler->OnRejected(s, retry_after_s);
  Take(c->id);
}

void Gate::Finished(const std::shared_ptr<Call>& c, engine::FinishReason r, const absl::Status& s,
                    const engine::Usage& u, const engine::Timing& t) {
  admission_.Leave();
  const double used = static_cast<double>(u.prompt_tokens + u.completion_tokens);
  limiter_.Adjust(c->key_id, used - c->tokens_charged, Clock::now());
  const absl::Status st = FinishStatus(r, s);
  const double e2e = std::chrono::duration<double>(t.finished - c->arrival).count();
  metrics_.RequestFinished(c->req.rpc, CodeName(st.code()), e2e);
  metrics_.Tokens(u.prompt_tokens, u.completion_tokens);
  if (t.first_scheduled != Clock::time_point{}) {
    metrics_.QueueWait(std::chrono::duration<double>(t.first_scheduled - c->arrival).count());
  }
  if (st.ok() && (cfg_.slo_ttft_s <= 0 || c->ttft <= cfg_.slo_ttft_s) &&
      (cfg_.slo_itl_s <= 0 || c->max_gap <= cfg_.slo_itl_s) &&
      (cfg_.slo_e2e_s <= 0 || e2e <= cfg_.slo_e2e_s)) {
    metrics_.Goodput();
  }
  if (st.ok() && c->cache_key && cache_ != nullptr) {
    c->record.finish = r;
    c->record.usage = u;
    cache_->Put(*c->cache_key, std::move(c->record), Clock::now());
  }
  Audit(*c, CodeName(st.code()), engine::FinishReasonName(r), u, false);
  Take(c->id);
}

void Gate::Audit(const Call& c, const std::string& code, const std::string& reason,
                 const engine::Usage& u, bool degraded) {
  if (audit_ == nullptr) return;
  AuditRecord a;
  a.request_id = c.request_id;
  a.key_id = c.key_id;
  a.peer = c.req.peer;
  a.rpc = c.req.rpc;
  a.status = code;
  a.reason = reason;
  a.prompt_tokens = u.prompt_tokens;
  a.completion_tokens = u.completion_tokens;
  a.cached_prompt_tokens = u.cached_prompt_tokens;
  a.latency_s = Since(c.arrival);
  a.degraded = degraded;
  a.prompt = c.req.has_text ? c.req.text : StrJoin(c.req.token_ids, " ");
  a.output = c.record.text;
  audit_->Write(a);
}

std::shared_ptr<Gate::Call> Gate::Take(CallId id) {
  std::shared_ptr<Call> c;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return nullptr;
    c = std::move(it->second);
    calls_.erase(it);
  }
  --active_;
  return c;
}

void Gate::Cancel(CallId id) {
  std::shared_ptr<Call> c;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    c = it->second;
  }
  c->cancelled = true;
  if (c->ticket != 0 && admission_.Cancel(c->ticket)) return;  // its reject callback finishes it
  if (const engine::RequestId e = c->engine_id.load(); e != 0) fe_.Cancel(e);
}

void Gate::RecordSimpleCall(const std::string& rpc, const std::string& key_id,
                            const std::string& peer, const absl::Status& status, double seconds) {
  const std::string code = CodeName(status.code());
  metrics_.RequestFinished(rpc, code, seconds);
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    metrics_.Rejected(RejectReason::kUnauthenticated);
  }
  if (audit_ == nullptr) return;
  AuditRecord a;
  a.key_id = key_id;
  a.peer = peer;
  a.rpc = rpc;
  a.status = code;
  a.latency_s = seconds;
  audit_->Write(a);
}

absl::Status Gate::Feedback(std::string_view authorization, const std::string& peer,
                            const std::string& request_id, int rating, const std::string& comment) {
  const Clock::time_point t0 = Clock::now();
  auto key = Authenticate(authorization);
  absl::Status s = key.status();
  if (s.ok()) {
    if (rating < -1 || rating > 1) {
      s = absl::InvalidArgumentError("rating must be -1, 0 or 1");
    } else if (request_id.empty() || request_id.size() > 128) {
      s = absl::InvalidArgumentError("request_id must be 1..128 bytes");
    } else if (comment.size() > 4096 || !IsValidUtf8(comment)) {
      s = absl::InvalidArgumentError("comment must be valid UTF-8 of at most 4096 bytes");
    }
  }
  if (s.ok()) metrics_.Feedback(rating);
  if (s.code() == absl::StatusCode::kUnauthenticated)
    metrics_.Rejected(RejectReason::kUnauthenticated);
  metrics_.RequestFinished("SubmitFeedback", CodeName(s.code()), Since(t0));
  if (audit_ != nullptr) {
    AuditRecord a;
    a.request_id = request_id;
    a.key_id = key.ok() ? *key : "";
    a.peer = peer;
    a.rpc = "SubmitFeedback";
    a.status = CodeName(s.code());
    a.rating = rating;
    a.comment = comment;
    a.latency_s = Since(t0);
    audit_->Write(a);
  }
  return s;
}

}  // namespace phx::server
