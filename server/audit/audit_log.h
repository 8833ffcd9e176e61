// The audit log: one JSON object per line per finished (or rejected) request. Prompt, output
// and feedback text are redacted ("[redacted N bytes]") unless the server was started with
// --audit-include-text. The API key itself never appears, only its id. Every field is cut to
// its bound in log_strings.h, so a record's size does not depend on what a client sent.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "server/audit/log_strings.h"

namespace phx::server {

struct AuditRecord {
  std::string request_id;
  std::string key_id;
  std::string peer;
  std::string rpc;
  std::string status;  // code name ("OK", "RESOURCE_EXHAUSTED", ...)
  std::string reason;  // finish reason or rejection reason
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_prompt_tokens = 0;
  double latency_s = 0;
  bool degraded = false;
  std::string prompt;  // text fields: redacted unless include_text
  std::string output;
  std::string comment;  // SubmitFeedback
  int32_t rating = 0;   // SubmitFeedback
};

class AuditLog {
 public:
  // `path` "-" writes to stderr. The file is opened for append. With include_text, prompt and
  // output are logged up to `max_text_bytes` each (cut beyond).
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      const std::string& path, bool include_text, size_t max_text_bytes = kMinLoggedTextBytes);
  bool include_text() const { return include_text_; }
  ~AuditLog();
  // Thread-safe; one line per call, flushed.
  void Write(const AuditRecord& r);
  // Re-opens the file (after log rotation).
  absl::Status Reopen();
  // The JSON line Write would emit (without the newline), for tests.
  std::string Format(const AuditRecord& r) const;

 private:
  AuditLog(std::string path, bool include_text, size_t max_text_bytes)
      : path_(std::move(path)), include_text_(include_text), max_text_bytes_(max_text_bytes) {}
  std::string path_;
  bool include_text_;
  size_t max_text_bytes_;
  std::mutex mu_;
  FILE* f_ = nullptr;
};

}  // namespace phx::server
