// The request pipeline shared by gRPC and HTTP: authentication, validation of every field that
// needs no tokenization (priority against the key's cap included), drain and engine-failure
// checks, per-key rate limits and global admission (all before tokenization), tokenization,
// submission to the engine, the degraded-mode response cache, metrics and the audit log.
// Transports hand a request and a CallHandler in and get exactly one terminal callback out:
// OnRejected, OnCached, or the TokenSink's OnFinish after OnStarted. Client strings are cut to
// the bounds of server/audit/log_strings.h on arrival, before authentication.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/admission/admission_queue.h"
#include "server/admission/rate_limiter.h"
#include "server/audit/audit_log.h"
#include "server/auth/api_keys.h"
#include "server/cache/response_cache.h"
#include "server/core/executor.h"
#include "server/core/frontend.h"
#include "server/metrics/metrics.h"

namespace phx::server {

class CallHandler : public engine::TokenSink {
 public:
  // The request reached the engine (tokens and OnFinish follow).
  virtual void OnStarted(const Submitted& s) = 0;
  // Refused without generating; retry_after_s > 0 when the caller should retry after it.
  virtual void OnRejected(const absl::Status& s, double retry_after_s) = 0;
  // Answered from the response cache in degraded mode.
  virtual void OnCached(const std::string& request_id, const CachedResponse& r) = 0;
};

struct GateConfig {
  bool degraded_cache = true;
  double slo_ttft_s = 0, slo_itl_s = 0, slo_e2e_s = 0;  // goodput; 0 = not checked
  std::string model_id;                                 // response-cache key component
  // With authentication off: the highest priority a request may ask for (--max-priority).
  // With API keys, each key's max_priority applies instead.
  int32_t max_priority = 0;
  // Unauthenticated failures written to the audit log per second (burst: 2 s worth); the rest
  // are counted in phalanx_audit_records_suppressed_total. 0: no limit.
  double audit_unauth_rps = 10;
  // Tokenize calls queued or running at once; more are refused with RESOURCE_EXHAUSTED.
  int max_tokenize_pending = 64;
};

// The status a finished generation ends with: OK for length/stop/eos, CANCELLED, DEADLINE_EXCEEDED,
// or the engine's error. Every transport reports this one mapping.
absl::Status FinishStatus(engine::FinishReason r, const absl::Status& s);

// The live API-key store (swapped on SIGHUP); null when authentication is off.
using KeyStoreProvider = std::function<std::shared_ptr<const ApiKeyStore>()>;

class Gate {
 public:
  using CallId = uint64_t;
  Gate(Frontend& fe, Metrics& metrics, RateLimiter& limiter, AdmissionQueue& admission,
       ResponseCache* cache, AuditLog* audit, KeyStoreProvider keys, GateConfig cfg);
  ~Gate();

  CallId Handle(ApiRequest req, std::string_view authorization,
                std::shared_ptr<CallHandler> handler);
  // The caller went away: a queued request leaves the queue, a running one is cancelled (it
  // ends with CANCELLED and is billed for the tokens it used).
  void Cancel(CallId id);
  // Ends every request still queued or running with `why` (a drain timeout: UNAVAILABLE), at
  // once, without waiting for the engine: queued ones get OnRejected(why), started ones
  // OnFinish(kError, why); each is audited with why's code. Requests arriving later are refused
  // with it too. The engine is told to cancel what it still runs.
  void AbortAll(const absl::Status& why);

  // Authenticates a non-generation call (Tokenize, GetModelInfo, ...). OK when auth is off.
  absl::StatusOr<std::string> Authenticate(std::string_view authorization);
  // Records a finished non-generation call in metrics and the audit log.
  void RecordSimpleCall(const std::string& rpc, const std::string& key_id, const std::string& peer,
                        const absl::Status& status, double seconds);
  absl::Status Feedback(std::string_view authorization, const std::string& peer,
                        const std::string& request_id, int rating, const std::string& comment);
  // Tokenize as an API call: authentication, text checks, drain, the key's rate limits (one
  // request, and the text's tokens), a bounded number pending; the tokenization itself runs on
  // the gate's executor, never on the caller's thread. `done` gets the ids or the error (and,
  // when rate limited, the seconds to wait), on an executor thread or, for an early refusal, on
  // the caller's. Recorded in metrics and the audit log as rpc "Tokenize".
  using TokenizeDone =
      std::function<void(absl::StatusOr<std::vector<int32_t>> ids, double retry_after_s)>;
  void Tokenize(std::string_view authorization, const std::string& peer, std::string text,
                bool add_special, bool parse_special, TokenizeDone done);

  void StartDrain() { draining_ = true; }
  bool draining() const { return draining_; }
  // Requests accepted and not finished (queued or running).
  int active() const { return active_.load(); }
  Frontend& frontend() { return fe_; }

 private:
  struct Call;
  class Sink;
  void Start(const std::shared_ptr<Call>& c);
  bool TryDegraded(const std::shared_ptr<Call>& c, DegradedReason why);
  void Reject(const std::shared_ptr<Call>& c, const absl::Status& s,
              std::optional<RejectReason> reason, double retry_after_s);
  void Finished(const std::shared_ptr<Call>& c, engine::FinishReason r, const absl::Status& s,
                const engine::Usage& u, const engine::Timing& t);
  void Audit(const Call& c, const std::string& code, const std::string& reason,
             const engine::Usage& u, bool degraded);
  std::shared_ptr<Call> Take(CallId id);
  // Sets what the call has charged to the key's token bucket to `total` (>= 0), charging or
  // refunding the difference: a refund never exceeds what was charged.
  void SetCharge(Call& c, double total);
  // Whether a record with this status code goes to the audit log (unauthenticated failures are
  // rate limited; those left out are counted).
  bool ShouldAudit(const std::string& code);
  // The abort status once AbortAll ran.
  std::optional<absl::Status> aborted() const;

  Frontend& fe_;
  Metrics& metrics_;
  RateLimiter& limiter_;
  AdmissionQueue& admission_;
  ResponseCache* cache_;
  AuditLog* audit_;
  KeyStoreProvider keys_;
  GateConfig cfg_;
  std::atomic<bool> draining_{false};
  std::atomic<int> active_{0};
  std::atomic<int> tokenize_pending_{0};
  std::atomic<CallId> next_id_{1};
  mutable std::mutex mu_;
  std::map<CallId, std::shared_ptr<Call>> calls_;
  std::optional<absl::Status> aborted_;  // guarded by mu_
  std::mutex audit_mu_;
  TokenBucket unauth_audit_;  // guarded by audit_mu_
  // Last members: joined first, while everything above is alive. Tokenize has its own
  // threads so a long tokenization never delays the bookkeeping of finished requests.
  Executor executor_;
  Executor tokenize_executor_;
};

}  // namespace phx::server
