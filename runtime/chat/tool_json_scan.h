// A tolerant scanner for JSON that may still be arriving (tool calls while they stream): where a
// value ends, or that the text ended inside it, or that it cannot be JSON. It checks structure
// (brackets, strings, literals), not every rule of the grammar; complete call arguments are
// checked with a real parser before they are returned.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace phx::chat::tooljson {

inline constexpr size_t kIncomplete = std::string_view::npos;
inline constexpr size_t kBad = std::string_view::npos - 1;

size_t SkipWs(std::string_view s, size_t i);
// s[i] starts a value: the index after it, kIncomplete when the text ends inside it (a number
// at the very end may still go on), kBad when it cannot be JSON.
size_t SkipValue(std::string_view s, size_t i);

struct Member {
  std::string key;
  size_t begin = 0;
  size_t end = kIncomplete;  // the value's end, kIncomplete, or kBad (the last member only)
};
struct Scan {
  std::vector<Member> members;  // objects: the members seen; arrays: elements (key "")
  size_t end = kIncomplete;     // after the closing bracket; kIncomplete; kBad
};
// s[i] is '{' (members) or '[' (elements).
Scan ScanContainer(std::string_view s, size_t i);

// Decodes the JSON string starting at s[i] ('"'): as much as is complete (an escape cut off at
// the end is left out); *closed tells whether the closing quote came. False when it is not a
// valid string prefix.
bool DecodeStringPrefix(std::string_view s, size_t i, std::string* out, bool* closed, size_t* end);

// Whether s[i..] starts with `lit`: 1 yes, 0 the text ends inside a prefix of it, -1 no.
int StartsWith(std::string_view s, size_t i, std::string_view lit);

// The length of the longest suffix of `s` that is a proper prefix of `marker`.
size_t PartialSuffix(std::string_view s, std::string_view marker);

}  // namespace phx::chat::tooljson
