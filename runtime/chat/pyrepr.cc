// str() and repr() of values, as Python prints them.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/strings.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

void AppendHexEscape(uint32_t cp, bool user, StrBuilder* out) {
  char buf[16];
  if (cp < 0x100) {
    std::snprintf(buf, sizeof buf, "\\x%02x", cp);
  } else if (cp < 0x10000) {
    std::snprintf(buf, sizeof buf, "\\u%04x", cp);
  } else {
    std::snprintf(buf, sizeof buf, "\\U%08x", cp);
  }
  out->Add(buf, user);
}

void AppendRepr(const Value& v, StrBuilder* out, int depth);

void AppendItems(const std::vector<Value>& items, StrBuilder* out, int depth) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out->Add(", ", false);
    AppendRepr(items[i], out, depth + 1);
  }
}

void AppendRepr(const Value& v, StrBuilder* out, int depth) {
  if (depth > 2 * kMaxNesting) Fail(ErrorKind::kLimit, "repr() nests too deep");
  CheckSize(out->size());
  switch (v.kind()) {
    case Value::Kind::kStr:
      if (v.str().markup()) {
        out->Add("Markup(", false);
        AppendStrRepr(v.str(), out);
        out->Add(")", false);
      } else {
        AppendStrRepr(v.str(), out);
      }
      return;
    case Value::Kind::kList:
      if (v.view_name()) out->Add(std::string(v.view_name()) + "(", false);
      out->Add("[", false);
      AppendItems(v.items(), out, depth);
      out->Add("]", false);
      if (v.view_name()) out->Add(")", false);
      return;
    case Value::Kind::kTuple:
      out->Add("(", false);
      AppendItems(v.items(), out, depth);
      out->Add(v.items().size() == 1 ? ",)" : ")", false);
      return;
    case Value::Kind::kDict: {
      out->Add("{", false);
      bool first = true;
      for (const auto& [k, val] : v.dict().items()) {
        if (!first) out->Add(", ", false);
        first = false;
        AppendRepr(k, out, depth + 1);
        out->Add(": ", false);
        AppendRepr(val, out, depth + 1);
      }
      out->Add("}", false);
      return;
    }
    case Value::Kind::kUndefined:
      out->Add("Undefined", false);
      return;
    default:
      out->Add(ToStr(v, depth));
      return;
  }
}

}  // namespace

void AppendStrRepr(const Str& s, StrBuilder* out) {
  const std::string& t = s.text();
  const bool dq = t.find('\'') != std::string::npos && t.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  out->Add(std::string_view(&q, 1), false);
  ForEachCp(s, [&](uint32_t cp, bool user, size_t) {
    if (cp == static_cast<uint32_t>(q) || cp == '\\') {
      const char e[2] = {'\\', static_cast<char>(cp)};
      out->Add(std::string_view(e, 2), user);
    } else if (cp == '\n') {
      out->Add("\\n", user);
    } else if (cp == '\r') {
      out->Add("\\r", user);
    } else if (cp == '\t') {
      out->Add("\\t", user);
    } else if (cp < 0x20 || cp == 0x7F || !(PyProps(cp) & kPyPrintable)) {
      AppendHexEscape(cp, user, out);
    } else {
      out->AddCp(cp, user);
    }
  });
  out->Add(std::string_view(&q, 1), false);
}

std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // "-1.2345e+02"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t epos = sci.find('e');
  const int exp = std::stoi(sci.substr(epos + 1));
  std::string digits = sci.substr(0, epos);
  if (digits.size() > 1) digits.erase(1, 1);  // drop the '.'
  const int decpt = exp + 1;
  if (decpt <= -4 || decpt > 16) {
    std::string m = digits.substr(0, 1);
    if (digits.size() > 1) m += StrCat(".", digits.substr(1));
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return sign + m + e;
  }
  std::string out;
  if (decpt <= 0) {
    out = StrCat("0.", std::string(static_cast<size_t>(-decpt), '0'), digits);
  } else if (static_cast<size_t>(decpt) >= digits.size()) {
    out = digits + std::string(static_cast<size_t>(decpt) - digits.size(), '0') + ".0";
  } else {
    out = digits.substr(0, static_cast<size_t>(decpt)) + "." +
          digits.substr(static_cast<size_t>(decpt));
  }
  return sign + out;
}

Str ToStr(const Value& v, int depth) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return Str();
    case Value::Kind::kNone:
      return Str("None");
    case Value::Kind::kBool:
      return Str(v.b() ? "True" : "False");
    case Value::Kind::kInt:
      return Str(std::to_string(v.i()));
    case Value::Kind::kFloat:
      return Str(FloatRepr(v.f()));
    case Value::Kind::kStr:
      return v.str();
    case Value::Kind::kIterator:
      return Str(StrCat("<", v.iterator_type(), " object>"));
    case Value::Kind::kObject:
      return Str(v.obj().Repr(depth));
    default:
      return Repr(v, depth);
  }
}

Str Repr(const Value& v, int depth) {
  StrBuilder b;
  AppendRepr(v, &b, depth);
  return b.Take();
}

}  // namespace phx::chat
