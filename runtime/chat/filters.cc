// Jinja2's builtin filters (string and number ones here; sequences in filters_seq.cc), with
// transformers' tojson in place of Jinja2's.
#include "runtime/chat/filters.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/strings.h"
#include "runtime/chat/objects.h"
#include "runtime/chat/pyformat.h"
#include "runtime/chat/pyjson.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace filters {

Str SoftStr(const Value& v) { return v.is_str() ? v.str() : ToStr(v); }

Value GetPath(const Value& item, const Value& attribute, const Value& dflt) {
  if (!Given(attribute) || attribute.is_none()) return item;
  std::vector<Value> parts;
  if (attribute.is_str()) {
    const Str& a = attribute.str();
    size_t start = 0;
    while (true) {
      const size_t dot = a.text().find('.', start);
      const size_t end = dot == std::string::npos ? a.size() : dot;
      const std::string t = a.text().substr(start, end - start);
      const bool digits = !t.empty() && std::all_of(t.begin(), t.end(),
                                                    [](char c) { return c >= '0' && c <= '9'; });
      parts.push_back(digits ? Value::Int(std::strtoll(t.c_str(), nullptr, 10))
                             : Value::String(a.Sub(start, end)));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  } else {
    parts.push_back(attribute);
  }
  Value v = item;
  for (const Value& part : parts) {
    if (v.is_undefined()) FailUndefined(v);
    v = GetItem(v, part);
    if (Given(dflt) && !dflt.is_none() && v.is_undefined()) v = dflt;
  }
  return v;
}

Value IgnoreCase(const Value& v) {
  return v.is_str() ? Value::String(CaseMapped(v.str(), CaseMap::kLower)) : v;
}

std::vector<Value> Items(Interp& in, const Value& v) {
  std::vector<Value> items = Iterate(v);
  in.Step(static_cast<int64_t>(items.size()));
  return items;
}

int64_t IntOf(const Value& v, std::string_view what) {
  CheckDefined(v);
  if (!v.is_int()) {
    Fail(ErrorKind::kType,
         StrCat("'", TypeName(v), "' object cannot be interpreted as an integer"));
  }
  return v.i();
}

}  // namespace filters

namespace {

using filters::SoftStr;

constexpr std::array<std::string_view, 50> kFilters = {
    "abs",        "attr",     "batch",   "capitalize", "center",    "count",  "d",
    "default",    "dictsort", "e",       "escape",     "first",     "float",  "forceescape",
    "format",     "groupby",  "indent",  "int",        "items",     "join",   "last",
    "length",     "list",     "lower",   "map",        "max",       "min",    "reject",
    "rejectattr", "replace",  "reverse", "round",      "safe",      "select", "selectattr",
    "slice",      "sort",     "string",  "sum",        "title",     "tojson", "trim",
    "truncate",   "unique",   "upper",   "wordcount",  "striptags", "pprint", "urlencode",
    "xmlattr"};

// Jinja2's do_indent.
Str Indent(const Value& input, const Value& width, const Value& first, const Value& blank) {
  CheckDefined(input);
  if (!input.is_str()) {
    Fail(ErrorKind::kType,
         StrCat("unsupported operand type(s) for +=: '", TypeName(input), "' and 'str'"));
  }
  Str ind;
  if (Given(width) && width.is_str()) {
    ind = width.str();
  } else {
    const int64_t w = Given(width) ? filters::IntOf(width, "indent") : 4;
    if (w > 0)
      CheckSize(static_cast<size_t>(w)), ind = Str(std::string(static_cast<size_t>(w), ' '));
  }
  Str s = input.str();
  s.Append("\n", false);
  std::vector<Value> lines = SplitLines(s, false);
  Str rv;
  if (Given(blank) && Truthy(blank)) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (i) rv.Append("\n", false), rv.Append(ind);
      rv.Append(lines[i].str());
    }
  } else {
    rv = lines.empty() ? Str() : lines[0].str();
    for (size_t i = 1; i < lines.size(); ++i) {
      rv.Append("\n", false);
      if (!lines[i].str().empty()) rv.Append(ind);
      rv.Append(lines[i].str());
      CheckSize(rv.size());
    }
  }
  if (Given(first) && Truthy(first)) {
    Str t = ind;
    t.Append(rv);
    rv = std::move(t);
  }
  rv.set_markup(input.str().markup());
  return rv;
}

