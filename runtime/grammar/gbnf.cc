#include "runtime/grammar/gbnf.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/cpdfa.h"

namespace phx::grammar {
namespace {

constexpr int kMaxRepetition = 2000;      // llama.cpp's MAX_REPETITION_THRESHOLD
constexpr int64_t kMaxInlineSize = 4000;  // estimated NFA states of one folded terminal

struct GElem;
using GSeq = std::vector<GElem>;
using GAlts = std::vector<GSeq>;

struct GElem {
  enum class Kind { kChars, kClass, kRef, kGroup, kRepeat } kind = Kind::kChars;
  std::vector<uint32_t> chars;   // kChars: a literal
  CharSet set;                   // kClass ('.' is a class too)
  int ref = -1;                  // kRef
  std::shared_ptr<GAlts> group;  // kGroup
  std::shared_ptr<GElem> inner;  // kRepeat
  int min = 0, max = 0;          // kRepeat (max -1: unbounded)
};

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view s) : s_(s) {}

  absl::Status Run() {
    size_t pos = Space(0, true);
    while (pos < s_.size() && err_.empty()) pos = Rule(pos);
    if (!err_.empty()) return absl::InvalidArgumentError(StrCat("GBNF: ", err_));
    for (size_t i = 0; i < rules_.size(); ++i) {
      if (!defined_[i]) {
        return absl::InvalidArgumentError(StrCat("GBNF: undefined rule '", names_[i], "'"));
      }
    }
    auto it = ids_.find("root");
    if (it == ids_.end()) return absl::InvalidArgumentError("GBNF: no 'root' rule");
    root_ = it->second;
    return absl::OkStatus();
  }

  std::vector<GAlts> rules_;
  std::vector<std::string> names_;
  int root_ = 0;

