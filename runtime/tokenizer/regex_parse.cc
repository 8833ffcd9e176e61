// Regex::Compile: a recursive-descent parser for the ECMAScript subset that llama.cpp's
// pre-tokenizer patterns use, following libstdc++'s reading of the syntax (identity escapes,
// '-' handling inside brackets).
#include <algorithm>
#include <optional>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/tokenizer/regex_program.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

absl::Status Syntax(std::string_view pattern, size_t pos, std::string_view what) {
  return absl::InvalidArgumentError(
      StrCat("regex '", pattern, "': ", what, " at code point ", pos));
}

bool IsDigit(uint32_t c) { return c >= '0' && c <= '9'; }

int HexValue(uint32_t c) {
  if (c >= '0' && c <= '9') return static_cast<int>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<int>(c - 'a' + 10);
  if (c >= 'A' && c <= 'F') return static_cast<int>(c - 'A' + 10);
  return -1;
}

// One token of an escape sequence: a symbol, or a class (bits; `negated` for \S \D \W).
struct Escape {
  bool is_class = false;
  uint32_t value = 0;  // the symbol, or the class bits
  bool negated = false;
};

class Parser {
 public:
  Parser(std::string_view pattern, std::vector<uint32_t> pat, Regex::Mode mode,
         Regex::Program* prog)
      : pattern_(pattern), pat_(std::move(pat)), mode_(mode), prog_(prog) {}

  absl::Status Run() {
    auto root = ParseDisjunction();
    if (!root.ok()) return root.status();
    if (i_ != pat_.size()) return Error("unmatched ')'");
    prog_->root = *root;
    return absl::OkStatus();
  }

 private:
  absl::Status Error(std::string_view what) const { return Syntax(pattern_, i_, what); }
  bool AtEnd() const { return i_ >= pat_.size(); }
  uint32_t Peek(size_t ahead = 0) const {
    return i_ + ahead < pat_.size() ? pat_[i_ + ahead] : 0xFFFFFFFFu;
  }

  absl::StatusOr<int> ParseDisjunction() {
    Disjunction d;
    while (true) {
      Alternative alt;
      while (!AtEnd() && Peek() != '|' && Peek() != ')') {
        auto term = ParseTerm();
        if (!term.ok()) return term.status();
        alt.terms.push_back(std::move(*term));
      }
      d.alts.push_back(std::move(alt));
      if (AtEnd() || Peek() != '|') break;
      ++i_;
    }
    prog_->disjs.push_back(std::move(d));
    return static_cast<int>(prog_->disjs.size() - 1);
  }

  int AddSet(CharSet s) {
    s.Finish();
    prog_->sets.push_back(std::move(s));
    return static_cast<int>(prog_->sets.size() - 1);
  }

  Term SetTerm(CharSet s) {
    Term t;
    t.kind = Term::Kind::kSet;
    t.sets.push_back({AddSet(std::move(s)), true});
    return t;
  }

  // \p{...} after the backslash (i_ at 'p'); collapsed mode only.
  absl::StatusOr<uint32_t> ParseProperty() {
    size_t close = i_ + 2;
    while (close < pat_.size() && pat_[close] != '}') ++close;
    if (Peek(1) != '{' || close >= pat_.size()) return Error("bad \\p");
    std::string name;
    for (size_t k = i_ + 2; k < close; ++k) name.push_back(static_cast<char>(pat_[k]));
    uint32_t bits = 0;
    if (name == "L" || name == "Lu" || name == "Ll" || name == "Lt" || name == "Lm" ||
        name == "Lo") {
      bits = kClassPL;
    } else if (name == "N") {
      bits = kClassPN;
    } else if (name == "P") {
      bits = kClassPP;
    } else if (name == "S") {
      bits = kClassPS;
    } else if (name == "M") {
      bits = kClassPM;
    } else {
      return Error(StrCat("unsupported property \\p{", name, "}"));
    }
    i_ = close + 1;
    return bits;
  }