Value ToJson(const Value& input, std::vector<Value> args, Kwargs kwargs) {
  auto a = BindArgs("tojson", std::move(args), std::move(kwargs),
                    {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = Given(a[0]) && Truthy(a[0]);
  if (Given(a[1]) && !a[1].is_none()) {
    if (a[1].is_str()) {
      o.indent = a[1].str().text();
    } else {
      const int64_t n = filters::IntOf(a[1], "indent");
      o.indent.emplace(static_cast<size_t>(std::clamp<int64_t>(n, 0, 1000)), ' ');
    }
    o.item_sep = ",";
  }
  if (Given(a[2]) && !a[2].is_none()) {
    std::vector<Value> seps = Iterate(a[2]);
    if (seps.size() != 2 || !seps[0].is_str() || !seps[1].is_str()) {
      Fail(ErrorKind::kValue, "separators must be a pair of strings");
    }
    o.item_sep = seps[0].str().text();
    o.key_sep = seps[1].str().text();
  }
  o.sort_keys = Given(a[3]) && Truthy(a[3]);
  return Value::String(JsonDumps(input, o));
}

Value Round(const Value& input, const Value& precision, const Value& method) {
  CheckDefined(input);
  const int64_t p = Given(precision) ? filters::IntOf(precision, "round") : 0;
  std::string m = Given(method) ? SoftStr(method).text() : "common";
  if (m != "common" && m != "ceil" && m != "floor") {
    Fail(ErrorKind::kRuntime, "method must be common, ceil or floor");
  }
  if (!input.is_number()) {
    Fail(ErrorKind::kType, StrCat("type ", TypeName(input), " doesn't define __round__ method"));
  }
  if (m == "common") {
    if (input.is_int()) {
      if (p >= 0) return Value::Int(input.i());
      const double r = std::pow(10.0, static_cast<double>(-p));
      return Value::Int(static_cast<int64_t>(std::nearbyint(input.f() / r) * r));
    }
    if (p > 300 || p < -300) return Value::Float(input.f());
    char buf[512];
    if (p >= 0) {
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(p), input.f());
      return Value::Float(std::strtod(buf, nullptr));
    }
    const double r = std::pow(10.0, static_cast<double>(-p));
    return Value::Float(std::nearbyint(input.f() / r) * r);
  }
  const double scale = std::pow(10.0, static_cast<double>(p));
  const double v = m == "ceil" ? std::ceil(input.f() * scale) : std::floor(input.f() * scale);
  return Value::Float(v / scale);
}

Value IntFilter(const Value& input, const Value& dflt, const Value& base) {
  const Value d = Given(dflt) ? dflt : Value::Int(0);
  CheckDefined(input);
  if (input.is_str()) {
    const int64_t b = Given(base) ? filters::IntOf(base, "int") : 10;
    if (auto v = ParseInt(input.str().view(), static_cast<int>(b))) return Value::Int(*v);
    if (auto f = ParseFloat(input.str().view())) {
      if (std::isnan(*f) || std::isinf(*f))
        Fail(ErrorKind::kValue, "cannot convert float to integer");
      return Value::Int(static_cast<int64_t>(*f));
    }
    return d;
  }
  if (input.is_int()) return Value::Int(input.i());
  if (input.kind() == Value::Kind::kFloat) {
    if (std::isnan(input.f()) || std::isinf(input.f())) {
      Fail(ErrorKind::kValue, "cannot convert float NaN or infinity to integer");
    }
    return Value::Int(static_cast<int64_t>(input.f()));
  }
  return d;
}

Value Truncate(const Value& input, std::vector<Value> args, Kwargs kwargs) {
  auto a = BindArgs("truncate", std::move(args), std::move(kwargs),
                    {"length", "killwords", "end", "leeway"});
  const Str s = SoftStr(input);
  const int64_t length = Given(a[0]) ? filters::IntOf(a[0], "truncate") : 255;
  const Str end = Given(a[2]) ? SoftStr(a[2]) : Str("...");
  const int64_t leeway = Given(a[3]) && !a[3].is_none() ? filters::IntOf(a[3], "truncate") : 5;
  const auto end_len = static_cast<int64_t>(CpCount(end.view()));
  if (length < end_len) Fail(ErrorKind::kRuntime, StrCat("expected length >= ", end_len));
  const std::vector<size_t> off = CpOffsets(s.view());
  const auto n = static_cast<int64_t>(off.size()) - 1;
  if (n <= length + leeway) return Value::String(s);
  Str head = s.Sub(0, off[std::min(n, length - end_len)]);
  if (!(Given(a[1]) && Truthy(a[1]))) {
    const size_t sp = head.text().rfind(' ');
    if (sp != std::string::npos) head = head.Sub(0, sp);
  }
  head.Append(end);
  return Value::String(std::move(head));
}

Value Title(const Str& s) {
  // Words start after any of -, whitespace, (, {, [, <.
  StrBuilder b;
  bool start = true;
  ForEachCp(s, [&](uint32_t cp, bool user, size_t) {
    const bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || PyIsSpace(cp);
    std::string m;
    if (sep) {
      AppendCp(cp, &m);
    } else {
      AppendCaseMapped(cp, start ? CaseMap::kUpper : CaseMap::kLower, &m);
    }
    start = sep;
    b.Add(m, user);
  });
  return Value::String(b.Take());
}

}  // namespace

bool KnownFilterName(std::string_view name) {
  return std::find(kFilters.begin(), kFilters.end(), name) != kFilters.end();
}

