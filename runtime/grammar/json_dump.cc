// Serializing JsonValue: Python's json.dumps(ensure_ascii=False) (", " and ": " separators,
// floats as Python's repr, integers exact) and a compact form for cache keys.
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>

#include "runtime/grammar/json_value.h"

namespace phx::grammar {
namespace {

void Dump(const JsonValue& v, bool py, std::string* out) {
  switch (v.kind()) {
    case JsonValue::Kind::kNull:
      out->append("null");
      return;
    case JsonValue::Kind::kBool:
      out->append(v.as_bool() ? "true" : "false");
      return;
    case JsonValue::Kind::kNumber:
      if (!v.is_integer_literal()) {
        out->append(PyFloatRepr(v.number()));
      } else if (v.str() == "-0") {
        out->append("0");
      } else {
        out->append(v.str());
      }
      return;
    case JsonValue::Kind::kString:
      AppendPyJsonString(v.str(), out);
      return;
    case JsonValue::Kind::kArray: {
      out->push_back('[');
      bool first = true;
      for (const auto& x : v.items()) {
        if (!first) out->append(py ? ", " : ",");
        first = false;
        Dump(x, py, out);
      }
      out->push_back(']');
      return;
    }
    case JsonValue::Kind::kObject: {
      out->push_back('{');
      bool first = true;
      for (const auto& m : v.members()) {
        if (!first) out->append(py ? ", " : ",");
        first = false;
        AppendPyJsonString(m.first, out);
        out->append(py ? ": " : ":");
        Dump(m.second, py, out);
      }
      out->push_back('}');
      return;
    }
  }
}

}  // namespace

std::string PyFloatRepr(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string_view sci(buf, r.ptr - buf);  // [-]d[.ddd]e[+-]XX
  std::string out;
  if (sci[0] == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  const int exp10 = std::atoi(std::string(sci.substr(e + 1)).c_str());
  const int decpt = exp10 + 1;  // digits are 0.d1d2... x 10^decpt
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out.append("0.");
      out.append(static_cast<size_t>(-decpt), '0');
      out.append(digits);
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out.append(digits);
      out.append(decpt - digits.size(), '0');
      out.append(".0");
    } else {
      out.append(digits.substr(0, decpt));
      out.push_back('.');
      out.append(digits.substr(decpt));
    }
    return out;
  }
  out.push_back(digits[0]);
  if (digits.size() > 1) {
    out.push_back('.');
    out.append(digits.substr(1));
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp10 < 0 ? '-' : '+', std::abs(exp10));
  out.append(ebuf);
  return out;
}

void AppendPyJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<uint8_t>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

std::string PyDumps(const JsonValue& v) {
  std::string out;
  Dump(v, true, &out);
  return out;
}

std::string CompactDump(const JsonValue& v) {
  std::string out;
  Dump(v, false, &out);
  return out;
}

}  // namespace phx::grammar