  // An escape sequence (i_ at the backslash).
  absl::StatusOr<Escape> ParseEscape(bool in_bracket) {
    ++i_;
    if (AtEnd()) return Error("trailing backslash");
    const uint32_t c = Peek();
    Escape e;
    if (c == 'p' && mode_ == Regex::Mode::kCollapsed && Peek(1) == '{') {
      auto bits = ParseProperty();
      if (!bits.ok()) return bits.status();
      e.is_class = true;
      e.value = *bits;
      return e;
    }
    ++i_;
    switch (c) {
      case '0':
        e.value = 0;
        return e;
      case 'f':
        e.value = '\f';
        return e;
      case 'n':
        e.value = '\n';
        return e;
      case 'r':
        e.value = '\r';
        return e;
      case 't':
        e.value = '\t';
        return e;
      case 'v':
        e.value = '\v';
        return e;
      case 'b':
        if (!in_bracket) return Error("\\b is not supported");
        e.value = '\b';
        return e;
      case 'B':
        return Error("\\B is not supported");
      case 's':
      case 'S':
      case 'd':
      case 'D':
      case 'w':
      case 'W':
        e.is_class = true;
        e.negated = c == 'S' || c == 'D' || c == 'W';
        e.value = (c == 's' || c == 'S')   ? kClassSpace
                  : (c == 'd' || c == 'D') ? kClassDigit
                                           : kClassWord;
        return e;
      case 'c':
        if (AtEnd()) return Error("bad \\c");
        e.value = Peek() % 32;
        ++i_;
        return e;
      case 'x':
      case 'u': {
        const int n = c == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int k = 0; k < n; ++k) {
          const int h = HexValue(Peek());
          if (h < 0) return Error("bad hex escape");
          v = v * 16 + static_cast<uint32_t>(h);
          ++i_;
        }
        e.value = v;
        return e;
      }
      default:
        if (IsDigit(c)) return Error("back-references are not supported");
        e.value = c;  // identity escape
        return e;
    }
  }

  absl::StatusOr<Term> ParseBracket() {
    ++i_;  // '['
    CharSet set;
    if (Peek() == '^') {
      set.negate = true;
      ++i_;
    }
    std::optional<uint32_t> last;  // a pending single symbol that may start a range
    bool last_is_class = false;
    auto flush = [&] {
      if (last) set.ranges.push_back({*last, *last});
      last.reset();
    };
    // Reads one bracket token: a symbol (returns true) or a class (added to `set`).
    auto read = [&](bool* is_char, uint32_t* ch) -> absl::Status {
      if (Peek() == '\\') {
        auto e = ParseEscape(/*in_bracket=*/true);
        if (!e.ok()) return e.status();
        if (e->is_class) {
          (e->negated ? set.neg_classes : set.classes) |= e->value;
          *is_char = false;
        } else {
          *is_char = true;
          *ch = e->value;
        }
        return absl::OkStatus();
      }
      if (Peek() == '[' && (Peek(1) == ':' || Peek(1) == '.' || Peek(1) == '=')) {
        return Error("POSIX bracket classes are not supported");
      }
      *is_char = true;
      *ch = Peek();
      ++i_;
      return absl::OkStatus();
    };
    while (true) {
      if (AtEnd()) return Error("unterminated '['");
      const uint32_t c = Peek();
      if (c == ']') {
        ++i_;
        flush();
        break;
      }
      if (c == '-') {
        ++i_;
        if (Peek() == ']') {
          flush();
          last = '-';
          continue;
        }
        if (last_is_class) return Error("a range cannot start with a class");
        if (!last) {
          last = '-';  // a dash that starts nothing is a literal
          continue;
        }
        uint32_t hi = '-';
        if (Peek() == '-') {
          ++i_;
        } else {
          bool is_char = false;
          PHX_RETURN_IF_ERROR(read(&is_char, &hi));
          if (!is_char) return Error("a range cannot end with a class");
        }
        if (hi < *last) return Error("range out of order");
        set.ranges.push_back({*last, hi});
        last.reset();
        last_is_class = false;
        continue;
      }
      bool is_char = false;
      uint32_t ch = 0;
      PHX_RETURN_IF_ERROR(read(&is_char, &ch));
      flush();
      if (is_char) {
        last = ch;
        last_is_class = false;
      } else {
        last_is_class = true;
      }
    }
    return SetTerm(std::move(set));
  }

  absl::Status ParseQuantifier(Term* t) {
    if (AtEnd()) return absl::OkStatus();
    const uint32_t c = Peek();
    if (c == '*' || c == '+' || c == '?') {
      t->min = c == '+' ? 1 : 0;
      t->max = c == '?' ? 1 : kUnbounded;
      ++i_;
    } else if (c == '{') {
      ++i_;
      auto number = [&](uint32_t* v) {
        if (!IsDigit(Peek())) return false;
        uint64_t n = 0;
        while (IsDigit(Peek())) {
          n = std::min<uint64_t>(n * 10 + (Peek() - '0'), 1u << 20);
          ++i_;
        }
        *v = static_cast<uint32_t>(n);
        return true;
      };
      if (!number(&t->min)) return Error("bad {n,m}");
      t->max = t->min;
      if (Peek() == ',') {
        ++i_;
        if (!number(&t->max)) t->max = kUnbounded;
      }
      if (Peek() != '}') return Error("bad {n,m}");
      ++i_;
      if (t->max < t->min) return Error("bad {n,m}");
    } else {
      return absl::OkStatus();
    }
    if (t->kind != Term::Kind::kSet && t->kind != Term::Kind::kGroup) {
      return Error("nothing to repeat");
    }
    if (Peek() == '?') {
      t->greedy = false;
      ++i_;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Term> ParseGroup() {
    ++i_;  // '('
    Term t;
    t.kind = Term::Kind::kGroup;
    if (Peek() == '?') {
      const uint32_t k = Peek(1);
      if (k == ':') {
        t.kind = Term::Kind::kGroup;
      } else if (k == '=') {
        t.kind = Term::Kind::kLookahead;
      } else if (k == '!') {
        t.kind = Term::Kind::kNegLookahead;
      } else {
        return Error("unsupported group");
      }
      i_ += 2;
    }
    auto d = ParseDisjunction();
    if (!d.ok()) return d.status();
    if (Peek() != ')') return Error("missing ')'");
    ++i_;
    t.disj = *d;
    FoldSingleSymbol(&t);
    return t;
  }

  // If group `d` always consumes exactly one symbol (optional single-symbol lookaheads, then one
  // symbol), returns the conditions on that symbol.
  bool SingleSymbol(int d, std::vector<std::pair<int, bool>>* conds) const {
    const Disjunction& dj = prog_->disjs[d];
    if (dj.alts.size() != 1) return false;
    const auto& terms = dj.alts[0].terms;
    if (terms.empty()) return false;
    for (size_t k = 0; k + 1 < terms.size(); ++k) {
      const Term& la = terms[k];
      if (la.kind != Term::Kind::kLookahead && la.kind != Term::Kind::kNegLookahead) return false;
      std::vector<std::pair<int, bool>> inner;
      if (!SingleSymbol(la.disj, &inner) || inner.size() != 1 || !inner[0].second) return false;
      conds->push_back({inner[0].first, la.kind == Term::Kind::kLookahead});
    }
    const Term& last = terms.back();
    if (last.min != 1 || last.max != 1) return false;
    if (last.kind == Term::Kind::kSet) {
      conds->insert(conds->end(), last.sets.begin(), last.sets.end());
      return true;
    }
    return last.kind == Term::Kind::kGroup && SingleSymbol(last.disj, conds);
  }

  // Turns a group that matches exactly one symbol into a set term, so that repeating it costs
  // no recursion.
  void FoldSingleSymbol(Term* t) const {
    if (t->kind != Term::Kind::kGroup) return;
    std::vector<std::pair<int, bool>> conds;
    if (!SingleSymbol(t->disj, &conds)) return;
    t->kind = Term::Kind::kSet;
    t->sets = std::move(conds);
    t->disj = -1;
  }

  absl::StatusOr<Term> ParseTerm() {
    const uint32_t c = Peek();
    absl::StatusOr<Term> t;
    switch (c) {
      case '^':
      case '$': {
        ++i_;
        Term a;
        a.kind = c == '^' ? Term::Kind::kBol : Term::Kind::kEol;
        t = a;
        break;
      }
      case '(':
        t = ParseGroup();
        break;
      case '[':
        t = ParseBracket();
        break;
      case '.': {
        ++i_;
        CharSet s;
        s.classes = kClassNotNewline;
        t = SetTerm(std::move(s));
        break;
      }
      case '\\': {
        auto e = ParseEscape(/*in_bracket=*/false);
        if (!e.ok()) return e.status();
        CharSet s;
        if (e->is_class) {
          (e->negated ? s.neg_classes : s.classes) |= e->value;
        } else {
          s.ranges.push_back({e->value, e->value});
        }
        t = SetTerm(std::move(s));
        break;
      }
      case '*':
      case '+':
      case '?':
      case '{':
        return Error("nothing to repeat");
      default: {
        ++i_;
        CharSet s;
        s.ranges.push_back({c, c});
        t = SetTerm(std::move(s));
        break;
      }
    }
    if (!t.ok()) return t.status();
    PHX_RETURN_IF_ERROR(ParseQuantifier(&*t));
    return t;
  }

  std::string_view pattern_;
  std::vector<uint32_t> pat_;
  Regex::Mode mode_;
  Regex::Program* prog_;
  size_t i_ = 0;
};

}  // namespace

absl::StatusOr<Regex> Regex::Compile(std::string_view pattern, Mode mode) {
  std::vector<uint32_t> pat;
  if (mode == Mode::kCollapsed) {
    for (char ch : pattern) {
      if (static_cast<unsigned char>(ch) >= 0x80) {
        return absl::InvalidArgumentError(
            StrCat("regex '", pattern, "': Unicode classes and non-ASCII text do not mix"));
      }
      pat.push_back(static_cast<unsigned char>(ch));
    }
  } else {
    for (size_t k = 0; k < pattern.size();) {
      const int len = Utf8Complete(pattern.substr(k));
      if (len <= 0) return absl::InvalidArgumentError(StrCat("regex '", pattern, "': bad UTF-8"));
      const auto cps = DecodeUtf8Lenient(pattern.substr(k, len));
      pat.push_back(cps[0]);
      k += len;
    }
  }
  Regex re;
  re.mode_ = mode;
  re.pattern_ = std::string(pattern);
  re.prog_ = std::make_unique<Program>();
  Parser parser(re.pattern_, std::move(pat), mode, re.prog_.get());
  PHX_RETURN_IF_ERROR(parser.Run());
  return re;
}

}  // namespace phx::tok
