// Terminal analysis for the lexer's mask entries (lex_entry.cc): how much slice text a state
// can take (MaxRun), whether it takes all of it (Contains), and canonical counts.
#include <algorithm>
#include <vector>

#include "runtime/grammar/terminal.h"
#include "runtime/grammar/terminal_internal.h"

namespace phx::grammar {
namespace {

using namespace term_internal;  // NOLINT(build/namespaces): the terminal helpers

// Fixed bytes all read: the next piece starts.
TermState SkipDoneBytes(const Terminal& t, TermState s) {
  const auto& pieces = t.spec->pieces();
  while (pieces[s.piece].kind == Piece::kBytes && CanEnd(pieces[s.piece], s) &&
         static_cast<size_t>(s.piece) + 1 < pieces.size()) {
    s = PieceStart(pieces[s.piece + 1], s.piece + 1, s.started);
  }
  return s;
}

std::vector<int> SymbolsOf(const CpDfa& d, const CharSet& chars) {
  std::vector<int> syms;
  for (int k = 0; k < d.num_symbols(); ++k) {
    const uint32_t lo = d.sym_lo(k), hi = std::min(d.sym_hi(k), kMaxCodePoint);
    if (lo > hi) continue;
    if (!chars.Intersect(CharSet::Range(lo, hi)).empty()) syms.push_back(k);
  }
  return syms;
}

void SetByte(uint64_t bytes[4], uint32_t b) { bytes[b >> 6] |= uint64_t{1} << (b & 63); }

void SetBytes(uint64_t bytes[4], uint32_t lo, uint32_t hi) {
  for (uint32_t b = lo; b <= hi; ++b) SetByte(bytes, b);
}

void SetChars(uint64_t bytes[4], const char* chars) {
  for (; *chars != 0; ++chars) SetByte(bytes, static_cast<uint8_t>(*chars));
}

// The UTF-8 lead byte of code point cp.
uint32_t LeadByte(uint32_t cp) {
  if (cp < 0x80) return cp;
  if (cp < 0x800) return 0xC0 | (cp >> 6);
  if (cp < 0x10000) return 0xE0 | (cp >> 12);
  return 0xF0 | (cp >> 18);
}

// The bytes that piece `p` takes next from `s` (a superset).
void PieceFirstBytes(const TermPiece& p, const TermState& s, uint64_t bytes[4]) {
  switch (p.kind) {
    case Piece::kWs:
      if (s.local < p.ws_max) SetChars(bytes, " \t\n\r");
      return;
    case Piece::kBytes:
      if (static_cast<size_t>(s.local) < p.bytes.size()) {
        SetByte(bytes, static_cast<uint8_t>(p.bytes[s.local]));
      }
      return;
    default:
      break;
  }
  switch (s.kind) {
    case kBoundary: {
      const CpDfa& d = *p.dfa;
      bool any = false;
      for (int k = 0; k < d.num_symbols(); ++k) {
        const uint32_t lo = d.sym_lo(k), hi = std::min(d.sym_hi(k), kMaxCodePoint);
        if (lo > hi || d.next(s.local, k) < 0) continue;
        any = true;
        SetBytes(bytes, LeadByte(lo), LeadByte(hi));
      }
      // An escape may write any code point.
      if (any && p.kind == Piece::kJsonContent) SetByte(bytes, '\\');
      return;
    }
    case kUtf8:
      SetBytes(bytes, 0x80, 0xBF);
      return;
    case kBackslash:
      SetChars(bytes, "\"\\/bfnrtu");
      return;
    case kHex:
    case kLowHex:
      SetChars(bytes, "0123456789abcdefABCDEF");
      return;
    case kHighBack:
      SetByte(bytes, '\\');
      return;
    case kHighU:
      SetByte(bytes, 'u');
      return;
    default:
      SetBytes(bytes, 0, 255);
  }
}

}  // namespace

void TermStepper::FirstBytes(const Terminal& t, const TermState& s, uint64_t bytes[4]) {
  const auto& pieces = t.spec->pieces();
  PieceFirstBytes(pieces[s.piece], s, bytes);
  if (!CanEnd(pieces[s.piece], s)) return;
  for (size_t j = s.piece + 1; j < pieces.size(); ++j) {
    PieceFirstBytes(pieces[j], PieceStart(pieces[j], static_cast<uint16_t>(j), 1), bytes);
    if (!PieceNullable(pieces[j])) break;
  }
}

int64_t TermStepper::MaxRun(const Terminal& t, const TermState& s0, const CharSet& chars) {
  const TermState s = SkipDoneBytes(t, s0);
  const auto& pieces = t.spec->pieces();
  const TermPiece& p = pieces[s.piece];
  // Only inside a JSON string, where the lexeme cannot end before a closing quote (no slice
  // character): elsewhere slice text could end this lexeme and start the next one.
  if (p.kind != Piece::kJsonContent || s.kind != kBoundary) return -2;
  const size_t np = static_cast<size_t>(s.piece) + 1;
  if (np >= pieces.size() || pieces[np].kind != Piece::kBytes || pieces[np].bytes.empty() ||
      pieces[np].bytes[0] != '"') {
    return -2;
  }
  const CpDfa& d = *p.dfa;
  const std::vector<int> syms = SymbolsOf(d, chars);
  // Longest path over `syms` (a cycle: unbounded), depth first with colors.
  const int n = d.num_states();
  std::vector<int8_t> color(n, 0);
  std::vector<int64_t> best(n, 0);
  std::vector<std::pair<int32_t, size_t>> stack = {{s.local, 0}};
  color[s.local] = 1;
  int64_t run = -1;
  bool cycle = false;
  while (!stack.empty() && !cycle) {
    auto& [q, k] = stack.back();
    if (k < syms.size()) {
      const int32_t nx = d.next(q, syms[k++]);
      if (nx < 0) continue;
      if (color[nx] == 1) cycle = true;
      if (color[nx] == 0) {
        color[nx] = 1;
        stack.push_back({nx, 0});
      }
      continue;
    }
    int64_t b = 0;
    for (int sym : syms) {
      const int32_t nx = d.next(q, sym);
      if (nx >= 0) b = std::max(b, best[nx] + 1);
    }
    best[q] = b;
    color[q] = 2;
    stack.pop_back();
  }
  if (!cycle) run = best[s.local];
  if (p.counted && p.count_max >= 0) {
    const int64_t left = p.count_max - s.count;
    run = run < 0 ? left : std::min(run, left);
  }
  return run;
}

bool TermStepper::Contains(const Terminal& t, const TermState& s0, const CharSet& chars,
                           int max_chars) {
  const TermState s = SkipDoneBytes(t, s0);
  const TermPiece& p = t.spec->pieces()[s.piece];
  if ((p.kind != Piece::kUtf8 && p.kind != Piece::kJsonContent) || s.kind != kBoundary) {
    return false;
  }
  // A frozen count is at least a token's length from the bounds (CanonicalCount).
  if (p.counted && !s.frozen && p.count_max >= 0 &&
      (max_chars < 0 || s.count + max_chars > p.count_max)) {
    return false;
  }
  const CpDfa& d = *p.dfa;
  const std::vector<int> syms = SymbolsOf(d, chars);
  const int depth = max_chars < 0 ? 1 << 30 : max_chars;
  std::vector<int> left(d.num_states(), -1);  // most characters still to check, per state
  std::vector<int32_t> queue = {s.local};
  left[s.local] = depth;
  for (size_t i = 0; i < queue.size(); ++i) {
    const int32_t q = queue[i];
    if (left[q] == 0) continue;
    for (int k : syms) {
      const int32_t n = d.next(q, k);
      if (n < 0) return false;
      if (left[n] < left[q] - 1) {
        if (left[n] < 0) queue.push_back(n);
        left[n] = left[q] - 1;
      }
    }
  }
  return true;
}

TermState TermStepper::CanonicalCount(const Terminal& t, const TermState& s, int64_t slack) {
  const TermPiece& p = t.spec->pieces()[s.piece];
  if (s.frozen) return s;
  TermState c = s;
  if (!p.counted) {
    // Before a counted piece (which starts at 0): frozen at 0 if no token can reach a bound
    // that a frozen 0 would get wrong (a minimum in 1..slack, a maximum below slack).
    bool ahead = false;
    const auto& pieces = t.spec->pieces();
    for (size_t j = s.piece + 1; j < pieces.size(); ++j) {
      const TermPiece& q = pieces[j];
      if (!q.counted) continue;
      ahead = true;
      if (q.count_max >= 0 && q.count_max < slack) return s;
    }
    if (ahead) c.frozen = 1;
    return c;
  }
  // Frozen where the maximum is out of one token's reach: the count then saturates at the
  // minimum (only reaching it matters), and a minimum out of reach reads as count 0.
  if (p.count_max < 0 || s.count + slack <= p.count_max) {
    c.frozen = 1;
    if (s.count + slack < p.count_min) {
      c.count = 0;
    } else {
      c.count = std::min(s.count, p.count_min);
    }
  }
  return c;
}

}  // namespace phx::grammar
