// The Gate's non-generation calls: authentication, Tokenize (rate limited, bounded, on the
// gate's own executor), feedback, and their metrics and audit records (rate limited for
// unauthenticated failures).
#include <algorithm>
#include <cmath>

#include "base/elapsed.h"
#include "base/strings.h"
#include "server/audit/log_strings.h"
#include "server/core/gate.h"
#include "server/core/status_map.h"

namespace phx::server {
namespace {
using Clock = engine::Clock;
}  // namespace

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

bool Gate::ShouldAudit(const std::string& code) {
  if (code != "UNAUTHENTICATED") return true;
  bool take = false;
  {
    std::lock_guard<std::mutex> l(audit_mu_);
    take = unauth_audit_.TryTake(1, Clock::now(), nullptr);
  }
  if (!take) metrics_.AuditSuppressed();
  return take;
}

void Gate::RecordSimpleCall(const std::string& rpc, const std::string& key_id,
                            const std::string& peer, const absl::Status& status, double seconds) {
  const std::string code = CodeName(status.code());
  metrics_.RequestFinished(rpc, code, seconds);
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    metrics_.Rejected(RejectReason::kUnauthenticated);
  }
  if (audit_ == nullptr || !ShouldAudit(code)) return;
  AuditRecord a;
  a.key_id = key_id;
  a.peer = ClipForLog(peer, kMaxLoggedPeerBytes);
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
    } else if (request_id.empty() || request_id.size() > kMaxLoggedIdBytes) {
      s = absl::InvalidArgumentError(StrCat("request_id must be 1..", kMaxLoggedIdBytes, " bytes"));
    } else if (comment.size() > kMaxLoggedCommentBytes || !IsValidUtf8(comment)) {
      s = absl::InvalidArgumentError(
          StrCat("comment must be valid UTF-8 of at most ", kMaxLoggedCommentBytes, " bytes"));
    }
  }
  if (s.ok()) metrics_.Feedback(rating);
  if (s.code() == absl::StatusCode::kUnauthenticated) {
    metrics_.Rejected(RejectReason::kUnauthenticated);
  }
  const std::string code = CodeName(s.code());
  metrics_.RequestFinished("SubmitFeedback", code, SecondsSince(t0));
  if (audit_ != nullptr && ShouldAudit(code)) {
    AuditRecord a;
    // A request_id or comment that failed its check is logged cut to its bound, never whole.
    a.request_id = ClipForLog(request_id, kMaxLoggedIdBytes);
    a.key_id = key.ok() ? *key : "";
    a.peer = ClipForLog(peer, kMaxLoggedPeerBytes);
    a.rpc = "SubmitFeedback";
    a.status = code;
    a.rating = rating;
    a.comment = comment;  // cut (or redacted, with its length) by the audit log
    a.latency_s = SecondsSince(t0);
    audit_->Write(a);
  }
  return s;
}

void Gate::Tokenize(std::string_view authorization, const std::string& peer, std::string text,
                    bool add_special, bool parse_special, TokenizeDone done) {
  const Clock::time_point t0 = Clock::now();
  const std::string logged_peer = ClipForLog(peer, kMaxLoggedPeerBytes);
  std::string key_id;
  KeyLimits limits;
  auto refuse = [&](const absl::Status& s, std::optional<RejectReason> why, double retry) {
    if (why && *why != RejectReason::kUnauthenticated) metrics_.Rejected(*why);
    RecordSimpleCall("Tokenize", key_id, logged_peer, s, SecondsSince(t0));
    done(s, retry);
  };
  if (std::shared_ptr<const ApiKeyStore> store = keys_ ? keys_() : nullptr) {
    const auto bearer = ParseBearer(authorization);
    auto key = bearer ? store->Authenticate(*bearer)
                      : absl::StatusOr<const ApiKey*>(absl::UnauthenticatedError(
                            "missing API key: send 'authorization: Bearer <key>'"));
    if (!key.ok()) return refuse(key.status(), RejectReason::kUnauthenticated, 0);
    key_id = (*key)->id;
    limits = (*key)->limits;
  }
  if (static_cast<int64_t>(text.size()) > fe_.limits().max_prompt_bytes) {
    return refuse(
        absl::InvalidArgumentError(StrCat("text is ", text.size(), " bytes; the limit is ",
                                          fe_.limits().max_prompt_bytes)),
        RejectReason::kTooLong, 0);
  }
  if (!IsValidUtf8(text)) {
    return refuse(absl::InvalidArgumentError("text is not valid UTF-8"), RejectReason::kInvalid, 0);
  }
  if (draining_) {
    return refuse(absl::UnavailableError("server is draining"), RejectReason::kDraining, 0);
  }
  const Clock::time_point now = Clock::now();
  double retry_after = 0;
  absl::Status s = limiter_.AdmitRequest(key_id, limits, now, &retry_after);
  const double estimate = static_cast<double>(text.size()) / 4 + 1;
  if (s.ok()) s = limiter_.ChargeTokens(key_id, limits, estimate, now, &retry_after);
  if (!s.ok()) return refuse(s, RejectReason::kRateLimit, retry_after);
  // Admission: a bounded number of tokenizations queued or running.
  if (tokenize_pending_.fetch_add(1) >= cfg_.max_tokenize_pending) {
    --tokenize_pending_;
    limiter_.Adjust(key_id, -estimate, Clock::now());
    return refuse(
        absl::ResourceExhaustedError(StrCat("server overloaded: ", cfg_.max_tokenize_pending,
                                            " Tokenize calls pending; retry after 1 s")),
        RejectReason::kQueueFull, 1);
  }
  ++active_;  // a drain waits for it
  tokenize_executor_.Post([this, t0, key_id, logged_peer, estimate, text = std::move(text),
                           add_special, parse_special, done = std::move(done)] {
    auto ids = fe_.Tokenize(text, add_special, parse_special);
    const double used = ids.ok() ? static_cast<double>(ids->size()) : 0;
    limiter_.Adjust(key_id, used - estimate, Clock::now());
    RecordSimpleCall("Tokenize", key_id, logged_peer, ids.status(), SecondsSince(t0));
    done(std::move(ids), 0);
    --tokenize_pending_;
    --active_;
  });
}

}  // namespace phx::server
