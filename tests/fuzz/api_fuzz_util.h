// Shared by the OpenAI and Anthropic request fuzzers: what every request parser error must be.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "server/http/openai_json.h"

namespace phx::server::fuzz {

// An error is INVALID_ARGUMENT (NOT_FOUND: a model that is not served) with a message, and the
// message names the field in `param` (its head, up to the first '[' or '.'); otherwise aborts
// with a report that starts with `fuzzer`.
inline void CheckRequestError(const char* fuzzer, const ApiError& e) {
  auto check = [fuzzer](bool ok, const char* what, const std::string& detail) {
    if (!ok) {
      std::fprintf(stderr, "%s: %s %s\n", fuzzer, what, detail.c_str());
      std::abort();
    }
  };
  check(e.status.code() == absl::StatusCode::kInvalidArgument ||
            e.status.code() == absl::StatusCode::kNotFound,
        "unexpected error code", e.status.ToString());
  check(!e.status.message().empty(), "error without a message", "");
  if (!e.param.empty()) {
    const std::string head = e.param.substr(0, e.param.find_first_of("[."));
    check(std::string(e.status.message()).find(head) != std::string::npos,
          "error does not name its field", e.status.ToString() + " / " + e.param);
  }
}

}  // namespace phx::server::fuzz
