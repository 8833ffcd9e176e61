// Regular expressions over code points: an AST arena that the schema compiler, the GBNF
// compiler and the pattern parser build into, and a parser for the ECMAScript regex subset
// that JSON-schema patterns use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/grammar/charset.h"

namespace phx::grammar {

// Zero-width anchors become marker "characters" past the Unicode range (see cpdfa.h: a
// searched pattern runs over "<begin> text <end>" and the markers are then removed).
inline constexpr uint32_t kBeginMarker = 0x110000;
inline constexpr uint32_t kEndMarker = 0x110001;

class Rx {
 public:
  using Id = int32_t;
  enum class Op : uint8_t { kNothing, kEmpty, kSet, kCat, kAlt, kRepeat };
  static constexpr int32_t kInf = -1;
  struct Node {
    Op op = Op::kNothing;
    int32_t min = 0, max = 0;  // kRepeat; max kInf = unbounded
    CharSet set;               // kSet
    std::vector<Id> kids;      // kCat, kAlt, kRepeat (one)
  };

  Rx();
  Id Nothing() const { return 0; }
  Id Empty() const { return 1; }
  Id Set(CharSet s);
  Id Char(uint32_t c) { return Set(CharSet::Of(c)); }
  // The UTF-8 text `s` as a sequence of its code points (invalid bytes: Nothing()).
  Id Literal(std::string_view s);
  Id Cat(std::vector<Id> kids);
  Id Cat(Id a, Id b) { return Cat(std::vector<Id>{a, b}); }
  Id Alt(std::vector<Id> kids);
  Id Alt(Id a, Id b) { return Alt(std::vector<Id>{a, b}); }
  Id Repeat(Id x, int32_t min, int32_t max);
  Id Star(Id x) { return Repeat(x, 0, kInf); }
  Id Plus(Id x) { return Repeat(x, 1, kInf); }
  Id Opt(Id x) { return Repeat(x, 0, 1); }

  const Node& node(Id id) const { return nodes_[id]; }
  size_t size() const { return nodes_.size(); }
  bool Nullable(Id id) const;
  // Canonical text of the expression (cache keys).
  std::string Key(Id id) const;

 private:
  std::vector<Node> nodes_;
};

// Code-point sets for regex escapes. `wide` picks the larger of the ECMAScript and Python
// readings (used under a negated class) and otherwise the smaller one, so that a pattern
// never accepts what either engine rejects.
CharSet EscapeClass(char e, bool wide);

struct PatternOptions {
  // The pattern matches anywhere in the text (JSON schema "pattern"); false: the whole text.
  bool search = true;
  // Largest {m,n} count; larger counts are an error.
  int max_repeat = 1000;
};

// Parses an ECMAScript regular expression (the subset JSON schemas use: classes, escapes,
// anchors, groups, alternation, greedy and lazy quantifiers) into `rx`. With `search`, the
// result still contains anchor markers and must be compiled with CpDfa::FromSearch.
// Lookaround, backreferences, \b and Unicode property escapes are errors.
absl::StatusOr<Rx::Id> ParsePattern(std::string_view pattern, Rx* rx,
                                    const PatternOptions& opt = {});

}  // namespace phx::grammar
