#include "runtime/chat/tool_json_scan.h"

#include <cstdint>

#include "base/json_escape.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::chat::tooljson {
namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int Hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// s[i] is '"': the index after the closing quote.
size_t SkipString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') return i + 1;
    if (c < 0x20) return kBad;
    if (c == '\\') {
      if (++i >= s.size()) return kIncomplete;
    }
  }
  return kIncomplete;
}

size_t SkipLiteral(std::string_view s, size_t i, std::string_view lit) {
  const int r = StartsWith(s, i, lit);
  if (r < 0) return kBad;
  return r == 0 ? kIncomplete : i + lit.size();
}

size_t SkipNumber(std::string_view s, size_t i) {
  const size_t start = i;
  while (i < s.size() && (s[i] == '-' || s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
                          (s[i] >= '0' && s[i] <= '9'))) {
    ++i;
  }
  if (i == start) return kBad;
  return i == s.size() ? kIncomplete : i;
}

}  // namespace

size_t SkipWs(std::string_view s, size_t i) {
  while (i < s.size() && IsWs(s[i])) ++i;
  return i;
}

int StartsWith(std::string_view s, size_t i, std::string_view lit) {
  const size_t n = std::min(lit.size(), s.size() - std::min(i, s.size()));
  if (s.substr(i, n) != lit.substr(0, n)) return -1;
  return n == lit.size() ? 1 : 0;
}

size_t PartialSuffix(std::string_view s, std::string_view marker) {
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

size_t SkipValue(std::string_view s, size_t i) {
  if (i >= s.size()) return kIncomplete;
  switch (s[i]) {
    case '"':
      return SkipString(s, i);
    case '{':
    case '[':
      return ScanContainer(s, i).end;
    case 't':
      return SkipLiteral(s, i, "true");
    case 'f':
      return SkipLiteral(s, i, "false");
    case 'n':
      return SkipLiteral(s, i, "null");
    default:
      return SkipNumber(s, i);
  }
}

Scan ScanContainer(std::string_view s, size_t i) {
  Scan out;
  const bool object = s[i] == '{';
  const char close = object ? '}' : ']';
  i = SkipWs(s, i + 1);
  if (i < s.size() && s[i] == close) {
    out.end = i + 1;
    return out;
  }
  while (true) {
    if (i >= s.size()) return out;
    Member m;
    if (object) {
      if (s[i] != '"') {
        out.end = kBad;
        return out;
      }
      bool closed = false;
      size_t key_end = 0;
      if (!DecodeStringPrefix(s, i, &m.key, &closed, &key_end)) {
        out.end = kBad;
        return out;
      }
      if (!closed) return out;
      i = SkipWs(s, key_end);
      if (i >= s.size()) return out;
      if (s[i] != ':') {
        out.end = kBad;
        return out;
      }
      i = SkipWs(s, i + 1);
      if (i >= s.size()) return out;
    }
    m.begin = i;
    m.end = SkipValue(s, i);
    out.members.push_back(m);  // a bad value too: what came before it still decodes the same
    if (m.end == kBad) {
      out.end = kBad;
      return out;
    }
    if (m.end == kIncomplete) return out;
    i = SkipWs(s, m.end);
    if (i >= s.size()) return out;
    if (s[i] == close) {
      out.end = i + 1;
      return out;
    }
    if (s[i] != ',') {
      out.end = kBad;
      return out;
    }
    i = SkipWs(s, i + 1);
  }
}

bool DecodeStringPrefix(std::string_view s, size_t i, std::string* out, bool* closed, size_t* end) {
  out->clear();
  *closed = false;
  if (i >= s.size() || s[i] != '"') return false;
  uint32_t high = 0;  // a high surrogate waiting for its pair
  for (++i; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      *closed = true;
      *end = i + 1;
      return high == 0;
    }
    if (c < 0x20) return false;
    if (c != '\\') {
      if (high != 0) return false;
      out->push_back(static_cast<char>(c));
      continue;
    }
    if (i + 1 >= s.size()) return true;  // the escape is cut off
    const char e = s[i + 1];
    if (e == 'u') {
      if (i + 6 > s.size()) {  // \uXXXX cut off
        for (size_t k = i + 2; k < s.size(); ++k) {
          if (Hex(s[k]) < 0) return false;
        }
        return true;
      }
      uint32_t cp = 0;
      for (size_t k = i + 2; k < i + 6; ++k) {
        const int h = Hex(s[k]);
        if (h < 0) return false;
        cp = cp * 16 + static_cast<uint32_t>(h);
      }
      i += 5;
      if (cp >= 0xD800 && cp < 0xDC00) {
        if (high != 0) return false;
        high = cp;
        continue;
      }
      if (cp >= 0xDC00 && cp < 0xE000) {
        if (high == 0) return false;
        cp = 0x10000 + ((high - 0xD800) << 10) + (cp - 0xDC00);
        high = 0;
      } else if (high != 0) {
        return false;
      }
      tok::AppendUtf8(cp, out);
      continue;
    }
    if (high != 0) return false;
    ++i;
    const int d = DecodeJsonEscape(e);
    if (d < 0) return false;
    out->push_back(static_cast<char>(d));
  }
  return true;
}

}  // namespace phx::chat::tooljson