 private:
  static bool WordChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  }
  size_t Fail(size_t pos, const std::string& msg) {
    if (err_.empty()) err_ = StrCat(msg, " at byte ", pos);
    return s_.size();
  }
  size_t Space(size_t pos, bool newline_ok) const {
    while (pos < s_.size()) {
      const char c = s_[pos];
      if (c == ' ' || c == '\t' || (newline_ok && (c == '\r' || c == '\n'))) {
        ++pos;
      } else if (c == '#') {
        while (pos < s_.size() && s_[pos] != '\r' && s_[pos] != '\n') ++pos;
      } else {
        break;
      }
    }
    return pos;
  }
  int RuleId(std::string_view name) {
    auto it = ids_.find(std::string(name));
    if (it != ids_.end()) return it->second;
    const int id = static_cast<int>(rules_.size());
    ids_.emplace(std::string(name), id);
    rules_.emplace_back();
    names_.emplace_back(name);
    defined_.push_back(false);
    return id;
  }
  size_t Name(size_t pos, std::string_view* out) {
    const size_t start = pos;
    while (pos < s_.size() && WordChar(s_[pos])) ++pos;
    if (pos == start) return Fail(pos, "expected a rule name");
    *out = s_.substr(start, pos - start);
    return pos;
  }
  size_t Rule(size_t pos) {
    std::string_view name;
    pos = Name(pos, &name);
    if (!err_.empty()) return pos;
    pos = Space(pos, false);
    if (s_.substr(pos, 3) != "::=") return Fail(pos, "expected '::='");
    pos = Space(pos + 3, true);
    const int id = RuleId(name);
    if (defined_[id]) return Fail(pos, StrCat("rule '", name, "' defined twice"));
    defined_[id] = true;
    GAlts alts;
    pos = Alternates(pos, &alts, false, 0);
    rules_[id] = std::move(alts);
    if (pos < s_.size() && s_[pos] == '\r') ++pos;
    if (pos < s_.size() && s_[pos] == '\n') {
      ++pos;
    } else if (pos < s_.size() && err_.empty()) {
      return Fail(pos, "expected newline or end");
    }
    return Space(pos, true);
  }
  size_t Alternates(size_t pos, GAlts* out, bool nested, int depth) {
    if (depth > 100) return Fail(pos, "groups nested too deep");
    out->emplace_back();
    pos = Sequence(pos, &out->back(), nested, depth);
    while (err_.empty() && pos < s_.size() && s_[pos] == '|') {
      pos = Space(pos + 1, true);
      out->emplace_back();
      pos = Sequence(pos, &out->back(), nested, depth);
    }
    return pos;
  }
  // One character of a literal or class (escapes as llama.cpp's parse_char).
  size_t Char(size_t pos, uint32_t* cp) {
    if (pos >= s_.size()) return Fail(pos, "unexpected end of input");
    if (s_[pos] == '\\') {
      if (pos + 1 >= s_.size()) return Fail(pos, "unexpected end of input");
      const char e = s_[pos + 1];
      int hex = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
      if (hex) {
        uint32_t v = 0;
        for (int i = 0; i < hex; ++i) {
          const size_t p = pos + 2 + i;
          if (p >= s_.size()) return Fail(p, "expected hex digits");
          const char c = s_[p];
          int d = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
          if (d < 0) return Fail(p, "expected hex digits");
          v = v * 16 + d;
        }
        if (v > kMaxCodePoint) return Fail(pos, "code point out of range");
        *cp = v;
        return pos + 2 + hex;
      }
      switch (e) {
        case 't':
          *cp = '\t';
          return pos + 2;
        case 'r':
          *cp = '\r';
          return pos + 2;
        case 'n':
          *cp = '\n';
          return pos + 2;
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
          *cp = static_cast<uint8_t>(e);
          return pos + 2;
        default:
          return Fail(pos, "unknown escape");
      }
    }
    const auto c = static_cast<uint8_t>(s_[pos]);
    int n = c < 0x80             ? 1
            : (c & 0xE0) == 0xC0 ? 2
            : (c & 0xF0) == 0xE0 ? 3
            : (c & 0xF8) == 0xF0 ? 4
                                 : 0;
    if (n == 0 || pos + n > s_.size()) return Fail(pos, "invalid UTF-8");
    uint32_t v = n == 1 ? c : c & (0x7F >> n);
    for (int i = 1; i < n; ++i) {
      const auto cc = static_cast<uint8_t>(s_[pos + i]);
      if ((cc & 0xC0) != 0x80) return Fail(pos, "invalid UTF-8");
      v = (v << 6) | (cc & 0x3F);
    }
    *cp = v;
    return pos + n;
  }
  size_t Sequence(size_t pos, GSeq* seq, bool nested, int depth) {
    while (err_.empty() && pos < s_.size()) {
      const char c = s_[pos];
      if (c == '"') {
        GElem e;
        ++pos;
        while (err_.empty() && (pos >= s_.size() || s_[pos] != '"')) {
          uint32_t cp;
          pos = Char(pos, &cp);
          e.chars.push_back(cp);
        }
        if (!err_.empty()) return pos;
        seq->push_back(std::move(e));
        pos = Space(pos + 1, nested);
      } else if (c == '[') {
        GElem e;
        e.kind = GElem::Kind::kClass;
        ++pos;
        bool negate = false;
        if (pos < s_.size() && s_[pos] == '^') negate = true, ++pos;
        while (err_.empty() && (pos >= s_.size() || s_[pos] != ']')) {
          uint32_t lo, hi;
          pos = Char(pos, &lo);
          hi = lo;
          if (err_.empty() && pos + 1 < s_.size() && s_[pos] == '-' && s_[pos + 1] != ']') {
            pos = Char(pos + 1, &hi);
          }
          if (hi < lo) return Fail(pos, "class range out of order");
          e.set.Add(lo, hi);
        }
        if (!err_.empty()) return pos;
        if (negate) e.set = e.set.Complement();
        seq->push_back(std::move(e));
        pos = Space(pos + 1, nested);
      } else if (c == '<' || c == '!') {
        return Fail(pos, "token references (<[id]>, <text>) are not supported");
      } else if (WordChar(c)) {
        std::string_view name;
        pos = Name(pos, &name);
        GElem e;
        e.kind = GElem::Kind::kRef;
        e.ref = RuleId(name);
        seq->push_back(std::move(e));
        pos = Space(pos, nested);
      } else if (c == '(') {
        GElem e;
        e.kind = GElem::Kind::kGroup;
        e.group = std::make_shared<GAlts>();
        pos = Alternates(Space(pos + 1, true), e.group.get(), true, depth + 1);
        if (!err_.empty()) return pos;
        if (pos >= s_.size() || s_[pos] != ')') return Fail(pos, "expected ')'");
        seq->push_back(std::move(e));
        pos = Space(pos + 1, nested);
      } else if (c == '.') {
        GElem e;
        e.kind = GElem::Kind::kClass;
        e.set = CharSet::All();
        seq->push_back(std::move(e));
        pos = Space(pos + 1, nested);
      } else if (c == '*' || c == '+' || c == '?' || c == '{') {
        int min = 0, max = -1;
        if (c == '+') min = 1;
        if (c == '?') max = 1;
        ++pos;
        if (c == '{') {
          pos = Space(pos, nested);
          auto number = [&](int* v) {
            const size_t start = pos;
            int64_t x = 0;
            while (pos < s_.size() && s_[pos] >= '0' && s_[pos] <= '9') {
              x = std::min<int64_t>(x * 10 + (s_[pos] - '0'), 1 << 30);
              ++pos;
            }
            *v = static_cast<int>(x);
            return pos > start;
          };
          if (!number(&min)) return Fail(pos, "expected an integer");
          pos = Space(pos, nested);
          if (pos < s_.size() && s_[pos] == '}') {
            max = min;
          } else if (pos < s_.size() && s_[pos] == ',') {
            pos = Space(pos + 1, nested);
            if (!number(&max)) max = -1;
            pos = Space(pos, nested);
            if (pos >= s_.size() || s_[pos] != '}') return Fail(pos, "expected '}'");
          } else {
            return Fail(pos, "expected ',' or '}'");
          }
          ++pos;
          if (min > kMaxRepetition) return Fail(pos, "repetition count too large");
          if (max > kMaxRepetition) max = -1;  // as llama.cpp: treated as unbounded
          if (max >= 0 && max < min) return Fail(pos, "repetition range out of order");
        }
        if (seq->empty()) return Fail(pos, "expecting preceding item to */+/?/{");
        GElem e;
        e.kind = GElem::Kind::kRepeat;
        e.inner = std::make_shared<GElem>(std::move(seq->back()));
        e.min = min;
        e.max = max;
        seq->back() = std::move(e);
        pos = Space(pos, nested);
      } else {
        break;
      }
    }
    return pos;
  }

  std::string_view s_;
  std::map<std::string, int> ids_;
  std::vector<bool> defined_;
  std::string err_;
};

