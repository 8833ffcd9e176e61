// Terminals (lexemes): a sequence of pieces - bounded JSON whitespace, fixed bytes, a
// code-point automaton written as UTF-8, or a code-point automaton written as the inside of a
// JSON string with every escape JSON allows (\n, \u00e9, surrogate pairs), optionally with a
// run-time character count (a long min/maxLength). Terminals are cheap to build: nothing is
// expanded to bytes ahead of time. The lexer (lexer.h) steps them lazily over interned
// TermStates, so a lexeme's byte automaton only ever exists for the states text reaches.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/grammar/cpdfa.h"

namespace phx::grammar {

struct TermPiece {
  enum class Kind : uint8_t { kWs, kBytes, kUtf8, kJsonContent };
  Kind kind = Kind::kBytes;
  int ws_max = 0;                    // kWs: 0..ws_max of space, \t, \n, \r
  std::string bytes;                 // kBytes
  std::shared_ptr<const CpDfa> dfa;  // kUtf8, kJsonContent
  bool lone_surrogates = false;      // kJsonContent: \uD800-\uDFFF may stand alone
  bool counted = false;              // kJsonContent: count characters at run time
  int64_t count_min = 0, count_max = -1;
};

class TerminalSpec {
 public:
  TerminalSpec& Ws(int max);
  TerminalSpec& Bytes(std::string_view b);
  TerminalSpec& Utf8(std::shared_ptr<const CpDfa> d);
  TerminalSpec& JsonContent(std::shared_ptr<const CpDfa> d, bool lone_surrogates = false);
  // A JSON string's inside of min..max characters (max -1: unbounded) over `d`, whose every
  // state must accept and loop (a plain string or a character class): counting is then exact.
  TerminalSpec& CountedJsonContent(std::shared_ptr<const CpDfa> d, int64_t min, int64_t max);

  const std::vector<TermPiece>& pieces() const { return pieces_; }
  // Canonical text (terminal interning).
  std::string Key() const;
  // Some piece matches nothing.
  bool empty() const;
  // Every piece matches the empty string.
  bool nullable() const;

 private:
  std::vector<TermPiece> pieces_;
};

// A terminal of a grammar. `nonempty`: the empty string is not part of it (a nullable spec
// used as "one or more bytes of it").
struct Terminal {
  std::string key;
  std::shared_ptr<const TerminalSpec> spec;
  bool nonempty = true;
};

// One position inside a terminal (interned by the lexer).
struct TermState {
  uint16_t piece = 0;
  uint8_t kind = 0;     // content decoding: see terminal.cc
  uint8_t need = 0;     // bytes or hex digits still to come
  uint8_t started = 0;  // some byte was consumed
  // The count is frozen (a mask entry's canonical state: within one token the maximum is out
  // of reach and the count saturates at the minimum; see CanonicalCount).
  uint8_t frozen = 0;
  int32_t local = 0;  // ws count / byte position / code-point state
  uint32_t lo = 0, hi = 0;
  int64_t count = 0;
  bool operator==(const TermState& o) const {
    return piece == o.piece && kind == o.kind && need == o.need && started == o.started &&
           frozen == o.frozen && local == o.local && lo == o.lo && hi == o.hi && count == o.count;
  }
  template <typename H>
  friend H AbslHashValue(H h, const TermState& s) {
    return H::combine(std::move(h), s.piece, s.kind, s.need, s.started, s.frozen, s.local, s.lo,
                      s.hi, s.count);
  }
};

// Stepping terminals (pure functions of the spec).
class TermStepper {
 public:
  // The state before any byte.
  static TermState Start(const Terminal& t);
  // The states after byte `b` (at most two: a piece can end and the next begin). Returns the
  // number written to out[].
  static int Step(const Terminal& t, const TermState& s, uint8_t b, TermState out[2]);
  static bool Accepts(const Terminal& t, const TermState& s);
  // Some byte may follow (over-approximation).
  static bool HasOut(const Terminal& t, const TermState& s);
  // Sets in `bytes` (256 bits) every byte after which the terminal is alive: a superset of the
  // bytes with Step() > 0, exact on whitespace and fixed bytes (the lexer's dead-byte filter).
  static void FirstBytes(const Terminal& t, const TermState& s, uint64_t bytes[4]);
  // Every string of 1..max_chars characters from `chars` (-1: any length) read raw from `s`
  // leaves the terminal alive (exact on code-point automata; false where unknown).
  static bool Contains(const Terminal& t, const TermState& s, const CharSet& chars, int max_chars);
  // The most characters from `chars` that can be read raw from `s` while the terminal stays
  // alive: -1 for no bound; -2 when unknown (`s` is not inside JSON string content that only
  // a closing quote ends).
  static int64_t MaxRun(const Terminal& t, const TermState& s, const CharSet& chars);
  // For a mask entry: the state with its count frozen where the maximum is at least `slack`
  // characters away (a token has at most `slack` bytes): the count then saturates at the
  // minimum, so the entry's walk shares states across depths and counts share entries; `s`
  // itself otherwise.
  static TermState CanonicalCount(const Terminal& t, const TermState& s, int64_t slack);
};

}  // namespace phx::grammar
