// Python methods of dict, list and tuple that templates call, argument binding, and the method
// tables (str methods live in str_methods.cc).
#include <algorithm>
#include <array>

#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {

bool HasStrMethod(std::string_view name);
Value CallStrMethod(Interp& in, const Str& self, std::string_view name, std::vector<Value> args,
                    Kwargs kwargs);

namespace {

constexpr std::array<std::string_view, 11> kDictMethods = {
    "clear", "copy",    "fromkeys",   "get",    "items", "keys",
    "pop",   "popitem", "setdefault", "update", "values"};
constexpr std::array<std::string_view, 5> kDictUnsafe = {"clear", "pop", "popitem", "setdefault",
                                                         "update"};
constexpr std::array<std::string_view, 11> kListMethods = {"append", "clear",   "copy",   "count",
                                                           "extend", "index",   "insert", "pop",
                                                           "remove", "reverse", "sort"};
// jinja2.sandbox's _mutable_spec for MutableSequence (pop and clear are not in it).
constexpr std::array<std::string_view, 6> kListUnsafe = {"append", "reverse", "insert",
                                                         "sort",   "extend",  "remove"};

template <size_t N>
bool In(const std::array<std::string_view, N>& a, std::string_view s) {
  return std::find(a.begin(), a.end(), s) != a.end();
}

int64_t IndexArg(const Value& v, int64_t n, int64_t dflt) {
  if (!Given(v) || v.is_none()) return dflt;
  if (!v.is_int()) Fail(ErrorKind::kType, "slice indices must be integers or None");
  int64_t x = v.i();
  if (x < 0) x = std::max<int64_t>(0, x + n);
  return std::min(x, n);
}

}  // namespace

std::vector<Value> BindArgs(std::string_view fn, std::vector<Value> args, Kwargs kwargs,
                            std::initializer_list<std::string_view> names, size_t required) {
  std::vector<Value> out(names.size());
  if (args.size() > names.size()) {
    Fail(ErrorKind::kType,
         StrCat(fn, "() takes at most ", names.size(), " arguments (", args.size(), " given)"));
  }
  for (size_t i = 0; i < args.size(); ++i) out[i] = std::move(args[i]);
  for (auto& [k, v] : kwargs) {
    auto it = std::find(names.begin(), names.end(), k);
    if (it == names.end()) {
      Fail(ErrorKind::kType, StrCat(fn, "() got an unexpected keyword argument '", k, "'"));
    }
    const size_t i = static_cast<size_t>(it - names.begin());
    if (i < args.size()) {
      Fail(ErrorKind::kType, StrCat(fn, "() got multiple values for argument '", k, "'"));
    }
    out[i] = std::move(v);
  }
  for (size_t i = 0; i < required; ++i) {
    if (!Given(out[i])) {
      Fail(ErrorKind::kType, StrCat(fn, "() missing required argument '", *(names.begin() + i),
                                    "' (pos ", i + 1, ")"));
    }
  }
  return out;
}

bool HasMethod(const Value& self, std::string_view name) {
  switch (self.kind()) {
    case Value::Kind::kStr:
      return HasStrMethod(name);
    case Value::Kind::kDict:
      return In(kDictMethods, name);
    case Value::Kind::kList:
      return In(kListMethods, name);
    case Value::Kind::kTuple:
      return name == "count" || name == "index";
    default:
      return false;
  }
}

bool IsUnsafeMethod(const Value& self, std::string_view name) {
  if (self.is_dict()) return In(kDictUnsafe, name);
  if (self.kind() == Value::Kind::kList) return In(kListUnsafe, name);
  return false;
}

Value CallMethod(Interp& in, const Value& self, std::string_view name, std::vector<Value> args,
                 Kwargs kwargs) {
  in.Step();
  if (self.is_str()) return CallStrMethod(in, self.str(), name, std::move(args), std::move(kwargs));
  if (self.is_dict()) {
    const Dict& d = self.dict();
    if (name == "get") {
      auto a = BindArgs("get", std::move(args), std::move(kwargs), {"key", "default"}, 1);
      CheckHashable(a[0]);
      const Value* v = d.Find(a[0]);
      return v ? *v : (Given(a[1]) ? a[1] : Value::None());
    }
    BindArgs(name, std::move(args), std::move(kwargs), {});
    in.Step(static_cast<int64_t>(d.size()));
    std::vector<Value> out;
    for (const auto& [k, v] : d.items()) {
      if (name == "items") out.push_back(Value::Tuple({k, v}));
      if (name == "keys") out.push_back(k);
      if (name == "values") out.push_back(v);
    }
    if (name == "copy") return self;
    if (name == "items") return Value::View(std::move(out), "dict_items");
    if (name == "keys") return Value::View(std::move(out), "dict_keys");
    if (name == "values") return Value::View(std::move(out), "dict_values");
    Fail(ErrorKind::kType, StrCat("dict.", name, "() is not supported"));
  }
  if (self.is_seq()) {
    const std::vector<Value>& items = self.items();
    const auto n = static_cast<int64_t>(items.size());
    in.Step(n);
    if (name == "count") {
      auto a = BindArgs("count", std::move(args), std::move(kwargs), {"value"}, 1);
      return Value::Int(std::count_if(items.begin(), items.end(),
                                      [&](const Value& x) { return PyEquals(x, a[0]); }));
    }
    if (name == "index") {
      auto a = BindArgs("index", std::move(args), std::move(kwargs), {"value", "start", "stop"}, 1);
      for (int64_t i = IndexArg(a[1], n, 0); i < IndexArg(a[2], n, n); ++i) {
        if (PyEquals(items[static_cast<size_t>(i)], a[0])) return Value::Int(i);
      }
      Fail(ErrorKind::kValue, StrCat(Repr(a[0]).text(), " is not in list"));
    }
    if (name == "copy") return Value::List(items);
    // list.pop and list.clear mutate the list in place, as in Python (the sandbox allows them).
    auto& mut = const_cast<std::vector<Value>&>(items);
    if (name == "clear") {
      BindArgs("clear", std::move(args), std::move(kwargs), {});
      mut.clear();
      return Value::None();
    }
    if (name == "pop") {
      auto a = BindArgs("pop", std::move(args), std::move(kwargs), {"index"});
      if (mut.empty()) Fail(ErrorKind::kValue, "pop from empty list");
      int64_t i = Given(a[0]) ? a[0].i() : n - 1;
      if (i < 0) i += n;
      if (i < 0 || i >= n) Fail(ErrorKind::kValue, "pop index out of range");
      Value v = mut[static_cast<size_t>(i)];
      mut.erase(mut.begin() + i);
      return v;
    }
  }
  Fail(ErrorKind::kType, StrCat("'", TypeName(self), "' object has no method '", name, "'"));
}

}  // namespace phx::chat
