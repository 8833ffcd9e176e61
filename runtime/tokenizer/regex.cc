// Regex matching: a backtracking matcher with continuations. Repetitions of single symbols
// loop instead of recursing, so the stack depth depends on the pattern, not on the text.
#include "runtime/tokenizer/regex.h"

#include <algorithm>

#include "runtime/tokenizer/regex_program.h"

namespace phx::tok {
namespace {

bool InRanges(uint32_t c, std::initializer_list<std::pair<uint32_t, uint32_t>> ranges) {
  for (const auto& [lo, hi] : ranges) {
    if (c >= lo && c <= hi) return true;
  }
  return false;
}

bool AsciiAlpha(uint32_t c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool AsciiDigit(uint32_t c) { return c >= '0' && c <= '9'; }

// Membership of `c` in one class (a single bit of ClassBits). The \p classes are llama.cpp's
// collapsed ones: the class byte plus the ASCII characters it lists for that class.
bool InClass(uint32_t bit, uint32_t c) {
  switch (bit) {
    case kClassSpace:
      return c == ' ' || (c >= '\t' && c <= '\r');
    case kClassDigit:
      return AsciiDigit(c);
    case kClassWord:
      return AsciiAlpha(c) || AsciiDigit(c) || c == '_';
    case kClassPL:
      return c == kCollapsedLetter || AsciiAlpha(c);
    case kClassPN:
      return c == kCollapsedNumber || AsciiDigit(c);
    case kClassPP:
      return c == kCollapsedPunctuation || InRanges(c, {{0x21, 0x23},
                                                        {0x25, 0x2A},
                                                        {0x2C, 0x2F},
                                                        {0x3A, 0x3B},
                                                        {0x3F, 0x40},
                                                        {0x5B, 0x5D},
                                                        {0x5F, 0x5F},
                                                        {0x7B, 0x7B},
                                                        {0x7D, 0x7D}});
    case kClassPS:
      return c == kCollapsedSymbol || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' ||
             c == '^' || c == '`' || c == '|' || c == '~';
    case kClassPM:
      return c == kCollapsedMark;
    case kClassNotNewline:
      return c != '\n' && c != '\r';
    default:
      return false;
  }
}

bool InAnyClass(uint32_t bits, uint32_t c) {
  for (uint32_t b = bits; b != 0; b &= b - 1) {
    if (InClass(b & -b, c)) return true;
  }
  return false;
}

bool OutsideAnyClass(uint32_t bits, uint32_t c) {
  for (uint32_t b = bits; b != 0; b &= b - 1) {
    if (!InClass(b & -b, c)) return true;
  }
  return false;
}

// A non-owning reference to a callable (the matcher's continuations live on the stack).
template <typename Sig>
class FnRef;
template <typename R, typename... A>
class FnRef<R(A...)> {
 public:
  template <typename F>
  FnRef(const F& f)  // NOLINT(google-explicit-constructor)
      : obj_(&f),
        call_([](const void* o, A... a) -> R { return (*static_cast<const F*>(o))(a...); }) {}
  R operator()(A... a) const { return call_(obj_, a...); }

 private:
  const void* obj_;
  R (*call_)(const void*, A...);
};

using Cont = FnRef<bool(size_t)>;

// Nesting limit: deeper backtracking gives up (no match) instead of exhausting the stack.
constexpr int kMaxDepth = 4000;

class Matcher {
 public:
  Matcher(const Regex::Program& p, const uint32_t* s, size_t begin, size_t end, bool prev_avail)
      : p_(p), s_(s), begin_(begin), end_(end), prev_avail_(prev_avail) {}

  bool Disj(int d, size_t pos, Cont k) {
    if (depth_ >= kMaxDepth) return false;
    ++depth_;
    bool ok = false;
    for (const Alternative& a : p_.disjs[d].alts) {
      if (Terms(a, 0, pos, k)) {
        ok = true;
        break;
      }
    }
    --depth_;
    return ok;
  }

 private:
  bool SymbolOk(const Term& t, size_t pos) const {
    if (pos >= end_) return false;
    const uint32_t c = s_[pos];
    for (const auto& [set, want] : t.sets) {
      if (p_.sets[set].Matches(c) != want) return false;
    }
    return true;
  }

  // Length of the run of symbols matching `t` at `pos`, at most `limit`. Unbounded runs are
  // cached, so that scanning every start inside a long run stays linear.
  size_t Run(const Term& t, size_t pos, size_t limit) {
    if (t.max == kUnbounded && &t == run_term_ && pos >= run_begin_ && pos <= run_end_) {
      return run_end_ - pos;
    }
    size_t n = 0;
    while (n < limit && SymbolOk(t, pos + n)) ++n;
    if (t.max == kUnbounded) {
      run_term_ = &t;
      run_begin_ = pos;
      run_end_ = pos + n;
    }
    return n;
  }

  bool Terms(const Alternative& a, size_t i, size_t pos, Cont k) {
    if (i == a.terms.size()) return k(pos);
    const Term& t = a.terms[i];
    auto rest = [&](size_t p) { return Terms(a, i + 1, p, k); };
    switch (t.kind) {
      case Term::Kind::kSet: {
        const size_t avail = end_ - pos;
        const size_t limit = t.max == kUnbounded ? avail : std::min<size_t>(t.max, avail);
        if (t.greedy) {
          const size_t n = Run(t, pos, limit);
          if (n < t.min) return false;
          if (i + 1 < a.terms.size() && a.terms[i + 1].kind == Term::Kind::kEol) {
            return pos + n == end_ && rest(pos + n);  // only the longest run can reach the end
          }
          for (size_t j = n;; --j) {
            if (rest(pos + j)) return true;
            if (j == t.min) return false;
          }
        }
        size_t j = 0;
        while (j < t.min) {
          if (j >= limit || !SymbolOk(t, pos + j)) return false;
          ++j;
        }
        while (true) {
          if (rest(pos + j)) return true;
          if (j >= limit || !SymbolOk(t, pos + j)) return false;
          ++j;
        }
      }
      case Term::Kind::kGroup:
        return Repeat(t, 0, pos, rest);
      case Term::Kind::kLookahead:
      case Term::Kind::kNegLookahead: {
        const bool found = Disj(t.disj, pos, [](size_t) { return true; });
        if (found != (t.kind == Term::Kind::kLookahead)) return false;
        return rest(pos);
      }
      case Term::Kind::kBol:
        return pos == begin_ && !prev_avail_ && rest(pos);
      case Term::Kind::kEol:
        return pos == end_ && rest(pos);
    }
    return false;
  }

  bool Repeat(const Term& t, uint32_t count, size_t pos, Cont k) {
    if (count >= t.max) return k(pos);
    auto again = [&](size_t p) {
      if (p == pos && count >= t.min) return false;  // an empty iteration ends the loop
      return Repeat(t, count + 1, p, k);
    };
    if (t.greedy) {
      if (Disj(t.disj, pos, again)) return true;
      return count >= t.min && k(pos);
    }
    if (count >= t.min && k(pos)) return true;
    return Disj(t.disj, pos, again);
  }

  const Regex::Program& p_;
  const uint32_t* s_;
  size_t begin_, end_;
  bool prev_avail_;
  int depth_ = 0;
  const Term* run_term_ = nullptr;  // Run() cache: [run_begin_, run_end_) all match run_term_
  size_t run_begin_ = 0, run_end_ = 0;
};

}  // namespace

bool CharSet::MatchesSlow(uint32_t c) const {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                             [](uint32_t v, const auto& r) { return v < r.first; });
  bool in = it != ranges.begin() && c <= (it - 1)->second;
  in = in || InAnyClass(classes, c) || OutsideAnyClass(neg_classes, c);
  return in != negate;
}

void CharSet::Finish() {
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<uint32_t, uint32_t>> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  ranges = std::move(merged);
  for (uint32_t c = 0; c < 128; ++c) ascii[c] = MatchesSlow(c);
}

Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

bool Regex::Search(std::span<const uint32_t> text, size_t begin, size_t end, size_t from,
                   bool continuous, bool not_null, bool prev_avail, Match* m) const {
  Matcher matcher(*prog_, text.data(), begin, end, prev_avail);
  for (size_t start = from; start <= end; ++start) {
    size_t found_end = 0;
    auto accept = [&](size_t p) {
      if (not_null && p == start) return false;
      found_end = p;
      return true;
    };
    if (matcher.Disj(prog_->root, start, accept)) {
      m->begin = start;
      m->end = found_end;
      return true;
    }
    if (continuous) break;
  }
  return false;
}

std::vector<size_t> Regex::Split(std::span<const uint32_t> text,
                                 std::span<const size_t> offsets) const {
  std::vector<size_t> out;
  out.reserve(offsets.size());
  size_t seg_begin = 0;
  for (const size_t len : offsets) {
    const size_t b = seg_begin, e = seg_begin + len;
    seg_begin = e;
    size_t prev = b;
    Match m;
    bool found = Search(text, b, e, b, false, false, false, &m);
    while (found) {
      if (m.begin > prev) out.push_back(m.begin - prev);
      if (m.end > m.begin) out.push_back(m.end - m.begin);
      prev = m.end;
      size_t from = m.end;
      if (m.begin == m.end) {
        if (m.end == e) break;
        if (Search(text, b, e, m.end, true, true, true, &m)) continue;
        from = prev + 1;
      }
      found = Search(text, b, e, from, false, false, true, &m);
    }
    if (e > prev) out.push_back(e - prev);
  }
  return out;
}

}  // namespace phx::tok
