#include "runtime/chat/pyformat.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/strings.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

std::string Trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || (s[b] >= '\t' && s[b] <= '\r'))) ++b;
  while (e > b && (s[e - 1] == ' ' || (s[e - 1] >= '\t' && s[e - 1] <= '\r'))) --e;
  return std::string(s.substr(b, e - b));
}

// Pads `body` to `width` code points.
Str Pad(Str body, size_t width, char align, std::string_view fill) {
  const size_t n = CpCount(body.view());
  if (n >= width) return body;
  const size_t pad = width - n;
  size_t left = 0;
  if (align == '>') left = pad;
  if (align == '^') left = pad / 2;
  Str out;
  for (size_t i = 0; i < left; ++i) out.Append(fill, false);
  out.Append(body);
  for (size_t i = left; i < pad; ++i) out.Append(fill, false);
  return out;
}

std::string IntDigits(int64_t v, char type, bool alt) {
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  int base = 10;
  const char* prefix = "";
  if (type == 'x' || type == 'X') base = 16, prefix = type == 'x' ? "0x" : "0X";
  if (type == 'o') base = 8, prefix = "0o";
  if (type == 'b') base = 2, prefix = "0b";
  const char* digs = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string d;
  do {
    d.insert(d.begin(), digs[u % base]);
    u /= base;
  } while (u);
  return (alt && base != 10 ? std::string(prefix) : std::string()) + d;
}

std::string Grouped(const std::string& digits, char sep) {
  std::string out;
  const size_t n = digits.size();
  for (size_t i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out.push_back(sep);
    out.push_back(digits[i]);
  }
  return out;
}

std::string FloatFormat(double f, char type, int prec, bool alt) {
  if (type == 0) {
    if (prec < 0) return FloatRepr(f);
    type = 'g';
  }
  if (prec < 0) prec = 6;
  double x = f;
  std::string suffix;
  if (type == '%') {
    x *= 100, type = 'f', suffix = "%";
  }
  char fmt[16];
  std::snprintf(fmt, sizeof fmt, "%%%s.%d%c", alt ? "#" : "", prec, type);
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf + suffix;
}

}  // namespace

std::optional<int64_t> ParseInt(std::string_view text, int base) {
  std::string t = Trimmed(text);
  std::string clean;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '_' && i > 0 && i + 1 < t.size() &&
        std::isalnum(static_cast<unsigned char>(t[i - 1])) &&
        std::isalnum(static_cast<unsigned char>(t[i + 1]))) {
      continue;
    }
    clean.push_back(t[i]);
  }
  if (clean.empty()) return std::nullopt;
  size_t p = 0;
  bool neg = false;
  if (clean[0] == '+' || clean[0] == '-') neg = clean[0] == '-', p = 1;
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (clean.size() > p + 1 && clean[p] == '0') {
      const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(clean[p + 1])));
      const int b = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;
      if (b && (base == 0 || base == b)) base = b, p += 2;
    }
    if (base == 0) base = 10;
  }
  if (p >= clean.size()) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = p; i < clean.size(); ++i) {
    const char c = static_cast<char>(std::tolower(static_cast<unsigned char>(clean[i])));
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : 99;
    if (d >= base) return std::nullopt;
    if (v > (UINT64_MAX - d) / base) return std::nullopt;
    v = v * base + d;
  }
  if (v > static_cast<uint64_t>(INT64_MAX) + (neg ? 1 : 0)) return std::nullopt;
  return neg ? static_cast<int64_t>(0 - v) : static_cast<int64_t>(v);
}

std::optional<double> ParseFloat(std::string_view text) {
  std::string t = Trimmed(text);
  if (t.empty()) return std::nullopt;
  std::string lower;
  for (char c : t) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  const std::string body = lower[0] == '+' || lower[0] == '-' ? lower.substr(1) : lower;
  const double sign = lower[0] == '-' ? -1 : 1;
  if (body == "inf" || body == "infinity") return sign * HUGE_VAL;
  if (body == "nan") return std::nan("");
  for (char c : body) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' ||
          c == '-' || c == '_')) {
      return std::nullopt;
    }
  }
  std::string clean;
  for (char c : t) {
    if (c != '_') clean.push_back(c);
  }
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(clean.c_str(), &end);
  if (end != clean.c_str() + clean.size()) return std::nullopt;
  return v;
}

