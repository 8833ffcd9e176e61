// Compiled form of a Regex (internal to regex_parse.cc and regex.cc).
#pragma once

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "runtime/tokenizer/regex.h"

namespace phx::tok {

// Character classes that a set may name (bits of CharSet::classes / neg_classes).
enum ClassBits : uint32_t {
  kClassSpace = 1u << 0,       // \s: ASCII white space (the C locale)
  kClassDigit = 1u << 1,       // \d
  kClassWord = 1u << 2,        // \w
  kClassPL = 1u << 3,          // collapsed \p{L}
  kClassPN = 1u << 4,          // collapsed \p{N}
  kClassPP = 1u << 5,          // collapsed \p{P}
  kClassPS = 1u << 6,          // collapsed \p{S}
  kClassPM = 1u << 7,          // collapsed \p{M}
  kClassNotNewline = 1u << 8,  // '.': anything but \n and \r
};

struct CharSet {
  std::vector<std::pair<uint32_t, uint32_t>> ranges;  // inclusive, sorted, disjoint
  uint32_t classes = 0;      // the symbol is in the set if it is in one of these classes
  uint32_t neg_classes = 0;  // ... or outside one of these (\S, \D, \W inside brackets)
  bool negate = false;
  bool ascii[128] = {};  // precomputed membership of ASCII symbols (after negation)

  bool Matches(uint32_t c) const { return c < 128 ? ascii[c] : MatchesSlow(c); }
  bool MatchesSlow(uint32_t c) const;
  // Sorts and merges `ranges` and fills `ascii`.
  void Finish();
};

inline constexpr uint32_t kUnbounded = std::numeric_limits<uint32_t>::max();

struct Term {
  enum class Kind : uint8_t { kSet, kGroup, kLookahead, kNegLookahead, kBol, kEol };
  Kind kind = Kind::kSet;
  // kSet: one symbol that is in every set whose flag is true and in no set whose flag is false
  // (lookaheads on single symbols fold into this).
  std::vector<std::pair<int, bool>> sets;
  int disj = -1;  // kGroup and lookaheads
  uint32_t min = 1, max = 1;
  bool greedy = true;
};

struct Alternative {
  std::vector<Term> terms;
};

struct Disjunction {
  std::vector<Alternative> alts;
};

struct Regex::Program {
  std::vector<CharSet> sets;
  std::vector<Disjunction> disjs;
  int root = -1;
};

}  // namespace phx::tok