class GbnfCompiler {
 public:
  explicit GbnfCompiler(const GbnfParser& p) : p_(p) {}

  absl::StatusOr<std::shared_ptr<const Grammar>> Run() {
    FindRecursive();
    rule_sym_.assign(p_.rules_.size(), 0);
    rule_made_.assign(p_.rules_.size(), false);
    rule_rx_.assign(p_.rules_.size(), std::nullopt);
    rule_rx_done_.assign(p_.rules_.size(), false);
    auto root = RuleSym(p_.root_);
    if (!root.ok()) return root.status();
    return b_.Build(*root);
  }

 private:
  // Rules on a reference cycle cannot become regular expressions.
  void FindRecursive() {
    const size_t n = p_.rules_.size();
    std::vector<std::vector<int>> refs(n);
    std::function<void(const GElem&, int)> collect = [&](const GElem& e, int r) {
      if (e.kind == GElem::Kind::kRef) refs[r].push_back(e.ref);
      if (e.group) {
        for (const auto& s : *e.group)
          for (const auto& x : s) collect(x, r);
      }
      if (e.inner) collect(*e.inner, r);
    };
    for (size_t r = 0; r < n; ++r) {
      for (const auto& s : p_.rules_[r])
        for (const auto& e : s) collect(e, static_cast<int>(r));
    }
    recursive_.assign(n, false);
    // A rule is recursive when it can reach itself.
    for (size_t r = 0; r < n; ++r) {
      std::vector<bool> seen(n, false);
      std::vector<int> stack(refs[r].begin(), refs[r].end());
      while (!stack.empty() && !recursive_[r]) {
        const int x = stack.back();
        stack.pop_back();
        if (x == static_cast<int>(r)) recursive_[r] = true;
        if (seen[x]) continue;
        seen[x] = true;
        stack.insert(stack.end(), refs[x].begin(), refs[x].end());
      }
    }
  }

  // The element as a regular expression, if it is regular and small enough.
  std::optional<Rx::Id> RxOf(const GElem& e, int64_t* size) {
    switch (e.kind) {
      case GElem::Kind::kChars: {
        std::vector<Rx::Id> kids;
        for (uint32_t c : e.chars) kids.push_back(rx_.Char(c));
        *size = static_cast<int64_t>(e.chars.size()) + 1;
        return rx_.Cat(std::move(kids));
      }
      case GElem::Kind::kClass:
        *size = 2;
        return rx_.Set(e.set);
      case GElem::Kind::kRef: {
        if (recursive_[e.ref]) return std::nullopt;
        if (!rule_rx_done_[e.ref]) {
          rule_rx_done_[e.ref] = true;
          int64_t sz = 0;
          rule_rx_[e.ref] = AltsRx(p_.rules_[e.ref], &sz);
          rule_rx_size_[e.ref] = sz;
        }
        *size = rule_rx_size_[e.ref];
        return rule_rx_[e.ref];
      }
      case GElem::Kind::kGroup:
        return AltsRx(*e.group, size);
      case GElem::Kind::kRepeat: {
        int64_t inner = 0;
        auto r = RxOf(*e.inner, &inner);
        if (!r) return std::nullopt;
        *size = inner * (std::max(e.min, e.max) + 1);
        if (*size > kMaxInlineSize) return std::nullopt;
        return rx_.Repeat(*r, e.min, e.max < 0 ? Rx::kInf : e.max);
      }
    }
    return std::nullopt;
  }
  std::optional<Rx::Id> AltsRx(const GAlts& alts, int64_t* size) {
    std::vector<Rx::Id> out;
    *size = 1;
    for (const auto& seq : alts) {
      std::vector<Rx::Id> parts;
      for (const auto& e : seq) {
        int64_t s = 0;
        auto r = RxOf(e, &s);
        if (!r) return std::nullopt;
        *size += s;
        if (*size > kMaxInlineSize) return std::nullopt;
        parts.push_back(*r);
      }
      out.push_back(rx_.Cat(std::move(parts)));
    }
    return rx_.Alt(std::move(out));
  }

