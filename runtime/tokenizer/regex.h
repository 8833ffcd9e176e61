// A small backtracking regular-expression engine over sequences of 32-bit symbols, with the
// ECMAScript semantics of libstdc++'s std::regex (leftmost match, first alternative wins, greedy
// quantifiers backtrack), which is what llama.cpp runs its pre-tokenizer patterns on.
//
// Supported: alternation, (...) and (?:...) groups, (?=...) and (?!...) lookahead, ^ and $,
// quantifiers * + ? {n} {n,} {n,m} (and their lazy forms), '.', bracket classes with ranges and
// negation, escapes \s \S \d \D \w \W \t \n \r \f \v \0 \xHH \uHHHH (other escaped characters
// stand for themselves, as in libstdc++), and, in collapsed mode, llama.cpp's \p{L} \p{N} \p{P}
// \p{S} \p{M} (\p{Lu} etc. as \p{L}).
//
// Modes (see llama.cpp's unicode_regex_split):
//  - kCollapsed: every code point >= 128 of the text was replaced by one byte naming its class
//    (kCollapsed* below) and the pattern must be ASCII;
//  - kWide: the text is code points (non-ASCII white space replaced by U+000B) and the pattern is
//    UTF-8; \s, \d and \w only know ASCII, as in the C locale.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace phx::tok {

// Collapsed-mode stand-ins for non-ASCII code points.
inline constexpr uint32_t kCollapsedOther = 0xD0;
inline constexpr uint32_t kCollapsedNumber = 0xD1;
inline constexpr uint32_t kCollapsedLetter = 0xD2;
inline constexpr uint32_t kCollapsedPunctuation = 0xD3;
inline constexpr uint32_t kCollapsedMark = 0xD4;
inline constexpr uint32_t kCollapsedSymbol = 0xD5;
inline constexpr uint32_t kCollapsedSpace = 0x0B;

class Regex {
 public:
  enum class Mode { kCollapsed, kWide };

  static absl::StatusOr<Regex> Compile(std::string_view pattern, Mode mode);

  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  Mode mode() const { return mode_; }
  const std::string& pattern() const { return pattern_; }

  // Splits each span of `offsets` (lengths of consecutive segments of `text`) the way
  // std::regex_iterator walks it: every match, and every stretch between matches, becomes a
  // segment. Empty segments are dropped.
  std::vector<size_t> Split(std::span<const uint32_t> text, std::span<const size_t> offsets) const;

  // First match in text[begin, end) that starts at or after `from`; returns false if none.
  // `continuous`: only a match starting at `from`; `not_null`: no empty match; `prev_avail`:
  // text[begin] is not the start of the input for ^.
  struct Match {
    size_t begin = 0, end = 0;
  };
  bool Search(std::span<const uint32_t> text, size_t begin, size_t end, size_t from,
              bool continuous, bool not_null, bool prev_avail, Match* m) const;

  struct Program;  // compiled form (regex.cc)

 private:
  Regex() = default;

  Mode mode_ = Mode::kWide;
  std::string pattern_;
  std::unique_ptr<Program> prog_;
};

}  // namespace phx::tok
