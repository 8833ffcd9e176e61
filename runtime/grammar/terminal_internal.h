// Internal to runtime/grammar's terminal stepping (terminal.cc) and analysis
// (terminal_analysis.cc): content decoding states and the piece helpers both use.
#pragma once

#include <cstdint>

#include "runtime/grammar/terminal.h"

namespace phx::grammar::term_internal {

// Content decoding states (TermState::kind).
enum : uint8_t {
  kBoundary = 0,   // between characters
  kUtf8 = 1,       // inside a UTF-8 sequence: need continuation bytes, code points [lo, hi]
  kBackslash = 2,  // after '\'
  kHex = 3,        // "\u" and some hex digits: value so far in lo, need digits to go
  kHighBack = 4,   // a high surrogate (hi) was written: '\' must follow
  kHighU = 5,      // ... then 'u'
  kLowHex = 6,     // ... then the low surrogate's hex digits (lo so far, need to go)
};

using Piece = TermPiece::Kind;

inline bool CanEnd(const TermPiece& p, const TermState& s) {
  switch (p.kind) {
    case Piece::kWs:
      return true;
    case Piece::kBytes:
      return static_cast<size_t>(s.local) == p.bytes.size();
    default:
      return s.kind == kBoundary && p.dfa->accepting(s.local) &&
             (!p.counted || s.count >= p.count_min);
  }
}

inline bool PieceNullable(const TermPiece& p) {
  switch (p.kind) {
    case Piece::kWs:
      return true;
    case Piece::kBytes:
      return p.bytes.empty();
    default:
      return p.dfa->AcceptsEmpty() && (!p.counted || p.count_min == 0);
  }
}

inline TermState PieceStart(const TermPiece& p, uint16_t index, uint8_t started) {
  TermState s;
  s.piece = index;
  s.started = started;
  if (p.kind == Piece::kUtf8 || p.kind == Piece::kJsonContent) s.local = p.dfa->start();
  return s;
}

}  // namespace phx::grammar::term_internal
