// The one place where absl::Status codes become gRPC status codes and HTTP statuses.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace phx::server {

// gRPC code number (grpc::StatusCode values, which equal absl::StatusCode values).
int GrpcCode(const absl::Status& s);
// The code's canonical name ("INVALID_ARGUMENT"), used as the `code` metric label.
std::string CodeName(absl::StatusCode c);
// HTTP status for an error (OpenAI conventions: 400 invalid, 401 unauthenticated, 404 not
// found, 429 rate limited / overloaded, 503 unavailable, 504 deadline, 500 otherwise).
int HttpStatus(const absl::Status& s);
// OpenAI error "type" for an error status ("invalid_request_error", ...).
std::string OpenAiErrorType(const absl::Status& s);

}  // namespace phx::server
