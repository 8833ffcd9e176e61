// Status helpers used across module boundaries: every fallible call returns absl::Status or
// absl::StatusOr<T>, and these macros propagate errors without exceptions.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/strings.h"

#define PHX_STATUS_CONCAT_INNER_(a, b) a##b
#define PHX_STATUS_CONCAT_(a, b) PHX_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define PHX_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status phx_status_ = (expr);       \
    if (!phx_status_.ok()) return phx_status_; \
  } while (0)

// PHX_ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on error returns the
// status, else move-assigns the value to `lhs` (which may be a declaration: `auto x`).
#define PHX_ASSIGN_OR_RETURN(lhs, expr) \
  PHX_ASSIGN_OR_RETURN_IMPL_(PHX_STATUS_CONCAT_(phx_statusor_, __LINE__), lhs, expr)
#define PHX_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

namespace phx {

// Prefixes a status message with context ("loading tensor x: <original>") keeping its code.
inline absl::Status Annotate(const absl::Status& s, std::string_view context) {
  if (s.ok()) return s;
  return absl::Status(s.code(), StrCat(context, ": ", s.message()));
}

}  // namespace phx
