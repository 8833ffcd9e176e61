// ParsePattern: the ECMAScript regex subset of JSON-schema `pattern` and of whole-output
// regexes, parsed into Rx expressions (regex.cc builds them).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/regex.h"

namespace phx::grammar {

namespace {

class PatternParser {
 public:
  PatternParser(std::string_view p, Rx* rx, const PatternOptions& opt)
      : p_(p), rx_(rx), opt_(opt) {}

  absl::StatusOr<Rx::Id> Run() {
    if (!Decode()) return absl::InvalidArgumentError("pattern is not valid UTF-8");
    Rx::Id r = Alternation(0);
    if (!err_.empty()) return Err();
    if (pos_ != cps_.size()) {
      err_ = "unbalanced ')'";
      return Err();
    }
    return r;
  }

 private:
  absl::Status Err() const {
    return absl::InvalidArgumentError(StrCat("pattern: ", err_, " at character ", pos_));
  }
  bool Decode() {
    size_t i = 0;
    while (i < p_.size()) {
      const auto c = static_cast<uint8_t>(p_[i]);
      int n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
      if ((c & 0xC0) == 0x80 || c >= 0xF8 || i + n > p_.size()) return false;
      uint32_t cp = n == 1 ? c : c & (0x7F >> n);
      for (int k = 1; k < n; ++k) {
        const auto cc = static_cast<uint8_t>(p_[i + k]);
        if ((cc & 0xC0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3F);
      }
      cps_.push_back(cp);
      i += n;
    }
    return true;
  }
  bool More() const { return pos_ < cps_.size(); }
  uint32_t Peek(size_t k = 0) const { return pos_ + k < cps_.size() ? cps_[pos_ + k] : 0; }
  Rx::Id Fail(std::string msg) {
    if (err_.empty()) err_ = std::move(msg);
    return rx_->Nothing();
  }

  Rx::Id Alternation(int depth) {
    if (depth > 200) return Fail("groups nested too deep");
    std::vector<Rx::Id> alts;
    alts.push_back(Sequence(depth));
    while (err_.empty() && More() && Peek() == '|') {
      ++pos_;
      alts.push_back(Sequence(depth));
    }
    return rx_->Alt(std::move(alts));
  }

  Rx::Id Sequence(int depth) {
    std::vector<Rx::Id> items;
    while (err_.empty() && More() && Peek() != '|' && Peek() != ')') {
      Rx::Id atom = Atom(depth);
      if (!err_.empty()) break;
      atom = Quantified(atom);
      items.push_back(atom);
    }
    return rx_->Cat(std::move(items));
  }

  // Parses {n}, {n,}, {n,m} at pos_; false (pos_ unchanged) when it is not a quantifier.
  bool Braces(int32_t* min, int32_t* max) {
    size_t i = pos_ + 1;
    auto number = [&](int64_t* v) {
      size_t start = i;
      *v = 0;
      while (i < cps_.size() && cps_[i] >= '0' && cps_[i] <= '9') {
        *v = std::min<int64_t>(*v * 10 + (cps_[i] - '0'), 1 << 30);
        ++i;
      }
      return i > start;
    };
    int64_t a, b;
    if (!number(&a)) {
      if (i < cps_.size() && cps_[i] == ',') {
        Fail("'{,n}' quantifier (Python and ECMAScript read it differently)");
      }
      return false;
    }
    b = a;
    if (i < cps_.size() && cps_[i] == ',') {
      ++i;
      if (!number(&b)) b = Rx::kInf;
    }
    if (i >= cps_.size() || cps_[i] != '}') return false;
    pos_ = i + 1;
    if (a > opt_.max_repeat || b > opt_.max_repeat) {
      Fail(StrCat("repeat count above ", opt_.max_repeat));
      return true;
    }
    if (b != Rx::kInf && b < a) {
      Fail("quantifier range out of order");
      return true;
    }
    *min = static_cast<int32_t>(a);
    *max = static_cast<int32_t>(b);
    return true;
  }

  Rx::Id Quantified(Rx::Id atom) {
    while (err_.empty() && More()) {
      int32_t min, max;
      const uint32_t c = Peek();
      if (c == '*') {
        min = 0, max = Rx::kInf, ++pos_;
      } else if (c == '+') {
        min = 1, max = Rx::kInf, ++pos_;
      } else if (c == '?') {
        min = 0, max = 1, ++pos_;
      } else if (c == '{') {
        if (!Braces(&min, &max)) break;
        if (!err_.empty()) return atom;
      } else {
        break;
      }
      if (More() && Peek() == '?') ++pos_;  // lazy: same language
      if (IsAnchor(atom)) return Fail("quantified anchor");
      atom = rx_->Repeat(atom, min, max);
    }
    return atom;
  }

  bool IsAnchor(Rx::Id id) const {
    const auto& n = rx_->node(id);
    return n.op == Rx::Op::kSet && (n.set.Contains(kBeginMarker) || n.set.Contains(kEndMarker));
  }

  Rx::Id Atom(int depth) {
    const uint32_t c = Peek();
    ++pos_;
    switch (c) {
      case '^':
        return rx_->Char(kBeginMarker);
      case '$':
        return rx_->Char(kEndMarker);
      case '.': {
        CharSet s = CharSet::Of('\n').Union(CharSet::Of('\r'));
        s.Add(0x2028, 0x2029);
        return rx_->Set(s.Complement());
      }
      case '(': {
        if (Peek() == '?') {
          if (Peek(1) == ':') {
            pos_ += 2;
          } else if (Peek(1) == '<' && Peek(2) != '=' && Peek(2) != '!') {
            pos_ += 2;
            while (More() && Peek() != '>') ++pos_;
            if (!More()) return Fail("unterminated group name");
            ++pos_;
          } else {
            return Fail("lookaround and inline flags are not supported");
          }
        }
        Rx::Id inner = Alternation(depth + 1);
        if (!err_.empty()) return inner;
        if (!More() || Peek() != ')') return Fail("missing ')'");
        ++pos_;
        return inner;
      }
      case ')':
        return Fail("unbalanced ')'");
      case '[':
        return Class();
      case '*':
      case '+':
      case '?':
        return Fail("nothing to repeat");
      case '{': {
        --pos_;
        int32_t a, b;
        if (Braces(&a, &b)) return Fail("nothing to repeat");
        ++pos_;
        return rx_->Char('{');
      }
      case '\\':
        return Escape();
      default:
        return rx_->Char(c);
    }
  }

  // The escape after a backslash, outside a class.
  Rx::Id Escape() {
    if (!More()) return Fail("trailing backslash");
    const uint32_t e = Peek();
    if (e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 's' || e == 'S') {
      ++pos_;
      return rx_->Set(EscapeClass(static_cast<char>(e), false));
    }
    if (e == 'b' || e == 'B') return Fail("word boundaries are not supported");
    if (e >= '1' && e <= '9') return Fail("backreferences are not supported");
    if (e == 'p' || e == 'P') return Fail("Unicode property escapes are not supported");
    if (e == 'k') return Fail("named backreferences are not supported");
    uint32_t cp;
    if (!CharEscape(false, &cp)) return rx_->Nothing();
    return rx_->Char(cp);
  }

  uint32_t Hex(int n, bool* ok) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) {
      const uint32_t c = Peek();
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        *ok = false;
        return 0;
      }
      v = v * 16 + d;
      ++pos_;
    }
    return v;
  }

