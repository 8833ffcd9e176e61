#include "runtime/chat/pyjson.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/strings.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

void AppendJsonString(const Str& s, bool ensure_ascii, StrBuilder* out) {
  out->Add("\"", false);
  ForEachCp(s, [&](uint32_t cp, bool user, size_t) {
    char buf[16];
    switch (cp) {
      case '"':
        out->Add("\\\"", user);
        return;
      case '\\':
        out->Add("\\\\", user);
        return;
      case '\n':
        out->Add("\\n", user);
        return;
      case '\r':
        out->Add("\\r", user);
        return;
      case '\t':
        out->Add("\\t", user);
        return;
      case '\b':
        out->Add("\\b", user);
        return;
      case '\f':
        out->Add("\\f", user);
        return;
      default:
        break;
    }
    if (cp < 0x20 || (ensure_ascii && cp > 0x7E)) {
      if (cp >= 0x10000) {
        const uint32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      }
      out->Add(buf, user);
      return;
    }
    out->AddCp(cp, user);
  });
  out->Add("\"", false);
}

std::string JsonFloat(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f > 0 ? "Infinity" : "-Infinity";
  return FloatRepr(f);
}

class Dumper {
 public:
  explicit Dumper(const JsonOptions& opt) : opt_(opt) {}

  void Dump(const Value& v, int level) {
    if (level > 200) Fail(ErrorKind::kLimit, "tojson: nesting too deep");
    CheckSize(out_.size());
    switch (v.kind()) {
      case Value::Kind::kNone:
        out_.Add("null", false);
        return;
      case Value::Kind::kBool:
        out_.Add(v.b() ? "true" : "false", false);
        return;
      case Value::Kind::kInt:
        out_.Add(std::to_string(v.i()), false);
        return;
      case Value::Kind::kFloat:
        out_.Add(JsonFloat(v.f()), false);
        return;
      case Value::Kind::kStr:
        AppendJsonString(v.str(), opt_.ensure_ascii, &out_);
        return;
      case Value::Kind::kList:
      case Value::Kind::kTuple:
        if (v.view_name()) break;
        DumpList(v.items(), level);
        return;
      case Value::Kind::kDict:
        DumpDict(v.dict(), level);
        return;
      default:
        break;
    }
    Fail(ErrorKind::kType, StrCat("Object of type ", TypeName(v), " is not JSON serializable"));
  }

  StrBuilder& out() { return out_; }

 private:
  void Newline(int level) {
    if (!opt_.indent) return;
    out_.Add("\n", false);
    for (int i = 0; i < level; ++i) out_.Add(*opt_.indent, false);
  }

  void DumpList(const std::vector<Value>& items, int level) {
    if (items.empty()) {
      out_.Add("[]", false);
      return;
    }
    out_.Add("[", false);
    Newline(level + 1);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) {
        out_.Add(opt_.item_sep, false);
        Newline(level + 1);
      }
      Dump(items[i], level + 1);
    }
    Newline(level);
    out_.Add("]", false);
  }

  void DumpKey(const Value& k) {
    switch (k.kind()) {
      case Value::Kind::kStr:
        AppendJsonString(k.str(), opt_.ensure_ascii, &out_);
        return;
      case Value::Kind::kBool:
        out_.Add(k.b() ? "\"true\"" : "\"false\"", false);
        return;
      case Value::Kind::kNone:
        out_.Add("\"null\"", false);
        return;
      case Value::Kind::kInt:
        out_.Add(StrCat("\"", k.i(), "\""), false);
        return;
      case Value::Kind::kFloat:
        out_.Add(StrCat("\"", JsonFloat(k.f()), "\""), false);
        return;
      default:
        Fail(ErrorKind::kType,
             StrCat("keys must be str, int, float, bool or None, not ", TypeName(k)));
    }
  }

  void DumpDict(const Dict& d, int level) {
    if (d.size() == 0) {
      out_.Add("{}", false);
      return;
    }
    std::vector<const std::pair<Value, Value>*> items;
    for (const auto& kv : d.items()) items.push_back(&kv);
    if (opt_.sort_keys) {
      std::stable_sort(items.begin(), items.end(), [](const auto* a, const auto* b) {
        return PyOrder(a->first, b->first) < 0;
      });
    }
    out_.Add("{", false);
    Newline(level + 1);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) {
        out_.Add(opt_.item_sep, false);
        Newline(level + 1);
      }
      DumpKey(items[i]->first);
      out_.Add(opt_.key_sep, false);
      Dump(items[i]->second, level + 1);
    }
    Newline(level);
    out_.Add("}", false);
  }

  const JsonOptions& opt_;
  StrBuilder out_;
};

}  // namespace

Str JsonDumps(const Value& v, const JsonOptions& opt) {
  Dumper d(opt);
  d.Dump(v, 0);
  Str s = d.out().Take();
  CheckSize(s.size());
  return s;
}

}  // namespace phx::chat
