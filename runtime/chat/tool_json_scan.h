// A tolerant scanner for JSON that may still be arriving (tool calls while they stream): where a
// value ends, or that the text ended inside it, or that it cannot be JSON. It checks structure
// (brackets, strings, literals), not every rule of the grammar; complete call arguments are
// checked with a real parser before they are returned.
//
// Resumable: every scan records in a ScanMemo how far it got, by the value's start offset, so
// scanning a text that only grows at its end (a streamed answer) picks up where the last scan
// stopped instead of reading the value again: the work over a whole stream is linear in the
// text, however small the pieces. A fresh memo per text gives the plain whole-text scan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace phx::chat::tooljson {

inline constexpr size_t kIncomplete = std::string_view::npos;
inline constexpr size_t kBad = std::string_view::npos - 1;

struct Member {
  std::string key;
  size_t begin = 0;
  size_t end = kIncomplete;  // the value's end, kIncomplete, or kBad (the last member only)
};
struct Scan {
  std::vector<Member> members;  // objects: the members seen; arrays: elements (key "")
  size_t end = kIncomplete;     // after the closing bracket; kIncomplete; kBad
};

// A decoded JSON string (a prefix of it while it streams).
struct Decoded {
  std::string_view text;  // as much as is complete (an escape cut off at the end is left out)
  bool ok = true;         // false: not a valid string prefix
  bool closed = false;    // the closing quote came
  size_t end = 0;         // after the closing quote (closed only)
};

// What the scans of one growing text found so far. Offsets refer to that text: use one memo per
// text, and only append to the text. It keeps an entry per container (with its members), per
// decoded name or response string, and per string or number the text ended inside: bounded by
// the text's size. References returned by the scans stay valid while the memo lives.
class ScanMemo {
 public:
  // Bytes the scans examined (the work done): at most a small multiple of the text's size
  // over a whole stream.
  size_t scanned() const { return scanned_; }
  void Count(size_t n) { scanned_ += n; }

 private:
  friend size_t SkipValue(std::string_view s, size_t i, ScanMemo* memo);
  friend const Scan& ScanContainer(std::string_view s, size_t i, ScanMemo* memo);
  friend Decoded DecodeString(std::string_view s, size_t i, ScanMemo* memo);
  // A string or number skipped over: where to resume, or its end once known.
  struct Skip {
    size_t pos = 0;
    size_t end = kIncomplete;  // kIncomplete while open
    bool escape = false;       // a string: the text ended right after a backslash
  };
  struct Decode {
    size_t pos = 0;  // the next byte to decode (an escape cut off waits here)
    uint32_t high = 0;
    std::string out;
    bool ok = true, closed = false;
    size_t end = 0;
  };
  enum class Phase { kFirst, kMember, kColon, kValueStart, kValue, kAfter, kDone };
  struct Container {
    Scan scan;
    bool object = false;
    Phase phase = Phase::kFirst;
    size_t pos = 0;          // where the scan resumes
    Member pending;          // the member being read (key, begin) before its value starts
    bool open_last = false;  // scan.members' last entry is the member being read
  };
  std::unordered_map<size_t, Skip> skips_;
  std::unordered_map<size_t, Decode> decodes_;
  std::unordered_map<size_t, Container> containers_;
  size_t scanned_ = 0;
};

// A tool-call parse of one growing text: the scans' memo and how far the search for the call
// section's start marker got.
struct ParseState {
  ScanMemo memo;
  size_t marker_from = 0;          // no marker starts before this offset
  size_t marker_at = kIncomplete;  // where it was found
};

size_t SkipWs(std::string_view s, size_t i);
// s[i] starts a value: the index after it, kIncomplete when the text ends inside it (a number
// at the very end may still go on), kBad when it cannot be JSON.
size_t SkipValue(std::string_view s, size_t i, ScanMemo* memo);

// s[i] is '{' (members) or '[' (elements).
const Scan& ScanContainer(std::string_view s, size_t i, ScanMemo* memo);

// Decodes the JSON string starting at s[i] ('"'); ok false when s[i] is not '"'.
Decoded DecodeString(std::string_view s, size_t i, ScanMemo* memo);

// Whether s[i..] starts with `lit`: 1 yes, 0 the text ends inside a prefix of it, -1 no.
int StartsWith(std::string_view s, size_t i, std::string_view lit);

// The length of the longest suffix of `s` that is a proper prefix of `marker`.
size_t PartialSuffix(std::string_view s, std::string_view marker);

}  // namespace phx::chat::tooljson
