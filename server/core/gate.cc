#include "server/core/gate.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "base/elapsed.h"
#include "base/strings.h"
#include "server/audit/log_strings.h"
#include "server/core/status_map.h"

namespace phx::server {
namespace {
using Clock = engine::Clock;
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
  int32_t max_priority = 0;
  Clock::time_point arrival;
  // Tokens charged to the key's bucket. Written by one stage at a time (Handle, Start, the
  // admission callbacks, Finished), each ordered after the previous by a lock or the executor.
  double tokens_charged = 0;
  // Written once the request is queued (Handle) or submitted (Start), read by Cancel from any
  // thread: each side stores its own flag before reading the other's, so at least one of them
  // acts on a cancellation.
  std::atomic<uint64_t> ticket{0};
  std::atomic<engine::RequestId> engine_id{0};
  std::atomic<bool> cancelled{false};
  std::string request_id;     // for the audit log: the client's (cut) until the engine assigns one
  bool collect_text = false;  // the output is kept for the response cache or the audit log
  // Delivery to the handler. The engine's callbacks and AbortAll take `deliver_mu` so that the
  // handler sees OnStarted, then tokens, then exactly one OnFinish.
  std::mutex deliver_mu;
  bool started = false;                 // OnStarted was delivered
  bool ended = false;                   // OnFinish was delivered (by the engine or AbortAll)
  std::optional<absl::Status> aborted;  // AbortAll ended it (audited and counted then)
  int32_t prompt_tokens = 0;
  // Set by the engine thread (Sink) under deliver_mu, read after OnFinish.
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
    std::lock_guard<std::mutex> l(c_->deliver_mu);
    if (c_->ended) return;  // aborted: the caller already has its answer
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
      if (c_->collect_text) {
        c_->record.text += e.text;
        if (c_->cache_key) c_->record.tokens.push_back(e);
      }
    }
    c_->handler->OnTokens(id, events);
  }
  void OnEmbedding(engine::RequestId id, std::vector<float> vector) override {
    std::lock_guard<std::mutex> l(c_->deliver_mu);
    if (!c_->ended) c_->handler->OnEmbedding(id, std::move(vector));
  }
  void OnFinish(engine::RequestId id, engine::FinishReason r, const absl::Status& s,
                const engine::Usage& u, const engine::Timing& t, std::string tail) override {
    {
      std::lock_guard<std::mutex> l(c_->deliver_mu);
      if (!c_->ended) {
        c_->ended = true;
        if (c_->collect_text) c_->record.text += tail;
        // Cached before the caller learns the answer, so a repeat it sends next can hit.
        if (c_->cache_key && gate_->cache_ != nullptr && FinishStatus(r, s).ok()) {
          CachedResponse record = c_->record;
          record.finish = r;
          record.usage = u;
          gate_->cache_->Put(*c_->cache_key, std::move(record), Clock::now());
        }
        c_->handler->OnFinish(id, r, s, u, t, std::move(tail));
      }
    }
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
      unauth_audit_(cfg_.audit_unauth_rps, std::max(1.0, 2 * cfg_.audit_unauth_rps), Clock::now()),
      executor_(2),
      tokenize_executor_(2) {}

Gate::~Gate() = default;

Gate::CallId Gate::Handle(ApiRequest req, std::string_view authorization,
                          std::shared_ptr<CallHandler> handler) {
  auto c = std::make_shared<Call>();
  c->id = next_id_++;
  c->req = std::move(req);
  c->handler = std::move(handler);
  c->arrival = Clock::now();
  // Client strings are bounded before anything else looks at them (the full request_id is
  // still validated below).
  c->request_id = ClipForLog(c->req.request_id, kMaxLoggedIdBytes);
  c->req.peer = ClipForLog(c->req.peer, kMaxLoggedPeerBytes);
  c->max_priority = cfg_.max_priority;
  c->collect_text = cache_ != nullptr || (audit_ != nullptr && audit_->include_text());
  {
    std::lock_guard<std::mutex> l(mu_);
    calls_.emplace(c->id, c);
  }
  ++active_;
  // 1. Who is asking.
  const std::shared_ptr<const ApiKeyStore> store = keys_ ? keys_() : nullptr;
  if (store) {
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
    c->max_priority = (*key)->max_priority;
  }
  c->req.key_id = c->key_id;
  // 2. The whole request is valid (everything short of tokenization), before any bucket is
  // touched: a request that would be refused costs its key nothing.
  bool too_long = false;
  if (absl::Status v = fe_.Validate(c->req, &too_long); !v.ok()) {
    Reject(c, v, too_long ? RejectReason::kTooLong : RejectReason::kInvalid, 0);
    return c->id;
  }
  if (c->req.priority > c->max_priority) {
    Reject(c,
           absl::InvalidArgumentError(StrCat(
               "priority ", c->req.priority, " is above the limit ", c->max_priority,
               store ? " of this API key (max_priority in the keys file)" : " (--max-priority)")),
           RejectReason::kInvalid, 0);
    return c->id;
  }
  // 3. Not taking work: answer from the cache or refuse fast (load balancers retry elsewhere).
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
  // 4. Rate limits, before any tokenization: requests, then an estimate of the tokens (in
  // [1, context]), corrected once the prompt is tokenized.
  const Clock::time_point now = Clock::now();
  double retry_after = 0;
  absl::Status s = limiter_.AdmitRequest(c->key_id, c->limits, now, &retry_after);
  if (s.ok()) {
    const double estimate = fe_.EstimateTokens(c->req);
    s = limiter_.ChargeTokens(c->key_id, c->limits, estimate, now, &retry_after);
    if (s.ok()) c->tokens_charged = estimate;
  }
  if (!s.ok()) {
    Reject(c, s, RejectReason::kRateLimit, retry_after);
    return c->id;
  }
  // 5. Global admission: a slot in the engine, or a place in the bounded queue.
  uint64_t ticket = 0;
  const auto res = admission_.Enter(
      c->req.priority, c->req.deadline, [this, c] { Start(c); },
      [this, c](const absl::Status& why) {
        SetCharge(*c, 0);
        Reject(c, why, std::nullopt, 0);
      },
      &ticket, &retry_after);
  c->ticket.store(ticket);
  if (res == AdmissionQueue::Result::kQueued && c->cancelled.load()) {
    admission_.Cancel(ticket);  // cancelled while entering: its reject callback finishes it
  }
  if (res == AdmissionQueue::Result::kRejected) {
    SetCharge(*c, 0);
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
    SetCharge(*c, 0);
    Reject(c, s, why, 0);
  };
  if (c->cancelled) return release(absl::CancelledError("request cancelled"), std::nullopt);
  if (auto a = aborted()) return release(*a, std::nullopt);
  bool too_long = false;
  auto g = fe_.Prepare(c->req, &too_long);
  if (!g.ok()) {
    return release(g.status(), too_long ? RejectReason::kTooLong : RejectReason::kInvalid);
  }
  SetCharge(*c, fe_.ReservedTokens(*g));
  // nullopt for what is never replayed (constrained, n > 1, embeddings, sampled unseeded).
  if (cache_ != nullptr) c->cache_key = ResponseCache::Key(cfg_.model_id, *g);
  Submitted sub = fe_.Describe(c->req, *g);
  std::optional<absl::Status> abort;
  {
    std::lock_guard<std::mutex> l(c->deliver_mu);
    abort = aborted();  // AbortAll ran since the check above and skipped this unstarted call
    if (!abort) {
      c->request_id = sub.request_id;
      c->prompt_tokens = sub.prompt_tokens;
      c->started = true;
      c->handler->OnStarted(sub);
    }
  }
  if (abort) return release(*abort, std::nullopt);
  absl::Status s = fe_.SubmitPrepared(std::move(*g), std::make_shared<Sink>(this, c), &sub);
  if (!s.ok()) {
    bool deliver = false;
    {
      std::lock_guard<std::mutex> l(c->deliver_mu);
      deliver = !c->ended;
      c->ended = true;
    }
    if (!deliver) {  // AbortAll answered and audited it
      admission_.Leave();
      SetCharge(*c, 0);
      return;
    }
    return release(s, RejectReason::kInvalid);
  }
  c->engine_id = sub.engine_id;
  if (c->cancelled) fe_.Cancel(sub.engine_id);
}

bool Gate::TryDegraded(const std::shared_ptr<Call>& c, DegradedReason why) {
  // A constrained answer is never cached: skip the compile Prepare would do.
  // Nor is one choice of several (n > 1): the answer would mix cached and live choices.
  // Nor is an embedding (the cache holds generated text).
  if (!cfg_.degraded_cache || cache_ == nullptr || c->req.prompt_group != 0 || c->req.embed ||
      c->req.structured.kind != StructuredSpec::Kind::kNone) {
    return false;
  }
  auto g = fe_.Prepare(c->req);
  if (!g.ok()) return false;
  const auto key = ResponseCache::Key(cfg_.model_id, *g);
  if (!key) return false;
  auto hit = cache_->Get(*key, Clock::now());
  if (!hit) return false;
  metrics_.Degraded(why);
  const std::string request_id = c->req.request_id.empty() ? fe_.NewRequestId() : c->req.request_id;
  c->request_id = request_id;
  c->handler->OnCached(request_id, *hit);
  metrics_.RequestFinished(c->req.rpc, "OK", SecondsSince(c->arrival));
  c->record.text = hit->text;  // the audit's output (with --audit-include-text)
  Audit(*c, "OK", DegradedReasonName(why), hit->usage, true);
  Take(c->id);
  return true;
}

void Gate::Reject(const std::shared_ptr<Call>& c, const absl::Status& s,
                  std::optional<RejectReason> reason, double retry_after_s) {
  if (reason) metrics_.Rejected(*reason);
  const std::string code = CodeName(s.code());
  metrics_.RequestFinished(c->req.rpc, code, SecondsSince(c->arrival));
  Audit(*c, code, reason ? RejectReasonName(*reason) : std::string(s.message()), {}, false);
  c->handler->OnRejected(s, retry_after_s);
  Take(c->id);
}

void Gate::Finished(const std::shared_ptr<Call>& c, engine::FinishReason r, const absl::Status& s,
                    const engine::Usage& u, const engine::Timing& t) {
  admission_.Leave();
  // Billed for what it used: the prompt once the engine scheduled it, and the tokens generated
  // (a request cancelled while still waiting in the engine used none).
  const bool scheduled = t.first_scheduled != Clock::time_point{};
  SetCharge(*c, (scheduled ? u.prompt_tokens : 0) + static_cast<double>(u.completion_tokens));
  // An embedding's input tokens are counted apart from generation's prompt tokens; both charge
  // the key's one token bucket (above).
  if (c->req.embed) {
    metrics_.EmbeddingTokens(scheduled ? u.prompt_tokens : 0);
  } else {
    metrics_.Tokens(u.prompt_tokens, u.completion_tokens);
  }
  if (c->aborted) return;  // AbortAll answered, counted and audited it
  const absl::Status st = FinishStatus(r, s);
  const double e2e = std::chrono::duration<double>(t.finished - c->arrival).count();
  metrics_.RequestFinished(c->req.rpc, CodeName(st.code()), e2e);
  if (scheduled) {
    metrics_.QueueWait(std::chrono::duration<double>(t.first_scheduled - c->arrival).count());
  }
  if (st.ok() && (cfg_.slo_ttft_s <= 0 || c->ttft <= cfg_.slo_ttft_s) &&
      (cfg_.slo_itl_s <= 0 || c->max_gap <= cfg_.slo_itl_s) &&
      (cfg_.slo_e2e_s <= 0 || e2e <= cfg_.slo_e2e_s)) {
    metrics_.Goodput();
  }
  Audit(*c, CodeName(st.code()), engine::FinishReasonName(r), u, false);
  Take(c->id);
}

void Gate::AbortAll(const absl::Status& why) {
  {
    std::lock_guard<std::mutex> l(mu_);
    aborted_ = why;
  }
  // Queued: rejected with `why` through their reject callbacks (refund, audit, OnRejected).
  admission_.RejectAll(why);
  std::vector<std::shared_ptr<Call>> calls;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, c] : calls_) calls.push_back(c);
  }
  for (const std::shared_ptr<Call>& c : calls) {
    engine::Usage u;
    {
      std::lock_guard<std::mutex> l(c->deliver_mu);
      // Not started: Start (or the admission callbacks) refuse it with `why` themselves.
      if (!c->started || c->ended) continue;
      c->ended = true;
      c->aborted = why;
      c->cancelled = true;
      u.prompt_tokens = c->prompt_tokens;
      u.completion_tokens = c->tokens;
      engine::Timing t;
      t.arrival = c->arrival;
      t.finished = Clock::now();
      c->handler->OnFinish(c->engine_id.load(), engine::FinishReason::kError, why, u, t, "");
    }
    if (const engine::RequestId e = c->engine_id.load(); e != 0) fe_.Cancel(e);
    const std::string code = CodeName(why.code());
    metrics_.RequestFinished(c->req.rpc, code, SecondsSince(c->arrival));
    Audit(*c, code, std::string(why.message()), u, false);
    Take(c->id);
  }
}

std::optional<absl::Status> Gate::aborted() const {
  std::lock_guard<std::mutex> l(mu_);
  return aborted_;
}

void Gate::SetCharge(Call& c, double total) {
  if (!(total >= 0) || !std::isfinite(total)) total = 0;
  const double delta = total - c.tokens_charged;
  c.tokens_charged = total;
  if (delta != 0) limiter_.Adjust(c.key_id, delta, Clock::now());
}

void Gate::Audit(const Call& c, const std::string& code, const std::string& reason,
                 const engine::Usage& u, bool degraded) {
  if (audit_ == nullptr || !ShouldAudit(code)) return;
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
  a.latency_s = SecondsSince(c.arrival);
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
  c->cancelled.store(true);
  if (const uint64_t t = c->ticket.load(); t != 0 && admission_.Cancel(t)) {
    return;  // it was queued: its reject callback finishes it (CANCELLED, refunded)
  }
  if (const engine::RequestId e = c->engine_id.load(); e != 0) fe_.Cancel(e);
}

}  // namespace phx::server
