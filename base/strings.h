// String building for messages. Debian's Abseil uses its own absl::string_view (not
// std::string_view), so StrCat cannot take std::string_view; these helpers take anything
// {fmt} can format, std::string_view and absl::string_view included.
#pragma once

#include <iterator>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "fmt/ranges.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(absl::string_view s, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};

namespace phx {

// Concatenates the default {fmt} rendering of each argument.
template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

// Joins the elements of a range with `sep`.
template <typename Range>
std::string StrJoin(const Range& r, std::string_view sep) {
  return fmt::format("{}", fmt::join(r, sep));
}

inline std::string_view ToStd(absl::string_view s) { return {s.data(), s.size()}; }
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace phx
