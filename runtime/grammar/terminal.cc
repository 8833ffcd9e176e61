#include "runtime/grammar/terminal.h"

#include <algorithm>

#include "base/strings.h"
#include "runtime/grammar/terminal_internal.h"

namespace phx::grammar {
namespace {

using namespace term_internal;  // NOLINT(build/namespaces): this file's own helpers

int32_t Target(const CpDfa& d, int32_t q, uint32_t cp) { return d.next(q, d.SymbolOf(cp)); }

// Some code point in [a, b] continues from q.
bool AnyLive(const CpDfa& d, int32_t q, uint32_t a, uint32_t b) {
  if (a > b) return false;
  for (int k = d.SymbolOf(a); k < d.num_symbols() && d.sym_lo(k) <= b; ++k) {
    if (d.next(q, k) >= 0) return true;
  }
  return false;
}

bool IsHex(uint8_t c, uint32_t* v) {
  if (c >= '0' && c <= '9') return *v = c - '0', true;
  if (c >= 'a' && c <= 'f') return *v = c - 'a' + 10, true;
  if (c >= 'A' && c <= 'F') return *v = c - 'A' + 10, true;
  return false;
}

// Every code point in [a, b] goes to the same state from q: that state (or -1 for none),
// else -2.
int32_t Uniform(const CpDfa& d, int32_t q, uint32_t a, uint32_t b) {
  int k = d.SymbolOf(a);
  const int32_t t = d.next(q, k);
  while (d.sym_hi(k) < b) {
    if (d.next(q, ++k) != t) return -2;
  }
  return t;
}

// Marks a partial character whose completion no longer matters: every way to finish it
// leads to state `hi` (so states that differ only in the pending bytes are one state).
constexpr uint32_t kUniform = 0xFFFFFFFFu;

// A whole character `cp` was read in content piece `p`; `target` known (kUniform: look up).
bool EmitTo(const TermPiece& p, TermState* s, int32_t target) {
  const int32_t t = target;
  if (t < 0) return false;
  s->local = t;
  s->kind = kBoundary;
  s->need = 0;
  s->lo = s->hi = 0;
  if (p.counted) {
    ++s->count;
    // Frozen: the maximum is out of a token's reach; only reaching the minimum matters.
    if (!s->frozen && p.count_max >= 0 && s->count > p.count_max) return false;
    if (s->frozen || p.count_max < 0) s->count = std::min<int64_t>(s->count, p.count_min);
  }
  return true;
}

bool Emit(const TermPiece& p, TermState* s, uint32_t cp) {
  return EmitTo(p, s, Target(*p.dfa, s->local, cp));
}

// After a partial character covering all of [lo, hi] (a full block: any continuation is
// valid), forget the exact block when its code points all go one way.
void MaybeUniform(const CpDfa& d, TermState* s, uint32_t lo, uint32_t hi) {
  if (lo <= 0xDFFF && hi >= 0xD800) return;
  const int32_t t = Uniform(d, s->local, lo, hi);
  if (t >= 0) {
    s->lo = kUniform;
    s->hi = static_cast<uint32_t>(t);
  }
}

// Hex values [a, b] of a "\u" escape still lead somewhere.
bool HexFeasible(const TermPiece& p, const TermState& s, uint32_t a, uint32_t b) {
  const CpDfa& d = *p.dfa;
  if (AnyLive(d, s.local, a, std::min(b, 0xD7FFu)) ||
      AnyLive(d, s.local, std::max(a, 0xE000u), b)) {
    return true;
  }
  const uint32_t ha = std::max(a, 0xD800u), hb = std::min(b, 0xDBFFu);
  const uint32_t la = std::max(a, 0xDC00u), lb = std::min(b, 0xDFFFu);
  if (p.lone_surrogates) return (ha <= hb || la <= lb) && Target(d, s.local, 0xFFFD) >= 0;
  return ha <= hb && AnyLive(d, s.local, 0x10000 + ((ha - 0xD800) << 10),
                             0x10000 + ((hb - 0xD800) << 10) + 0x3FF);
}

// Some escape (short or \u) leads somewhere from `s`.
bool EscapeFeasible(const TermPiece& p, const TermState& s) {
  static constexpr uint32_t kShortCps[] = {'"', '\\', '/', 8, 12, 10, 13, 9};
  for (uint32_t cp : kShortCps) {
    if (Target(*p.dfa, s.local, cp) >= 0) return true;
  }
  return HexFeasible(p, s, 0, 0xFFFF);
}

bool StepContent(const TermPiece& p, TermState* s, uint8_t b) {
  const CpDfa& d = *p.dfa;
  const bool json = p.kind == Piece::kJsonContent;
  uint32_t v;
  switch (s->kind) {
    case kBoundary:
      if (json && b == '\\') {
        // Only if some escape can follow (else the backslash would be a dead end).
        if (p.counted && !s->frozen && p.count_max >= 0 && s->count >= p.count_max) return false;
        if (!EscapeFeasible(p, *s)) return false;
        s->kind = kBackslash;
        return true;
      }
      if (b < 0x80) {
        if (json && (b < 0x20 || b == '"')) return false;
        return Emit(p, s, b);
      }
      {
        uint32_t lo, hi;
        uint8_t need;
        if (b >= 0xC2 && b <= 0xDF) {
          lo = (b & 0x1Fu) << 6, hi = lo + 0x3F, need = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
          lo = (b & 0x0Fu) << 12, hi = lo + 0xFFF, need = 2;
          if (b == 0xE0) lo = 0x800;
          if (b == 0xED) hi = 0xD7FF;
        } else if (b >= 0xF0 && b <= 0xF4) {
          lo = (b & 0x07u) << 18, hi = lo + 0x3FFFF, need = 3;
          if (b == 0xF0) lo = 0x10000;
          if (b == 0xF4) hi = 0x10FFFF;
        } else {
          return false;
        }
        if (!AnyLive(d, s->local, lo, hi)) return false;
        s->kind = kUtf8, s->need = need, s->lo = lo, s->hi = hi;
        const uint32_t full = 1u << (6 * need);
        if (lo % full == 0 && hi == lo + full - 1) MaybeUniform(d, s, lo, hi);
        return true;
      }
    case kUtf8: {
      if ((b & 0xC0) != 0x80) return false;
      if (s->lo == kUniform) {
        if (--s->need == 0) return EmitTo(p, s, static_cast<int32_t>(s->hi));
        return true;
      }
      const uint32_t block = 1u << (6 * (s->need - 1));
      const uint32_t base = (s->lo & ~((block << 6) - 1)) + (b & 0x3Fu) * block;
      const uint32_t lo = std::max(base, s->lo), hi = std::min(base + block - 1, s->hi);
      if (lo > hi || !AnyLive(d, s->local, lo, hi)) return false;
      if (--s->need == 0) return Emit(p, s, lo);
      s->lo = lo, s->hi = hi;
      if (lo == base && hi == base + block - 1) MaybeUniform(d, s, lo, hi);
      return true;
    }
    case kBackslash: {
      static constexpr std::pair<char, uint32_t> kShort[] = {{'"', '"'}, {'\\', '\\'}, {'/', '/'},
                                                             {'b', 8},   {'f', 12},    {'n', 10},
                                                             {'r', 13},  {'t', 9}};
      for (auto [c, cp] : kShort) {
        if (b == static_cast<uint8_t>(c)) return Emit(p, s, cp);
      }
      if (b != 'u' || !HexFeasible(p, *s, 0, 0xFFFF)) return false;
      s->kind = kHex, s->need = 4, s->lo = 0;
      return true;
    }
    case kHex: {
      if (!IsHex(b, &v)) return false;
      if (s->lo == kUniform) {
        if (--s->need == 0) return EmitTo(p, s, static_cast<int32_t>(s->hi));
        return true;
      }
      const uint32_t val = s->lo * 16 + v;
      const uint32_t span = 1u << (4 * (s->need - 1));
      if (!HexFeasible(p, *s, val * span, val * span + span - 1)) return false;
      if (--s->need > 0) {
        s->lo = val;
        MaybeUniform(d, s, val * span, val * span + span - 1);
        return true;
      }
      if (val >= 0xD800 && val <= 0xDFFF) {
        if (p.lone_surrogates) return Emit(p, s, 0xFFFD);
        s->kind = kHighBack, s->hi = val, s->lo = 0;
        return true;
      }
      return Emit(p, s, val);
    }
    case kHighBack:
      if (b != '\\') return false;
      s->kind = kHighU;
      return true;
    case kHighU:
      if (b != 'u') return false;
      s->kind = kLowHex, s->need = 4, s->lo = 0;
      return true;
    case kLowHex: {
      if (!IsHex(b, &v)) return false;
      const uint32_t val = s->lo * 16 + v;
      const uint32_t span = 1u << (4 * (s->need - 1));
      const uint32_t a = std::max(val * span, 0xDC00u),
                     z = std::min(val * span + span - 1, 0xDFFFu);
      const uint32_t base = 0x10000 + ((s->hi - 0xD800) << 10);
      if (a > z || !AnyLive(d, s->local, base + a - 0xDC00, base + z - 0xDC00)) return false;
      if (--s->need > 0) {
        s->lo = val;
        return true;
      }
      return Emit(p, s, base + val - 0xDC00);
    }
  }
  return false;
}

bool StepPiece(const TermPiece& p, TermState* s, uint8_t b) {
  switch (p.kind) {
    case Piece::kWs:
      if ((b == ' ' || b == '\t' || b == '\n' || b == '\r') && s->local < p.ws_max) {
        ++s->local;
        return true;
      }
      return false;
    case Piece::kBytes:
      if (static_cast<size_t>(s->local) < p.bytes.size() &&
          static_cast<uint8_t>(p.bytes[s->local]) == b) {
        ++s->local;
        return true;
      }
      return false;
    default:
      return StepContent(p, s, b);
  }
}

}  // namespace

TerminalSpec& TerminalSpec::Ws(int max) {
  TermPiece p;
  p.kind = Piece::kWs;
  p.ws_max = max;
  pieces_.push_back(std::move(p));
  return *this;
}

TerminalSpec& TerminalSpec::Bytes(std::string_view b) {
  if (!pieces_.empty() && pieces_.back().kind == Piece::kBytes) {
    pieces_.back().bytes.append(b);
    return *this;
  }
  TermPiece p;
  p.kind = Piece::kBytes;
  p.bytes = std::string(b);
  pieces_.push_back(std::move(p));
  return *this;
}

TerminalSpec& TerminalSpec::Utf8(std::shared_ptr<const CpDfa> d) {
  TermPiece p;
  p.kind = Piece::kUtf8;
  p.dfa = std::move(d);
  pieces_.push_back(std::move(p));
  return *this;
}

TerminalSpec& TerminalSpec::JsonContent(std::shared_ptr<const CpDfa> d, bool lone_surrogates) {
  TermPiece p;
  p.kind = Piece::kJsonContent;
  p.dfa = std::move(d);
  p.lone_surrogates = lone_surrogates;
  pieces_.push_back(std::move(p));
  return *this;
}

TerminalSpec& TerminalSpec::CountedJsonContent(std::shared_ptr<const CpDfa> d, int64_t min,
                                               int64_t max) {
  TermPiece p;
  p.kind = Piece::kJsonContent;
  p.dfa = std::move(d);
  p.counted = true;
  p.count_min = min;
  p.count_max = max;
  pieces_.push_back(std::move(p));
  return *this;
}

std::string TerminalSpec::Key() const {
  std::string k;
  for (const auto& p : pieces_) {
    switch (p.kind) {
      case Piece::kWs:
        k += StrCat("<ws", p.ws_max, ">");
        break;
      case Piece::kBytes:
        k += StrCat("<b", p.bytes.size(), ":", p.bytes, ">");
        break;
      case Piece::kUtf8:
        k += "<u:" + p.dfa->Key() + ">";
        break;
      case Piece::kJsonContent:
        k += StrCat("<j", p.lone_surrogates ? "l" : "",
                    p.counted ? StrCat("#", p.count_min, ",", p.count_max) : "", ":", p.dfa->Key(),
                    ">");
        break;
    }
  }
  return k;
}

bool TerminalSpec::empty() const {
  for (const auto& p : pieces_) {
    if ((p.kind == Piece::kUtf8 || p.kind == Piece::kJsonContent) && p.dfa->empty()) return true;
    if (p.counted && p.count_max >= 0 && p.count_min > p.count_max) return true;
  }
  return false;
}

bool TerminalSpec::nullable() const {
  return std::all_of(pieces_.begin(), pieces_.end(), PieceNullable);
}

TermState TermStepper::Start(const Terminal& t) { return PieceStart(t.spec->pieces()[0], 0, 0); }

int TermStepper::Step(const Terminal& t, const TermState& s, uint8_t b, TermState out[2]) {
  const auto& pieces = t.spec->pieces();
  int n = 0;
  TermState x = s;
  if (StepPiece(pieces[s.piece], &x, b)) {
    x.started = 1;
    out[n++] = x;
  }
  if (!CanEnd(pieces[s.piece], s)) return n;
  for (size_t j = s.piece + 1; j < pieces.size() && n < 2; ++j) {
    TermState y = PieceStart(pieces[j], static_cast<uint16_t>(j), 1);
    y.frozen = s.frozen;
    if (StepPiece(pieces[j], &y, b)) out[n++] = y;
    if (!PieceNullable(pieces[j])) break;
  }
  return n;
}

bool TermStepper::Accepts(const Terminal& t, const TermState& s) {
  const auto& pieces = t.spec->pieces();
  if (t.nonempty && !s.started) return false;
  if (!CanEnd(pieces[s.piece], s)) return false;
  for (size_t j = s.piece + 1; j < pieces.size(); ++j) {
    if (!PieceNullable(pieces[j])) return false;
  }
  return true;
}

bool TermStepper::HasOut(const Terminal& t, const TermState& s) {
  const auto& pieces = t.spec->pieces();
  if (static_cast<size_t>(s.piece) + 1 < pieces.size()) return true;
  const TermPiece& p = pieces[s.piece];
  switch (p.kind) {
    case Piece::kWs:
      return s.local < p.ws_max;
    case Piece::kBytes:
      return static_cast<size_t>(s.local) < p.bytes.size();
    default:
      if (s.kind != kBoundary) return true;
      return AnyLive(*p.dfa, s.local, 0, kMaxCodePoint);
  }
}

}  // namespace phx::grammar
