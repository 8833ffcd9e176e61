// Python's str methods, keeping the provenance of every character they keep or map.
#include <algorithm>
#include <array>

#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/pyformat.h"
#include "runtime/chat/pyops.h"
#include "runtime/chat/str_ops.h"

namespace phx::chat {
namespace {

constexpr std::array<std::string_view, 41> kStrMethods = {
    "capitalize",   "casefold",     "center",    "count",       "endswith",   "find",
    "format",       "index",        "isalnum",   "isalpha",     "isascii",    "isdecimal",
    "isdigit",      "islower",      "isnumeric", "isprintable", "isspace",    "istitle",
    "isupper",      "join",         "ljust",     "lower",       "lstrip",     "partition",
    "removeprefix", "removesuffix", "replace",   "rfind",       "rindex",     "rjust",
    "rpartition",   "rsplit",       "rstrip",    "split",       "splitlines", "startswith",
    "strip",        "swapcase",     "title",     "upper",       "zfill"};

int64_t IntArg(const Value& v, std::string_view fn) {
  if (v.is_undefined()) FailUndefined(v);
  if (!v.is_int()) {
    Fail(ErrorKind::kType,
         StrCat("'", TypeName(v), "' object cannot be interpreted as an integer"));
  }
  return v.i();
}

std::vector<uint32_t> Cps(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) out.push_back(NextCp(s, &i));
  return out;
}

// Code point index of byte offset `b`.
int64_t CpIndex(const std::vector<size_t>& off, size_t b) {
  return std::lower_bound(off.begin(), off.end(), b) - off.begin();
}

// [start, end) in code points (Python's slice clamping) as byte offsets.
std::pair<size_t, size_t> Range(const std::vector<size_t>& off, const Value& start,
                                const Value& end) {
  const auto n = static_cast<int64_t>(off.size()) - 1;
  auto adj = [&](const Value& v, int64_t d) {
    if (!Given(v) || v.is_none()) return d;
    int64_t x = IntArg(v, "slice");
    if (x < 0) x = std::max<int64_t>(0, x + n);
    return std::min(x, n);
  };
  const int64_t b = adj(start, 0), e = adj(end, n);
  return {off[b], off[std::max(b, e)]};
}

Str Pad(const Str& s, int64_t width, const Value& fill, int64_t left_share_num, bool center) {
  std::string f = " ";
  if (Given(fill)) {
    const Str& fs = StrArg(fill, "pad");
    if (CpCount(fs.view()) != 1) {
      Fail(ErrorKind::kType, "The fill character must be exactly one character long");
    }
    f = fs.text();
  }
  const int64_t n = static_cast<int64_t>(CpCount(s.view()));
  if (width <= n) return s;
  CheckSize(static_cast<size_t>(width) * f.size());
  const int64_t pad = width - n;
  int64_t left = left_share_num;  // ljust: 0, rjust: pad
  if (center) left = pad / 2 + (pad & width & 1);
  Str out;
  for (int64_t i = 0; i < left; ++i) out.Append(f, false);
  out.Append(s);
  for (int64_t i = left; i < pad; ++i) out.Append(f, false);
  return out;
}

Str Replace(const Str& s, const Str& old, const Str& with, int64_t count) {
  const std::string& t = s.text();
  Str out;
  int64_t done = 0;
  auto piece = [&](size_t at, size_t len) {
    Str w = with;
    if (len > 0 && s.AnyUser(at, at + len) && !s.Sub(at, at + len).user().empty() &&
        s.Sub(at, at + len).user().front() == ByteRange{0, len}) {
      w = Str::User(with.text());
    }
    out.Append(w);
    CheckSize(out.size());
  };
  if (old.empty()) {
    const std::vector<size_t> off = CpOffsets(t);
    for (size_t i = 0; i + 1 < off.size(); ++i) {
      if (count < 0 || done < count) piece(off[i], 0), ++done;
      out.Append(s.Sub(off[i], off[i + 1]));
    }
    if (count < 0 || done < count) piece(t.size(), 0);
    return out;
  }
  size_t prev = 0;
  for (size_t at = t.find(old.text()); at != std::string::npos && (count < 0 || done < count);
       at = t.find(old.text(), at + old.size())) {
    out.Append(s.Sub(prev, at));
    piece(at, old.size());
    prev = at + old.size();
    ++done;
  }
  out.Append(s.Sub(prev, t.size()));
  return out;
}

bool AllCps(const Str& s, uint16_t props) {
  if (s.empty()) return false;
  for (uint32_t cp : Cps(s.view())) {
    if (!(PyProps(cp) & props)) return false;
  }
  return true;
}

Value CaseCheck(const Str& s, bool want_lower) {
  bool cased = false;
  for (uint32_t cp : Cps(s.view())) {
    const uint16_t p = PyProps(cp);
    if (want_lower ? (p & (kPyUpper | kPyTitle)) : (p & (kPyLower | kPyTitle))) {
      return Value::Bool(false);
    }
    cased |= (p & (want_lower ? kPyLower : kPyUpper)) != 0;
  }
  return Value::Bool(cased);
}

Value IsTitle(const Str& s) {
  bool cased = false, prev_cased = false;
  for (uint32_t cp : Cps(s.view())) {
    const uint16_t p = PyProps(cp);
    if (p & (kPyUpper | kPyTitle)) {
      if (prev_cased) return Value::Bool(false);
      prev_cased = cased = true;
    } else if (p & kPyLower) {
      if (!prev_cased) return Value::Bool(false);
      prev_cased = cased = true;
    } else {
      prev_cased = false;
    }
  }
  return Value::Bool(cased);
}

Value StartsEnds(const Str& s, const std::vector<Value>& a, bool ends) {
  const std::vector<size_t> off = CpOffsets(s.view());
  auto [b, e] = Range(off, a[1], a[2]);
  const std::string_view t = s.view().substr(b, e - b);
  auto test = [&](const Value& p) {
    const std::string& x = StrArg(p, ends ? "endswith" : "startswith").text();
    if (x.size() > t.size()) return false;
    return ends ? t.substr(t.size() - x.size()) == x : t.substr(0, x.size()) == x;
  };
  if (a[0].kind() == Value::Kind::kTuple) {
    for (const Value& p : a[0].items()) {
      if (test(p)) return Value::Bool(true);
    }
    return Value::Bool(false);
  }
  if (!a[0].is_str()) {
    Fail(ErrorKind::kType,
         StrCat(ends ? "endswith" : "startswith", " first arg must be str or a tuple of str, not ",
                TypeName(a[0])));
  }
  return Value::Bool(test(a[0]));
}

Value Find(const Str& s, std::string_view name, const std::vector<Value>& a) {
  const Str& sub = StrArg(a[0], name);
  const std::vector<size_t> off = CpOffsets(s.view());
  auto [b, e] = Range(off, a[1], a[2]);
  const std::string_view t = s.view().substr(0, e);
  if (name == "count") {
    int64_t n = 0;
    if (sub.empty()) return Value::Int(CpIndex(off, e) - CpIndex(off, b) + 1);
    for (size_t at = t.find(sub.text(), b); at != std::string::npos;
         at = t.find(sub.text(), at + sub.size())) {
      ++n;
    }
    return Value::Int(n);
  }
  const bool right = name == "rfind" || name == "rindex";
  size_t at = right ? t.rfind(sub.text()) : t.find(sub.text(), b);
  if (at != std::string::npos && at < b) at = std::string::npos;
  if (at == std::string::npos) {
    if (name == "index" || name == "rindex") Fail(ErrorKind::kValue, "substring not found");
    return Value::Int(-1);
  }
  return Value::Int(CpIndex(off, at));
}

Value Partition(const Str& s, const Str& sep, bool right) {
  if (sep.empty()) Fail(ErrorKind::kValue, "empty separator");
  const size_t at = right ? s.text().rfind(sep.text()) : s.text().find(sep.text());
  if (at == std::string::npos) {
    Value empty = Value::Text("");
    return right ? Value::Tuple({empty, empty, Value::String(s)})
                 : Value::Tuple({Value::String(s), empty, empty});
  }
  return Value::Tuple({Value::String(s.Sub(0, at)), Value::String(s.Sub(at, at + sep.size())),
                       Value::String(s.Sub(at + sep.size(), s.size()))});
}

}  // namespace

