#include "server/audit/audit_log.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

#include "base/strings.h"
#include "nlohmann/json.hpp"

namespace phx::server {
namespace {

// RFC 3339 UTC with milliseconds: 2024-05-01T12:34:56.789Z.
std::string Rfc3339Now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms.count() % 1000));
}

std::string Text(const std::string& s, bool include, size_t max) {
  if (s.empty()) return s;
  if (include) return BoundForLog(s, max);
  return StrCat("[redacted ", s.size(), " bytes]");
}

absl::StatusOr<FILE*> OpenAppend(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "ae");  // append, close-on-exec
  if (f == nullptr) {
    const int err = errno;
    return absl::UnavailableError(
        StrCat("audit log ", path, ": cannot open: ", std::strerror(err)));
  }
  return f;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path, bool include_text,
                                                         size_t max_text_bytes) {
  if (path.empty()) return absl::InvalidArgumentError("audit log: empty path");
  std::unique_ptr<AuditLog> log(new AuditLog(path, include_text, max_text_bytes));
  if (path == "-") {
    log->f_ = stderr;
  } else {
    auto f = OpenAppend(path);
    if (!f.ok()) return f.status();
    log->f_ = *f;
  }
  return log;
}

AuditLog::~AuditLog() {
  if (f_ != nullptr && f_ != stderr) std::fclose(f_);
}

std::string AuditLog::Format(const AuditRecord& r) const {
  nlohmann::ordered_json j;
  j["time"] = Rfc3339Now();
  j["request_id"] = BoundForLog(r.request_id, kMaxLoggedIdBytes);
  j["key_id"] = BoundForLog(r.key_id, kMaxLoggedIdBytes);
  j["peer"] = BoundForLog(r.peer, kMaxLoggedPeerBytes);
  j["rpc"] = BoundForLog(r.rpc, kMaxLoggedNameBytes);
  j["status"] = BoundForLog(r.status, kMaxLoggedNameBytes);
  j["reason"] = BoundForLog(r.reason, kMaxLoggedNameBytes);
  j["prompt_tokens"] = r.prompt_tokens;
  j["completion_tokens"] = r.completion_tokens;
  j["cached_prompt_tokens"] = r.cached_prompt_tokens;
  j["latency_s"] = r.latency_s;
  j["degraded"] = r.degraded;
  j["prompt"] = Text(r.prompt, include_text_, max_text_bytes_);
  j["output"] = Text(r.output, include_text_, max_text_bytes_);
  j["comment"] = Text(r.comment, include_text_, kMaxLoggedCommentBytes);
  j["rating"] = r.rating;
  // Client-supplied strings may be invalid UTF-8: replace bad bytes (U+FFFD) rather than throw.
  // Control characters (newlines included) are escaped, so a record is always one line.
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void AuditLog::Write(const AuditRecord& r) {
  std::string line = Format(r);
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  if (f_ == nullptr) return;
  std::fwrite(line.data(), 1, line.size(), f_);
  std::fflush(f_);
}

absl::Status AuditLog::Reopen() {
  if (path_ == "-") return absl::OkStatus();
  // Open the new file before closing the old one: on failure, records keep going to the old.
  auto f = OpenAppend(path_);
  if (!f.ok()) return f.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (f_ != nullptr) std::fclose(f_);
  f_ = *f;
  return absl::OkStatus();
}

}  // namespace phx::server
