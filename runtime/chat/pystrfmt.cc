// `fmt % args` and str.format().
#include <cstdio>

#include "base/strings.h"
#include "runtime/chat/pyformat.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

struct Spec {
  std::string flags;
  int width = -1;
  int prec = -1;
  char conv = 0;
};

Str ConvertPercent(const Spec& sp, const Value& arg) {
  Str body;
  bool numeric = false;
  switch (sp.conv) {
    case 's':
      body = ToStr(arg);
      break;
    case 'r':
    case 'a':
      body = Repr(arg);
      break;
    case 'c':
      if (arg.is_str() && CpCount(arg.str().view()) == 1) {
        body = arg.str();
      } else if (arg.is_int()) {
        std::string t;
        AppendCp(static_cast<uint32_t>(arg.i()), &t);
        body = Str(t);
      } else {
        Fail(ErrorKind::kType, "%c requires int or char");
      }
      break;
    default: {
      numeric = true;
      CheckDefined(arg);
      if (!arg.is_number()) {
        Fail(ErrorKind::kType,
             StrCat("%", std::string(1, sp.conv), " format: a ",
                    sp.conv == 'x' || sp.conv == 'X' || sp.conv == 'o' ? "an integer"
                                                                       : "a real number",
                    " is required, not ", TypeName(arg)));
      }
      std::string f = StrCat("%", sp.flags);
      if (sp.prec >= 0) f += StrCat(".", sp.prec);
      char buf[512];
      if (sp.conv == 'd' || sp.conv == 'i' || sp.conv == 'u') {
        const int64_t iv = arg.is_int() ? arg.i() : static_cast<int64_t>(arg.f());
        std::snprintf(buf, sizeof buf, (f + "lld").c_str(), static_cast<long long>(iv));
      } else if (sp.conv == 'x' || sp.conv == 'X' || sp.conv == 'o') {
        if (!arg.is_int()) Fail(ErrorKind::kType, "an integer is required");
        const int64_t iv = arg.i();
        std::snprintf(buf, sizeof buf, (f + "ll" + std::string(1, sp.conv)).c_str(),
                      static_cast<long long>(iv));
      } else {
        std::snprintf(buf, sizeof buf, (f + std::string(1, sp.conv)).c_str(), arg.f());
      }
      body = Str(buf);
      break;
    }
  }
  if (!numeric && sp.prec >= 0 && sp.conv != 'c') {
    const std::vector<size_t> off = CpOffsets(body.view());
    if (static_cast<size_t>(sp.prec) + 1 < off.size()) body = body.Sub(0, off[sp.prec]);
  }
  const size_t n = CpCount(body.view());
  if (sp.width > 0 && n < static_cast<size_t>(sp.width)) {
    const std::string pad(static_cast<size_t>(sp.width) - n, ' ');
    if (numeric) return body;  // snprintf applied the width
    Str out;
    if (sp.flags.find('-') != std::string::npos) {
      out = body;
      out.Append(pad, false);
    } else {
      out.Append(pad, false);
      out.Append(body);
    }
    return out;
  }
  return body;
}

}  // namespace

Str PercentFormat(const Str& fmt, const Value& args) {
  std::vector<Value> pos;
  const Dict* mapping = nullptr;
  if (args.kind() == Value::Kind::kTuple) {
    pos = args.items();
  } else {
    if (args.is_dict()) mapping = &args.dict();
    pos.push_back(args);
  }
  size_t next = 0;
  bool used_mapping = false;
  Str out;
  const std::string& t = fmt.text();
  size_t i = 0, lit = 0;
  while (i < t.size()) {
    if (t[i] != '%') {
      ++i;
      continue;
    }
    out.Append(fmt.Sub(lit, i));
    ++i;
    if (i >= t.size()) Fail(ErrorKind::kValue, "incomplete format");
    if (t[i] == '%') {
      out.Append("%", fmt.IsUser(i));
      lit = ++i;
      continue;
    }
    Spec sp;
    const Value* arg = nullptr;
    Value keyed;
    if (t[i] == '(') {
      const size_t close = t.find(')', i);
      if (close == std::string::npos) Fail(ErrorKind::kValue, "incomplete format key");
      if (!mapping) Fail(ErrorKind::kType, "format requires a mapping");
      const Value* v = mapping->FindStr(std::string_view(t).substr(i + 1, close - i - 1));
      if (!v) Fail(ErrorKind::kValue, StrCat("KeyError: ", t.substr(i + 1, close - i - 1)));
      keyed = *v;
      arg = &keyed;
      used_mapping = true;
      i = close + 1;
    }
    while (i < t.size() && std::string_view("-+ #0").find(t[i]) != std::string_view::npos) {
      sp.flags.push_back(t[i++]);
    }
    std::string width;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) width.push_back(t[i++]);
    if (!width.empty()) {
      if (width.size() > 5) Fail(ErrorKind::kLimit, "format width too large");
      sp.width = std::stoi(width);
      sp.flags += width;
    }
    if (i < t.size() && t[i] == '.') {
      ++i;
      std::string p;
      while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) p.push_back(t[i++]);
      if (p.size() > 3) Fail(ErrorKind::kLimit, "format precision too large");
      sp.prec = p.empty() ? 0 : std::stoi(p);
    }
    while (i < t.size() && (t[i] == 'l' || t[i] == 'h' || t[i] == 'L')) ++i;
    if (i >= t.size()) Fail(ErrorKind::kValue, "incomplete format");
    sp.conv = t[i++];
    if (std::string_view("sradiuoxXeEfFgGc").find(sp.conv) == std::string_view::npos) {
      Fail(ErrorKind::kValue,
           StrCat("unsupported format character '", std::string(1, sp.conv), "'"));
    }
    if (!arg) {
      if (next >= pos.size()) Fail(ErrorKind::kType, "not enough arguments for format string");
      arg = &pos[next++];
    }
    out.Append(ConvertPercent(sp, *arg));
    lit = i;
  }
  out.Append(fmt.Sub(lit, t.size()));
  if (!used_mapping && !mapping && next < pos.size()) {
    Fail(ErrorKind::kType, "not all arguments converted during string formatting");
  }
  CheckSize(out.size());
  return out;
}