  // A single-character escape at pos_ (after the backslash).
  bool CharEscape(bool in_class, uint32_t* cp) {
    const uint32_t e = Peek();
    ++pos_;
    bool ok = true;
    switch (e) {
      case 't':
        *cp = '\t';
        return true;
      case 'n':
        *cp = '\n';
        return true;
      case 'r':
        *cp = '\r';
        return true;
      case 'v':
        *cp = '\v';
        return true;
      case 'f':
        *cp = '\f';
        return true;
      case '0':
        if (Peek() >= '0' && Peek() <= '9') return Fail("octal escapes are not supported"), false;
        *cp = 0;
        return true;
      case 'b':
        if (in_class) {
          *cp = '\b';
          return true;
        }
        break;
      case 'x':
        *cp = Hex(2, &ok);
        if (!ok) return Fail("bad \\x escape"), false;
        return true;
      case 'u': {
        if (Peek() == '{') return Fail("\\u{...} escapes are not supported"), false;
        *cp = Hex(4, &ok);
        if (!ok) return Fail("bad \\u escape"), false;
        if (*cp >= 0xD800 && *cp <= 0xDBFF && Peek() == '\\' && Peek(1) == 'u') {
          const size_t save = pos_;
          pos_ += 2;
          const uint32_t lo = Hex(4, &ok);
          if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
            *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
            return true;
          }
          pos_ = save;
        }
        if (*cp >= 0xD800 && *cp <= 0xDFFF) return Fail("lone surrogate escape"), false;
        return true;
      }
      case 'c': {
        const uint32_t l = Peek();
        if ((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')) {
          ++pos_;
          *cp = l % 32;
          return true;
        }
        return Fail("bad \\c escape"), false;
      }
      default:
        break;
    }
    // Identity escapes: punctuation stands for itself; letters are unknown escapes (Python
    // rejects them, ECMAScript reads the letter).
    if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9')) {
      return Fail(StrCat("unknown escape '\\", static_cast<char>(e), "'")), false;
    }
    *cp = e;
    return true;
  }

  Rx::Id Class() {
    bool negate = false;
    if (Peek() == '^') {
      negate = true;
      ++pos_;
    }
    CharSet set;
    bool first = true;
    while (true) {
      if (!More()) return Fail("unterminated character class");
      uint32_t c = Peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      if (c == ']' && first) {
        // ECMAScript: "[]" matches nothing and "[^]" anything; Python reads a literal ']'.
        return Fail("']' first in a class (engines disagree)");
      }
      first = false;
      uint32_t lo;
      if (!ClassAtom(negate, &set, &lo)) {
        if (!err_.empty()) return rx_->Nothing();
        continue;  // a class escape such as \d, already added
      }
      if (Peek() == '-' && Peek(1) != ']' && pos_ + 1 < cps_.size()) {
        ++pos_;
        uint32_t hi;
        CharSet dummy;
        if (!ClassAtom(negate, &dummy, &hi)) {
          if (!err_.empty()) return rx_->Nothing();
          return Fail("class escape as a range end");
        }
        if (hi < lo) return Fail("class range out of order");
        set.Add(lo, hi);
      } else {
        set.Add(lo);
      }
    }
    if (negate) set = set.Complement();
    return rx_->Set(set.Intersect(CharSet::Scalars()));
  }

  // One class member: returns true with a single code point in *cp, or false after adding a
  // class escape to *set (or on error).
  bool ClassAtom(bool negate, CharSet* set, uint32_t* cp) {
    const uint32_t c = Peek();
    if (c != '\\') {
      ++pos_;
      if (c == '[' && (Peek() == ':' || Peek() == '=' || Peek() == '.')) {
        return Fail("POSIX classes are not supported"), false;
      }
      *cp = c;
      return true;
    }
    ++pos_;
    if (!More()) return Fail("trailing backslash"), false;
    const uint32_t e = Peek();
    if (e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 's' || e == 'S') {
      ++pos_;
      set->Add(EscapeClass(static_cast<char>(e), negate));
      return false;
    }
    if (e == 'p' || e == 'P') return Fail("Unicode property escapes are not supported"), false;
    if (e >= '1' && e <= '9') return Fail("backreferences are not supported"), false;
    return CharEscape(true, cp);
  }

  std::string_view p_;
  std::vector<uint32_t> cps_;
  Rx* rx_;
  PatternOptions opt_;
  size_t pos_ = 0;
  std::string err_;
};

}  // namespace

absl::StatusOr<Rx::Id> ParsePattern(std::string_view pattern, Rx* rx, const PatternOptions& opt) {
  return PatternParser(pattern, rx, opt).Run();
}

}  // namespace phx::grammar
