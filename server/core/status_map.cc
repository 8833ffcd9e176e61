#include "server/core/status_map.h"

#include "absl/strings/ascii.h"

namespace phx::server {

int GrpcCode(const absl::Status& s) { return static_cast<int>(s.code()); }

std::string CodeName(absl::StatusCode c) {
  std::string n = absl::StatusCodeToString(c);
  absl::AsciiStrToUpper(&n);
  for (char& ch : n) {
    if (ch == ' ') ch = '_';
  }
  return n;
}

int HttpStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kFailedPrecondition:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string OpenAiErrorType(const absl::Status& s) {
  switch (HttpStatus(s)) {
    case 400:
    case 404:
      return "invalid_request_error";
    case 401:
    case 403:
      return "authentication_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "overloaded_error";
    default:
      return "server_error";
  }
}

}  // namespace phx::server
