#include "runtime/chat/lexer.h"

#include <cmath>
#include <cstdlib>

#include "base/strings.h"
#include "runtime/chat/unicode_props.h"

namespace phx::chat {
namespace {

struct LexError {
  std::string message;
  int line;
};

bool IsSpaceAt(std::string_view s, size_t i, size_t* len) {
  size_t j = i;
  const uint32_t cp = NextCp(s, &j);
  *len = j - i;
  return PyIsSpace(cp);
}

// Python's \s*: length of the whitespace run at s[i].
size_t SpaceRun(std::string_view s, size_t i) {
  size_t j = i, len;
  while (j < s.size() && IsSpaceAt(s, j, &len)) j += len;
  return j - i;
}

// str.rstrip() with Python's whitespace.
std::string_view RStrip(std::string_view s) {
  size_t e = s.size();
  while (e > 0) {
    size_t b = e - 1;
    while (b > 0 && (static_cast<uint8_t>(s[b]) & 0xC0) == 0x80) --b;
    size_t len;
    if (!IsSpaceAt(s, b, &len)) break;
    e = b;
  }
  return s.substr(0, e);
}

bool IsNameStart(std::string_view s, size_t i) {
  const char c = s[i];
  if (static_cast<uint8_t>(c) >= 0x80) {
    size_t j = i;
    return PyProps(NextCp(s, &j)) & kPyAlpha;
  }
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}

bool IsNameChar(std::string_view s, size_t i) {
  const char c = s[i];
  if (static_cast<uint8_t>(c) >= 0x80) {
    size_t j = i;
    return PyProps(NextCp(s, &j)) & (kPyAlpha | kPyDecimal);
  }
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

class Lexer {
 public:
  explicit Lexer(std::string source) : src_(std::move(source)) {}

  std::vector<Token> Run() {
    size_t pos = 0;
    while (pos < src_.size()) pos = Root(pos);
    Emit(Tok::kEof, "");
    return std::move(out_);
  }

 private:
  [[noreturn]] void Error(std::string msg) { throw LexError{std::move(msg), line_}; }

  void Emit(Tok t, std::string text) {
    Token tok;
    tok.type = t;
    tok.text = std::move(text);
    tok.line = line_;
    out_.push_back(std::move(tok));
  }

  void CountLines(std::string_view s) {
    for (char c : s) line_ += c == '\n';
  }

  // The data before the next tag, the tag's start and its whitespace control.
  size_t Root(size_t pos) {
    const std::string_view s = src_;
    size_t at = pos;
    while (true) {
      at = s.find('{', at);
      if (at == std::string_view::npos || at + 1 >= s.size()) {
        EmitData(s.substr(pos));
        line_starting_ = !s.empty() && s.back() == '\n';
        return s.size();
      }
      const char k = s[at + 1];
      if (k == '%' || k == '{' || k == '#') break;
      ++at;
    }
    const char kind = s[at + 1];
    size_t after = at + 2;
    char sign = 0;
    if (after < s.size() && (s[after] == '-' || s[after] == '+')) sign = s[after++];
    std::string_view text = s.substr(pos, at - pos);
    // {% raw %}: the tag is "{%" [-+] \s* "raw" \s* ("-%}" \s* | "%}").
    bool raw = false;
    size_t raw_end = 0;
    if (kind == '%') {
      size_t p = after + SpaceRun(s, after);
      if (s.compare(p, 3, "raw") == 0) {
        p += 3;
        p += SpaceRun(s, p);
        if (s.compare(p, 3, "-%}") == 0) {
          raw = true, raw_end = p + 3 + SpaceRun(s, p + 3);
        } else if (s.compare(p, 2, "%}") == 0) {
          raw = true, raw_end = p + 2;
        }
      }
    }
    text = StripBefore(text, sign, kind != '{');
    EmitData(text);
    CountLines(s.substr(pos + text.size(), after - pos - text.size()));
    line_starting_ = false;
    if (raw) {
      CountLines(s.substr(after, raw_end - after));
      line_starting_ = raw_end > 0 && s[raw_end - 1] == '\n';
      return RawBody(raw_end);
    }
    if (kind == '#') return Comment(after);
    Emit(kind == '%' ? Tok::kBlockBegin : Tok::kVarBegin, "");
    return Tag(after, kind == '%' ? Tok::kBlockEnd : Tok::kVarEnd);
  }

  std::string_view StripBefore(std::string_view text, char sign, bool lstrip_applies) {
    if (sign == '-') return RStrip(text);
    if (sign == '+' || !lstrip_applies) return text;
    const size_t nl = text.rfind('\n');
    const size_t l_pos = nl == std::string_view::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting_) return text;
    const std::string_view tail = text.substr(l_pos);
    if (!tail.empty() && SpaceRun(tail, 0) == tail.size()) return text.substr(0, l_pos);
    return text;
  }

  void EmitData(std::string_view text) {
    if (!text.empty()) Emit(Tok::kData, std::string(text));
    CountLines(text);
  }

  // "+#}" | "-#}" \s* | "#}" "\n"?
  size_t Comment(size_t pos) {
    const std::string_view s = src_;
    for (size_t i = pos; i + 1 < s.size(); ++i) {
      if (s[i] != '#' || s[i + 1] != '}') continue;
      CountLines(s.substr(pos, i - pos));
      size_t end = i + 2;
      if (i > pos && s[i - 1] == '-') {
        end += SpaceRun(s, end);
      } else if (!(i > pos && s[i - 1] == '+') && end < s.size() && s[end] == '\n') {
        ++end;
      }
      CountLines(s.substr(i, end - i));
      line_starting_ = s[end - 1] == '\n';
      return end;
    }
    Error("Missing end of comment tag");
  }

  size_t RawBody(size_t pos) {
    const std::string_view s = src_;
    for (size_t at = s.find("{%", pos); at != std::string_view::npos; at = s.find("{%", at + 1)) {
      size_t p = at + 2;
      char sign = 0;
      if (p < s.size() && (s[p] == '-' || s[p] == '+')) sign = s[p++];
      p += SpaceRun(s, p);
      if (s.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      p += SpaceRun(s, p);
      size_t end;
      if (s.compare(p, 3, "+%}") == 0) {
        end = p + 3;
      } else if (s.compare(p, 3, "-%}") == 0) {
        end = p + 3 + SpaceRun(s, p + 3);
      } else if (s.compare(p, 2, "%}") == 0) {
        end = p + 2 + (p + 2 < s.size() && s[p + 2] == '\n');
      } else {
        continue;
      }
      EmitData(StripBefore(s.substr(pos, at - pos), sign, true));
      CountLines(s.substr(at, end - at));
      line_starting_ = s[end - 1] == '\n';
      return end;
    }
    Error("Missing end of raw directive");
  }

  // Tokens inside {{ }} or {% %} up to the end tag (only when brackets are balanced).
  size_t Tag(size_t pos, Tok end_tok) {
    const std::string_view s = src_;
    const char close = end_tok == Tok::kBlockEnd ? '%' : '}';
    std::vector<char> balance;
    while (true) {
      if (pos >= s.size()) Error("unexpected end of template");
      if (balance.empty()) {
        size_t end = 0;
        if (end_tok == Tok::kBlockEnd && s.compare(pos, 3, "+%}") == 0) {
          end = pos + 3;
        } else if (s[pos] == '-' && pos + 2 < s.size() && s[pos + 1] == close &&
                   s[pos + 2] == '}') {
          end = pos + 3 + SpaceRun(s, pos + 3);
        } else if (s[pos] == close && pos + 1 < s.size() && s[pos + 1] == '}') {
          end = pos + 2;
          if (end_tok == Tok::kBlockEnd && end < s.size() && s[end] == '\n') ++end;
        }
        if (end) {
          Emit(end_tok, "");
          CountLines(s.substr(pos, end - pos));
          line_starting_ = s[end - 1] == '\n';
          return end;
        }
      }
      size_t n = SpaceRun(s, pos);
      if (n) {
        CountLines(s.substr(pos, n));
        pos += n;
        continue;
      }
      pos = TagToken(pos, &balance);
    }
  }

  size_t TagToken(size_t pos, std::vector<char>* balance) {
    const std::string_view s = src_;
    const char c = s[pos];
    if (std::isdigit(static_cast<unsigned char>(c))) return Number(pos);
    if (IsNameStart(s, pos)) {
      size_t e = pos;
      while (e < s.size() && IsNameChar(s, e)) {
        size_t j = e;
        NextCp(s, &j);
        e = j;
      }
      Emit(Tok::kName, std::string(s.substr(pos, e - pos)));
      return e;
    }
    if (c == '\'' || c == '"') return String(pos);
    static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", ">=", "<="};
    for (std::string_view op : kTwo) {
      if (s.compare(pos, 2, op) == 0) {
        Emit(Tok::kOp, std::string(op));
        return pos + 2;
      }
    }
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == std::string_view::npos) {
      Error(StrCat("unexpected char '", std::string(1, c), "' at ", pos));
    }
    if (c == '(' || c == '[' || c == '{') balance->push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    if (c == ')' || c == ']' || c == '}') {
      if (balance->empty()) Error(StrCat("unexpected '", std::string(1, c), "'"));
      if (balance->back() != c) {
        Error(StrCat("unexpected '", std::string(1, c), "', expected '",
                     std::string(1, balance->back()), "'"));
      }
      balance->pop_back();
    }
    Emit(Tok::kOp, std::string(1, c));
    return pos + 1;
  }

  // Digits with single "_" separators at s[pos]; returns the end (pos when none).
  size_t Digits(size_t pos, bool (*ok)(char)) {
    const std::string_view s = src_;
    size_t e = pos;
    while (e < s.size() && ok(s[e])) {
      ++e;
      if (e + 1 < s.size() && s[e] == '_' && ok(s[e + 1])) ++e;
    }
    return e;
  }

  size_t Number(size_t pos) {
    const std::string_view s = src_;
    auto dec = [](char c) { return c >= '0' && c <= '9'; };
    auto clean = [&](size_t b, size_t e) {
      std::string t;
      for (size_t i = b; i < e; ++i) {
        if (s[i] != '_') t.push_back(s[i]);
      }
      return t;
    };
    // float: (\d+_)*\d+ ( (\.(\d+_)*\d+)? e[+-]?(\d+_)*\d+ | \.(\d+_)*\d+ ), not after a '.'
    if (pos == 0 || s[pos - 1] != '.') {
      size_t e = Digits(pos, dec);
      size_t frac_end = e;
      if (e + 1 < s.size() && s[e] == '.' && dec(s[e + 1])) frac_end = Digits(e + 1, dec);
      size_t exp_end = 0;
      if (frac_end < s.size() && (s[frac_end] == 'e' || s[frac_end] == 'E')) {
        size_t p = frac_end + 1;
        if (p < s.size() && (s[p] == '+' || s[p] == '-')) ++p;
        if (p < s.size() && dec(s[p])) exp_end = Digits(p, dec);
      }
      const size_t end = exp_end ? exp_end : (frac_end != e ? frac_end : 0);
      if (end) {
        Token t;
        t.type = Tok::kFloat;
        t.text = clean(pos, end);
        t.fval = std::strtod(t.text.c_str(), nullptr);
        t.line = line_;
        out_.push_back(std::move(t));
        return end;
      }
    }
    int base = 10;
    size_t b = pos, e;
    if (s[pos] == '0' && pos + 1 < s.size() &&
        std::string_view("xXoObB").find(s[pos + 1]) != std::string_view::npos) {
      const char k = static_cast<char>(std::tolower(static_cast<unsigned char>(s[pos + 1])));
      base = k == 'x' ? 16 : k == 'o' ? 8 : 2;
      b = pos + 2;
      if (b < s.size() && s[b] == '_') ++b;
      auto ok = base == 16
                    ? +[](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
                : base == 8 ? +[](char c) { return c >= '0' && c <= '7'; }
                            : +[](char c) { return c == '0' || c == '1'; };
      e = Digits(b, ok);
      if (e == b) {
        b = pos, base = 10;
        e = pos + 1;  // "0" then a name
      }
    } else if (s[pos] == '0') {
      e = Digits(
          pos, +[](char c) { return c == '0'; });
    } else {
      e = Digits(pos, dec);
    }
    const std::string digits = clean(b, e);
    errno = 0;
    const unsigned long long v = std::strtoull(digits.c_str(), nullptr, base);
    if (errno == ERANGE || v > static_cast<unsigned long long>(INT64_MAX)) {
      Error("integer literal too large");
    }
    Token t;
    t.type = Tok::kInt;
    t.ival = static_cast<int64_t>(v);
    t.line = line_;
    out_.push_back(std::move(t));
    return e;
  }

  size_t String(size_t pos) {
    const std::string_view s = src_;
    const char q = s[pos];
    size_t i = pos + 1;
    while (i < s.size() && s[i] != q) i += s[i] == '\\' ? 2 : 1;
    if (i >= s.size()) Error(StrCat("unexpected char '", std::string(1, q), "'"));
    const std::string_view body = s.substr(pos + 1, i - pos - 1);
    std::string value, error;
    if (!UnescapeStringLiteral(body, &value, &error)) Error(error);
    Emit(Tok::kString, std::move(value));
    CountLines(body);
    return i + 1;
  }

  std::string src_;
  std::vector<Token> out_;
  int line_ = 1;
  bool line_starting_ = true;
};

// Newlines to "\n" and one trailing newline dropped, as Jinja2's tokeniter does.
std::string Normalize(std::string_view source) {
  std::string s;
  s.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      s.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      s.push_back(source[i]);
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

absl::StatusOr<std::vector<Token>> Lex(std::string_view source) {
  if (!IsValidUtf8(source)) return absl::InvalidArgumentError("template is not valid UTF-8");
  try {
    return Lexer(Normalize(source)).Run();
  } catch (const LexError& e) {
    return absl::InvalidArgumentError(
        StrCat("TemplateSyntaxError: ", e.message, " (line ", e.line, ")"));
  }
}

}  // namespace phx::chat
