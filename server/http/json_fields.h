// What the JSON request parsers of the HTTP APIs share (openai_json.cc, openai_fields.cc,
// openai_tools.cc, responses_json.cc, anthropic_json.cc, utility_api.cc): a 400 naming the
// field, a member that counts JSON null as absent (the APIs treat null as not given), the keys
// of an object outside an allowed set, and PHX_TRY_FIELD to return the first error. For those
// .cc files only (PHX_TRY_FIELD is a macro).
#pragma once

#include <algorithm>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "base/strings.h"
#include "nlohmann/json.hpp"
#include "server/http/openai_json.h"

namespace phx::server::json_fields {

using Error = std::optional<ApiError>;

// Returns from the enclosing function with the error `expr` gives, if any.
#define PHX_TRY_FIELD(expr)                                       \
  do {                                                            \
    if (::phx::server::json_fields::Error e_ = (expr)) return e_; \
  } while (false)

// A 400 invalid_request_error about `param`.
inline ApiError Invalid(std::string param, std::string message) {
  return {absl::InvalidArgumentError(std::move(message)), std::move(param), ""};
}

// The member `key` of object `o` (nlohmann::json or ordered_json), or null when it is absent or
// JSON null.
template <class J>
const J* Member(const J& o, std::string_view key) {
  auto it = o.find(std::string(key));
  if (it == o.end() || it->is_null()) return nullptr;
  return &*it;
}

inline bool In(std::string_view key, const auto& list) {
  return std::find(std::begin(list), std::end(list), key) != std::end(list);
}

// The first key of object `o` outside `allowed` (a null value counts as absent), if any.
inline std::optional<std::string> ExtraKey(const nlohmann::ordered_json& o,
                                           std::initializer_list<std::string_view> allowed) {
  for (const auto& [k, v] : o.items()) {
    if (!v.is_null() && !In(k, allowed)) return k;
  }
  return std::nullopt;
}

// ExtraKey as OpenAI's endpoints refuse it: "<at>.<key> is not a supported field".
inline Error OnlyKeys(const nlohmann::ordered_json& o, const std::string& at,
                      std::initializer_list<std::string_view> allowed) {
  const std::optional<std::string> k = ExtraKey(o, allowed);
  if (!k) return std::nullopt;
  const std::string p = StrCat(at, ".", *k);
  return Invalid(p, StrCat(p, " is not a supported field"));
}

}  // namespace phx::server::json_fields