Str FormatSpec(const Value& v, std::string_view spec) {
  // [[fill]align][sign][#][0][width][,_][.precision][type]
  std::string fill = " ";
  char align = 0, sign = '-', type = 0, group = 0;
  bool alt = false, zero = false;
  size_t width = 0;
  int prec = -1;
  size_t i = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  {
    size_t j = 0;
    if (!spec.empty()) NextCp(spec, &j);
    if (j < spec.size() && is_align(spec[j])) {
      fill = std::string(spec.substr(0, j)), align = spec[j], i = j + 1;
    } else if (!spec.empty() && is_align(spec[0])) {
      align = spec[0], i = 1;
    }
  }
  if (i < spec.size() && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) sign = spec[i++];
  if (i < spec.size() && spec[i] == '#') alt = true, ++i;
  if (i < spec.size() && spec[i] == '0') zero = true, ++i;
  while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) {
    width = width * 10 + (spec[i++] - '0');
    if (width > 100000) Fail(ErrorKind::kLimit, "format width too large");
  }
  if (i < spec.size() && (spec[i] == ',' || spec[i] == '_')) group = spec[i++];
  if (i < spec.size() && spec[i] == '.') {
    ++i;
    prec = 0;
    while (i < spec.size() && std::isdigit(static_cast<unsigned char>(spec[i]))) {
      prec = prec * 10 + (spec[i++] - '0');
      if (prec > 1000) Fail(ErrorKind::kLimit, "format precision too large");
    }
  }
  if (i < spec.size()) type = spec[i++];
  if (i != spec.size()) Fail(ErrorKind::kValue, "Invalid format specifier");
  if (zero && !align) fill = "0", align = '=';
  if (v.is_str() || (!v.is_number() && !type)) {
    Str body = v.is_str() ? v.str() : ToStr(v);
    if (type && type != 's') {
      Fail(ErrorKind::kValue,
           StrCat("Unknown format code '", std::string(1, type), "' for object of type 'str'"));
    }
    if (prec >= 0) {
      const std::vector<size_t> off = CpOffsets(body.view());
      if (static_cast<size_t>(prec) + 1 < off.size()) body = body.Sub(0, off[prec]);
    }
    return Pad(std::move(body), width, align ? align : '<', fill);
  }
  if (!v.is_number()) Fail(ErrorKind::kType, "unsupported format string");
  std::string digits;
  bool neg = false;
  const bool as_int = v.is_int() && (type == 0 || type == 'd' || type == 'x' || type == 'X' ||
                                     type == 'o' || type == 'b' || type == 'c' || type == 'n');
  if (as_int) {
    if (type == 'c')
      return Pad(Str(std::string(1, static_cast<char>(v.i()))), width, align ? align : '<', fill);
    neg = v.i() < 0;
    digits = IntDigits(v.i(), type, alt);
    if (group) digits = Grouped(digits, group);
  } else {
    if (v.is_int() && type != 0 &&
        std::string_view("eEfFgG%").find(type) == std::string_view::npos) {
      Fail(ErrorKind::kValue, "Unknown format code for int");
    }
    const double f = v.f();
    neg = std::signbit(f) && !std::isnan(f);
    digits = FloatFormat(std::fabs(f), type, prec, alt);
    if (group) {
      const size_t dot = digits.find_first_not_of("0123456789");
      digits = Grouped(digits.substr(0, dot), group) +
               (dot == std::string::npos ? "" : digits.substr(dot));
    }
  }
  const std::string s = neg ? "-" : sign == '+' ? "+" : sign == ' ' ? " " : "";
  if (align == '=') {
    Str body(digits);
    Str padded = Pad(body, width > s.size() ? width - s.size() : 0, '>', fill);
    Str out(s);
    out.Append(padded);
    return out;
  }
  return Pad(Str(s + digits), width, align ? align : '>', fill);
}

}  // namespace phx::chat