bool HasStrMethod(std::string_view name) {
  return std::find(kStrMethods.begin(), kStrMethods.end(), name) != kStrMethods.end();
}

Str CaseMapped(const Str& s, CaseMap map) {
  StrBuilder b;
  const std::string& t = s.text();
  ForEachCp(s, [&](uint32_t cp, bool user, size_t at) {
    std::string m;
    if (map == CaseMap::kLower && cp == 0x3A3) {
      // Final sigma: after a cased letter and not before one.
      size_t j = at + 2;
      const bool next_cased = j < t.size() && PyIsCased(NextCp(t, &j));
      bool prev_cased = false;
      if (at > 0) {
        size_t k = at - 1;
        while (k > 0 && (static_cast<uint8_t>(t[k]) & 0xC0) == 0x80) --k;
        size_t kk = k;
        prev_cased = PyIsCased(NextCp(t, &kk));
      }
      AppendCp(prev_cased && !next_cased ? 0x3C2 : 0x3C3, &m);
    } else {
      AppendCaseMapped(cp, map, &m);
    }
    b.Add(m, user);
  });
  Str out = b.Take();
  out.set_markup(s.markup());
  return out;
}

Value CallStrMethod(Interp& in, const Str& s, std::string_view name, std::vector<Value> args,
                    Kwargs kwargs) {
  in.Step(static_cast<int64_t>(s.size() / 64));
  auto bind = [&](std::initializer_list<std::string_view> names, size_t req = 0) {
    return BindArgs(name, std::move(args), std::move(kwargs), names, req);
  };
  if (name == "format") {
    return Value::String(StrFormat(s, args, kwargs));
  }
  if (name == "upper" || name == "lower" || name == "casefold") {
    bind({});
    return Value::String(CaseMapped(s, name == "upper" ? CaseMap::kUpper : CaseMap::kLower));
  }
  if (name == "title" || name == "capitalize" || name == "swapcase") {
    bind({});
    StrBuilder b;
    bool prev_cased = false, first = true;
    ForEachCp(s, [&](uint32_t cp, bool user, size_t) {
      std::string m;
      const uint16_t p = PyProps(cp);
      if (name == "title") {
        AppendCaseMapped(cp, prev_cased ? CaseMap::kLower : CaseMap::kTitle, &m);
        prev_cased = PyIsCased(cp);
      } else if (name == "capitalize") {
        AppendCaseMapped(cp, first ? CaseMap::kTitle : CaseMap::kLower, &m);
      } else {
        AppendCaseMapped(cp,
                         p & kPyUpper   ? CaseMap::kLower
                         : p & kPyLower ? CaseMap::kUpper
                                        : CaseMap::kLower,
                         &m);
        if (!(p & (kPyUpper | kPyLower))) m.clear(), AppendCp(cp, &m);
      }
      first = false;
      b.Add(m, user);
    });
    return Value::String(b.Take());
  }
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    auto a = bind({"chars"});
    return Value::String(StripChars(s, a[0], name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    auto a = bind({"sep", "maxsplit"});
    const int64_t maxsplit = Given(a[1]) ? IntArg(a[1], name) : -1;
    std::vector<Value> parts = !Given(a[0]) || a[0].is_none()
                                   ? SplitWhitespace(s, maxsplit, name == "rsplit")
                                   : SplitSep(s, StrArg(a[0], name), maxsplit, name == "rsplit");
    in.Step(static_cast<int64_t>(parts.size()));
    return Value::List(std::move(parts));
  }
  if (name == "splitlines") {
    auto a = bind({"keepends"});
    return Value::List(SplitLines(s, Given(a[0]) && Truthy(a[0])));
  }
  if (name == "startswith" || name == "endswith") {
    return StartsEnds(s, bind({"prefix", "start", "end"}, 1), name == "endswith");
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count") {
    return Find(s, name, bind({"sub", "start", "end"}, 1));
  }
  if (name == "replace") {
    auto a = bind({"old", "new", "count"}, 2);
    return Value::String(
        Replace(s, StrArg(a[0], name), StrArg(a[1], name), Given(a[2]) ? IntArg(a[2], name) : -1));
  }
  if (name == "join") {
    auto a = bind({"iterable"}, 1);
    Str out;
    bool first = true;
    for (const Value& v : Iterate(a[0])) {
      if (!v.is_str()) {
        Fail(ErrorKind::kType,
             StrCat("sequence item: expected str instance, ", TypeName(v), " found"));
      }
      if (!first) out.Append(s);
      first = false;
      out.Append(v.str());
      CheckSize(out.size());
    }
    return Value::String(std::move(out));
  }
  if (name == "center" || name == "ljust" || name == "rjust") {
    auto a = bind({"width", "fillchar"}, 1);
    const int64_t w = IntArg(a[0], name);
    const int64_t n = static_cast<int64_t>(CpCount(s.view()));
    return Value::String(
        Pad(s, w, a[1], name == "rjust" ? std::max<int64_t>(0, w - n) : 0, name == "center"));
  }
  if (name == "zfill") {
    auto a = bind({"width"}, 1);
    const int64_t w = IntArg(a[0], name);
    const int64_t n = static_cast<int64_t>(CpCount(s.view()));
    if (w <= n) return Value::String(s);
    CheckSize(static_cast<size_t>(w));
    Str out;
    size_t lead = 0;
    if (!s.empty() && (s.text()[0] == '+' || s.text()[0] == '-')) {
      out.Append(s.Sub(0, 1));
      lead = 1;
    }
    out.Append(std::string(static_cast<size_t>(w - n), '0'), false);
    out.Append(s.Sub(lead, s.size()));
    return Value::String(std::move(out));
  }
  if (name == "removeprefix" || name == "removesuffix") {
    auto a = bind({"affix"}, 1);
    const std::string& x = StrArg(a[0], name).text();
    const std::string& t = s.text();
    if (name == "removeprefix" && t.compare(0, x.size(), x) == 0) {
      return Value::String(s.Sub(x.size(), t.size()));
    }
    if (name == "removesuffix" && !x.empty() && t.size() >= x.size() &&
        t.compare(t.size() - x.size(), x.size(), x) == 0) {
      return Value::String(s.Sub(0, t.size() - x.size()));
    }
    return Value::String(s);
  }
  if (name == "partition" || name == "rpartition") {
    auto a = bind({"sep"}, 1);
    return Partition(s, StrArg(a[0], name), name == "rpartition");
  }
  bind({});
  if (name == "isalpha") return Value::Bool(AllCps(s, kPyAlpha));
  if (name == "isalnum") {
    return Value::Bool(AllCps(s, kPyAlpha | kPyDecimal | kPyDigit | kPyNumeric));
  }
  if (name == "isdecimal") return Value::Bool(AllCps(s, kPyDecimal));
  if (name == "isdigit") return Value::Bool(AllCps(s, kPyDigit));
  if (name == "isnumeric") return Value::Bool(AllCps(s, kPyNumeric));
  if (name == "isspace") return Value::Bool(AllCps(s, kPySpace));
  if (name == "isprintable") return Value::Bool(s.empty() || AllCps(s, kPyPrintable));
  if (name == "isascii") {
    return Value::Bool(std::all_of(s.text().begin(), s.text().end(),
                                   [](char c) { return static_cast<uint8_t>(c) < 0x80; }));
  }
  if (name == "islower") return CaseCheck(s, true);
  if (name == "isupper") return CaseCheck(s, false);
  if (name == "istitle") return IsTitle(s);
  Fail(ErrorKind::kType, StrCat("str.", name, "() is not supported"));
}

}  // namespace phx::chat