  absl::StatusOr<Sym> TermOf(Rx::Id r) {
    auto d = CpDfa::FromRx(rx_, r);
    if (!d.ok()) return d.status();
    TerminalSpec spec;
    spec.Utf8(std::make_shared<const CpDfa>(*std::move(d)));
    return b_.Term(spec);
  }

  absl::StatusOr<Sym> RuleSym(int r) {
    if (rule_made_[r]) return rule_sym_[r];
    rule_made_[r] = true;
    rule_sym_[r] = b_.NewNonterm(p_.names_[r]);
    auto st = AddAlts(rule_sym_[r], p_.rules_[r]);
    if (!st.ok()) return st;
    return rule_sym_[r];
  }

  absl::Status AddAlts(Sym nt, const GAlts& alts) {
    for (const auto& seq : alts) {
      auto syms = SeqSyms(seq);
      if (!syms.ok()) return syms.status();
      b_.AddAlt(nt, *std::move(syms));
    }
    return absl::OkStatus();
  }

  // A sequence: runs of regular elements become one terminal each.
  absl::StatusOr<std::vector<Sym>> SeqSyms(const GSeq& seq) {
    std::vector<Sym> out;
    std::vector<Rx::Id> run;
    int64_t run_size = 0;
    auto flush = [&]() -> absl::Status {
      if (run.empty()) return absl::OkStatus();
      auto t = TermOf(rx_.Cat(run));
      run.clear();
      run_size = 0;
      if (!t.ok()) return t.status();
      out.push_back(*t);
      return absl::OkStatus();
    };
    for (const auto& e : seq) {
      int64_t size = 0;
      auto r = RxOf(e, &size);
      if (r && run_size + size <= kMaxInlineSize) {
        run.push_back(*r);
        run_size += size;
        continue;
      }
      if (auto st = flush(); !st.ok()) return st;
      if (r) {
        run.push_back(*r);
        run_size = size;
        continue;
      }
      auto s = ElemSym(e);
      if (!s.ok()) return s.status();
      out.push_back(*s);
    }
    if (auto st = flush(); !st.ok()) return st;
    return out;
  }

  // A non-regular element as a grammar symbol.
  absl::StatusOr<Sym> ElemSym(const GElem& e) {
    switch (e.kind) {
      case GElem::Kind::kRef:
        return RuleSym(e.ref);
      case GElem::Kind::kGroup: {
        Sym nt = b_.NewNonterm("group");
        auto st = AddAlts(nt, *e.group);
        if (!st.ok()) return st;
        return nt;
      }
      case GElem::Kind::kRepeat: {
        auto x = ElemSym1(*e.inner);
        if (!x.ok()) return x.status();
        std::vector<Sym> seq(e.min, *x);
        Sym tail;
        if (e.max < 0) {
          tail = b_.NewNonterm("star");
          b_.AddAlt(tail, {*x, tail});
          b_.AddAlt(tail, {});
        } else {
          tail = b_.Epsilon();
          for (int i = e.min; i < e.max; ++i) tail = b_.Rule("opt", {{*x, tail}, {}});
        }
        seq.push_back(tail);
        return b_.Rule("rep", {seq});
      }
      default:
        return absl::InternalError("GBNF: regular element not folded");
    }
  }
  // Any element (regular ones as a terminal).
  absl::StatusOr<Sym> ElemSym1(const GElem& e) {
    int64_t size = 0;
    if (auto r = RxOf(e, &size)) return TermOf(*r);
    return ElemSym(e);
  }

  const GbnfParser& p_;
  GrammarBuilder b_;
  Rx rx_;
  std::vector<bool> recursive_;
  std::vector<Sym> rule_sym_;
  std::vector<bool> rule_made_;
  std::vector<std::optional<Rx::Id>> rule_rx_;
  std::vector<bool> rule_rx_done_;
  std::map<int, int64_t> rule_rx_size_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const Grammar>> CompileGbnfGrammar(std::string_view text) {
  GbnfParser p(text);
  if (auto st = p.Run(); !st.ok()) return st;
  return GbnfCompiler(p).Run();
}

}  // namespace phx::grammar
