// String literals of templates: Python's unicode-escape decoding, as Jinja2's lexer does it.
#include <cstdio>

#include "base/strings.h"
#include "runtime/chat/lexer.h"
#include "runtime/chat/unicode_props.h"

namespace phx::chat {
namespace {

struct LiteralError {
  std::string message;
};

[[noreturn]] void Error(std::string msg) { throw LiteralError{std::move(msg)}; }

void AppendEscaped(uint32_t cp, std::string* out) {
  if (cp >= 0xD800 && cp <= 0xDFFF) Error("surrogate code points are not supported in strings");
  AppendCp(cp, out);
}

std::string Unescape(std::string_view b) {
  std::string out;
  auto hex = [&](size_t at, size_t n, const char* what) -> uint32_t {
    if (at + n > b.size()) Error(StrCat("truncated ", what, " escape"));
    uint32_t v = 0;
    for (size_t k = at; k < at + n; ++k) {
      if (!std::isxdigit(static_cast<unsigned char>(b[k])))
        Error(StrCat("truncated ", what, " escape"));
      v = v * 16 +
          (std::isdigit(static_cast<unsigned char>(b[k])) ? b[k] - '0' : (b[k] | 0x20) - 'a' + 10);
    }
    return v;
  };
  size_t i = 0;
  while (i < b.size()) {
    if (b[i] != '\\') {
      const size_t at = i;
      NextCp(b, &i);
      out.append(b.substr(at, i - at));
      continue;
    }
    if (i + 1 >= b.size()) Error("\\ at end of string");
    const char c = b[i + 1];
    i += 2;
    switch (c) {
      case '\n':
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '\'':
        out.push_back('\'');
        break;
      case '"':
        out.push_back('"');
        break;
      case 'a':
        out.push_back('\a');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'v':
        out.push_back('\v');
        break;
      case 'x':
        AppendEscaped(hex(i, 2, "\\xXX"), &out);
        i += 2;
        break;
      case 'u':
        AppendEscaped(hex(i, 4, "\\uXXXX"), &out);
        i += 4;
        break;
      case 'U': {
        const uint32_t v = hex(i, 8, "\\UXXXXXXXX");
        if (v > 0x10FFFF) Error("illegal Unicode character");
        AppendEscaped(v, &out);
        i += 8;
        break;
      }
      case 'N':
        Error("\\N{...} escapes are not supported");
      default:
        if (c >= '0' && c <= '7') {
          uint32_t v = c - '0';
          for (int k = 0; k < 2 && i < b.size() && b[i] >= '0' && b[i] <= '7'; ++k)
            v = v * 8 + (b[i++] - '0');
          AppendEscaped(v, &out);
        } else if (static_cast<uint8_t>(c) >= 0x80) {
          // backslashreplace turned the character into \xNN / \uNNNN / \UNNNNNNNN, whose
          // backslash this one escapes: the result is that escape text.
          size_t j = i - 1;
          const uint32_t cp = NextCp(b, &j);
          char buf[16];
          std::snprintf(buf, sizeof buf,
                        cp < 0x100     ? "\\x%02x"
                        : cp < 0x10000 ? "\\u%04x"
                                       : "\\U%08x",
                        cp);
          out.append(buf);
          i = j;
        } else {
          out.push_back('\\');
          out.push_back(c);
        }
    }
  }
  return out;
}

}  // namespace

bool UnescapeStringLiteral(std::string_view body, std::string* out, std::string* error) {
  try {
    *out = Unescape(body);
    return true;
  } catch (const LiteralError& e) {
    *error = e.message;
    return false;
  }
}

}  // namespace phx::chat
