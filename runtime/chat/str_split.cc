// Splitting and stripping of str values, keeping the provenance of what they keep.
#include <algorithm>

#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/pyops.h"
#include "runtime/chat/str_ops.h"

namespace phx::chat {
namespace {

std::vector<uint32_t> CpsOf(std::string_view s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) out.push_back(NextCp(s, &i));
  return out;
}

bool LineBreak(uint32_t cp) {
  return cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C || cp == 0x1D ||
         cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
}

}  // namespace

const Str& StrArg(const Value& v, std::string_view fn) {
  if (v.is_undefined()) FailUndefined(v);
  if (!v.is_str()) {
    Fail(ErrorKind::kType, StrCat(fn, "() argument must be str, not ", TypeName(v)));
  }
  return v.str();
}

std::vector<Value> SplitWhitespace(const Str& s, int64_t maxsplit, bool from_right) {
  const std::string& t = s.text();
  std::vector<std::pair<size_t, size_t>> words;
  std::vector<size_t> off = CpOffsets(t);
  std::vector<bool> space(off.size() - 1);
  for (size_t i = 0; i + 1 < off.size(); ++i) {
    size_t j = off[i];
    space[i] = PyIsSpace(NextCp(t, &j));
  }
  const size_t n = space.size();
  if (!from_right) {
    size_t i = 0;
    while (true) {
      while (i < n && space[i]) ++i;
      if (i >= n) break;
      if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
        words.emplace_back(off[i], off[n]);
        break;
      }
      size_t e = i;
      while (e < n && !space[e]) ++e;
      words.emplace_back(off[i], off[e]);
      i = e;
    }
  } else {
    size_t e = n;
    while (true) {
      while (e > 0 && space[e - 1]) --e;
      if (e == 0) break;
      if (maxsplit >= 0 && static_cast<int64_t>(words.size()) == maxsplit) {
        words.emplace_back(off[0], off[e]);
        break;
      }
      size_t b = e;
      while (b > 0 && !space[b - 1]) --b;
      words.emplace_back(off[b], off[e]);
      e = b;
    }
    std::reverse(words.begin(), words.end());
  }
  std::vector<Value> out;
  for (auto [b, e] : words) out.push_back(Value::String(s.Sub(b, e)));
  return out;
}

std::vector<Value> SplitSep(const Str& s, const Str& sep, int64_t maxsplit, bool from_right) {
  if (sep.empty()) Fail(ErrorKind::kValue, "empty separator");
  const std::string& t = s.text();
  const std::string& p = sep.text();
  std::vector<size_t> cuts;  // match starts
  if (!from_right) {
    for (size_t at = t.find(p); at != std::string::npos; at = t.find(p, at + p.size())) {
      if (maxsplit >= 0 && static_cast<int64_t>(cuts.size()) == maxsplit) break;
      cuts.push_back(at);
    }
  } else {
    size_t limit = t.size();
    while (limit >= p.size()) {
      const size_t at = t.rfind(p, limit - p.size());
      if (at == std::string::npos) break;
      if (maxsplit >= 0 && static_cast<int64_t>(cuts.size()) == maxsplit) break;
      cuts.push_back(at);
      limit = at;
    }
    std::reverse(cuts.begin(), cuts.end());
  }
  std::vector<Value> out;
  size_t prev = 0;
  for (size_t at : cuts) {
    out.push_back(Value::String(s.Sub(prev, at)));
    prev = at + p.size();
  }
  out.push_back(Value::String(s.Sub(prev, t.size())));
  return out;
}

Str StripChars(const Str& s, const Value& chars, bool left, bool right) {
  std::vector<uint32_t> set;
  const bool ws = !Given(chars) || chars.is_none();
  if (!ws) set = CpsOf(StrArg(chars, "strip").view());
  auto strip = [&](uint32_t cp) {
    return ws ? PyIsSpace(cp) : std::find(set.begin(), set.end(), cp) != set.end();
  };
  const std::string& t = s.text();
  const std::vector<size_t> off = CpOffsets(t);
  size_t b = 0, e = off.size() - 1;
  auto cp_at = [&](size_t i) {
    size_t j = off[i];
    return NextCp(t, &j);
  };
  if (left) {
    while (b < e && strip(cp_at(b))) ++b;
  }
  if (right) {
    while (e > b && strip(cp_at(e - 1))) --e;
  }
  return s.Sub(off[b], off[e]);
}

std::vector<Value> SplitLines(const Str& s, bool keepends) {
  std::vector<Value> out;
  const std::string& t = s.text();
  size_t start = 0, i = 0;
  while (i < t.size()) {
    const size_t at = i;
    const uint32_t cp = NextCp(t, &i);
    if (!LineBreak(cp)) continue;
    size_t end = i;
    if (cp == '\r' && i < t.size() && t[i] == '\n') end = ++i;
    out.push_back(Value::String(s.Sub(start, keepends ? end : at)));
    start = i;
  }
  if (start < t.size()) out.push_back(Value::String(s.Sub(start, t.size())));
  return out;
}

}  // namespace phx::chat