Value Filter(Interp& in, std::string_view name, Value input, std::vector<Value> args,
             Kwargs kwargs) {
  in.Step();
  Value out;
  if (filters::SequenceFilter(in, name, input, args, kwargs, &out)) return out;
  auto bind = [&](std::initializer_list<std::string_view> names, size_t req = 0) {
    return BindArgs(name, std::move(args), std::move(kwargs), names, req);
  };
  if (name == "tojson") return ToJson(input, std::move(args), std::move(kwargs));
  if (name == "default" || name == "d") {
    auto a = bind({"default_value", "boolean"});
    if (input.is_undefined() || (Given(a[1]) && Truthy(a[1]) && !Truthy(input))) {
      return Given(a[0]) ? a[0] : Value::Text("");
    }
    return input;
  }
  if (name == "trim") {
    auto a = bind({"chars"});
    return Value::String(StripChars(SoftStr(input), a[0], true, true));
  }
  if (name == "string") return bind({}), Value::String(SoftStr(input));
  if (name == "upper" || name == "lower") {
    bind({});
    return Value::String(
        CaseMapped(SoftStr(input), name == "upper" ? CaseMap::kUpper : CaseMap::kLower));
  }
  if (name == "capitalize") {
    bind({});
    return CallMethod(in, Value::String(SoftStr(input)), "capitalize", {}, {});
  }
  if (name == "title") return bind({}), Title(SoftStr(input));
  if (name == "center") {
    auto a = bind({"width"});
    return CallMethod(in, Value::String(SoftStr(input)), "center",
                      {Given(a[0]) ? a[0] : Value::Int(80)}, {});
  }
  if (name == "replace") {
    auto a = bind({"old", "new", "count"}, 2);
    Str s = ToStr(input);
    s.set_markup(false);
    std::vector<Value> margs = {Value::String(ToStr(a[0])), Value::String(ToStr(a[1]))};
    if (Given(a[2]) && !a[2].is_none()) margs.push_back(a[2]);
    Value r = CallMethod(in, Value::String(std::move(s)), "replace", std::move(margs), {});
    return r;
  }
  if (name == "indent") {
    auto a = bind({"width", "first", "blank"});
    return Value::String(Indent(input, a[0], a[1], a[2]));
  }
  if (name == "int") {
    auto a = bind({"default", "base"});
    return IntFilter(input, a[0], a[1]);
  }
  if (name == "float") {
    auto a = bind({"default"});
    CheckDefined(input);
    if (input.is_number()) return Value::Float(input.f());
    if (input.is_str()) {
      if (auto f = ParseFloat(input.str().view())) return Value::Float(*f);
    }
    return Given(a[0]) ? a[0] : Value::Float(0.0);
  }
  if (name == "abs") {
    bind({});
    CheckDefined(input);
    if (input.kind() == Value::Kind::kFloat) return Value::Float(std::fabs(input.f()));
    if (input.is_int()) return input.i() < 0 ? Negate(input) : Value::Int(input.i());
    Fail(ErrorKind::kType, StrCat("bad operand type for abs(): '", TypeName(input), "'"));
  }
  if (name == "round") {
    auto a = bind({"precision", "method"});
    return Round(input, a[0], a[1]);
  }
  if (name == "e" || name == "escape" || name == "forceescape") {
    bind({});
    Str s = SoftStr(input);
    if (name == "forceescape") s.set_markup(false);
    return Value::String(EscapeHtml(s));
  }
  if (name == "safe") {
    bind({});
    Str s = SoftStr(input);
    s.set_markup(true);
    return Value::String(std::move(s));
  }
  if (name == "format") {
    if (!args.empty() && !kwargs.empty()) {
      Fail(ErrorKind::kRuntime, "can't handle positional and keyword arguments at the same time");
    }
    Value fargs;
    if (!kwargs.empty()) {
      Dict d;
      for (auto& [k, v] : kwargs) d.Set(Value::Text(k), v);
      fargs = Value::MakeDict(std::move(d));
    } else {
      fargs = Value::Tuple(std::move(args));
    }
    return Value::String(PercentFormat(SoftStr(input), fargs));
  }
  if (name == "truncate") return Truncate(input, std::move(args), std::move(kwargs));
  if (name == "wordcount") {
    bind({});
    int64_t n = 0;
    bool in_word = false;
    ForEachCp(SoftStr(input), [&](uint32_t cp, bool, size_t) {
      const bool w = cp == '_' || (PyProps(cp) & (kPyAlpha | kPyDecimal | kPyDigit | kPyNumeric));
      if (w && !in_word) ++n;
      in_word = w;
    });
    return Value::Int(n);
  }
  if (name == "attr") {
    auto a = bind({"name"}, 1);
    CheckDefined(input);
    const Str key = SoftStr(a[0]);
    Value v = GetAttr(input, key.view());
    if (input.is_dict() && v.is_undefined() == false && !HasMethod(input, key.view())) {
      return Value::Undef(StrCat("'dict object' has no attribute '", key.text(), "'"));
    }
    return v;
  }
  Fail(ErrorKind::kRuntime, StrCat("the filter '", name, "' is not supported by this engine"));
}

}  // namespace phx::chat
