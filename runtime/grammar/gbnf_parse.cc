// The GBNF parser (gbnf.h has the syntax): text -> rules of elements (gbnf_parse.h).
#include "runtime/grammar/gbnf_parse.h"

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/strings.h"

namespace phx::grammar::gbnf_internal {
namespace {

constexpr int kMaxRepetition = 2000;  // llama.cpp's MAX_REPETITION_THRESHOLD

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

}  // namespace

absl::StatusOr<GbnfRules> ParseGbnf(std::string_view text) {
  GbnfParser p(text);
  if (auto st = p.Run(); !st.ok()) return st;
  GbnfRules r;
  r.rules = std::move(p.rules_);
  r.names = std::move(p.names_);
  r.root = p.root_;
  return r;
}

}  // namespace phx::grammar::gbnf_internal