Str StrFormat(const Str& fmt, const std::vector<Value>& args, const Kwargs& kwargs) {
  const std::string& t = fmt.text();
  Str out;
  size_t auto_index = 0, i = 0, lit = 0;
  while (i < t.size()) {
    const char c = t[i];
    if (c == '}') {
      if (i + 1 < t.size() && t[i + 1] == '}') {
        out.Append(fmt.Sub(lit, i + 1));
        lit = i += 2;
        continue;
      }
      Fail(ErrorKind::kValue, "Single '}' encountered in format string");
    }
    if (c != '{') {
      ++i;
      continue;
    }
    out.Append(fmt.Sub(lit, i));
    if (i + 1 < t.size() && t[i + 1] == '{') {
      out.Append("{", fmt.IsUser(i));
      lit = i += 2;
      continue;
    }
    const size_t close = t.find('}', i);
    if (close == std::string::npos) Fail(ErrorKind::kValue, "expected '}' before end of string");
    std::string field = t.substr(i + 1, close - i - 1);
    std::string spec, conv;
    if (const size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1), field.resize(colon);
    }
    if (const size_t bang = field.find('!'); bang != std::string::npos) {
      conv = field.substr(bang + 1), field.resize(bang);
    }
    size_t k = 0;
    while (k < field.size() && field[k] != '.' && field[k] != '[') ++k;
    const std::string head = field.substr(0, k);
    Value v;
    if (head.empty() || std::isdigit(static_cast<unsigned char>(head[0]))) {
      const size_t idx = head.empty() ? auto_index++ : static_cast<size_t>(std::stoul(head));
      if (idx >= args.size()) Fail(ErrorKind::kValue, "Replacement index out of range");
      v = args[idx];
    } else {
      bool found = false;
      for (const auto& [name, val] : kwargs) {
        if (name == head) v = val, found = true;
      }
      if (!found) Fail(ErrorKind::kValue, StrCat("KeyError: '", head, "'"));
    }
    while (k < field.size()) {
      std::string key;
      if (field[k] == '.') {
        size_t e = k + 1;
        while (e < field.size() && field[e] != '.' && field[e] != '[') ++e;
        key = field.substr(k + 1, e - k - 1), k = e;
      } else {
        const size_t e = field.find(']', k);
        if (e == std::string::npos) Fail(ErrorKind::kValue, "Missing ']' in format string");
        key = field.substr(k + 1, e - k - 1), k = e + 1;
      }
      const Value* next = nullptr;
      if (v.is_dict()) next = v.dict().FindStr(key);
      if (v.is_seq() && !key.empty() && std::isdigit(static_cast<unsigned char>(key[0]))) {
        const size_t idx = std::stoul(key);
        if (idx < v.items().size()) next = &v.items()[idx];
      }
      if (!next) Fail(ErrorKind::kValue, StrCat("KeyError: '", key, "'"));
      v = *next;
    }
    if (conv == "r" || conv == "a") v = Value::String(Repr(v));
    if (conv == "s") v = Value::String(ToStr(v));
    out.Append(spec.empty() ? ToStr(v) : FormatSpec(v, spec));
    CheckSize(out.size());
    lit = i = close + 1;
  }
  out.Append(fmt.Sub(lit, t.size()));
  return out;
}

}  // namespace phx::chat
