// Globals of transformers' environment: Jinja2's range (the sandbox's, capped at 100000
// items), dict, namespace, cycler, joiner, and transformers' raise_exception and strftime_now.
#include <cstring>

#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/objects.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

Value Range(Interp& in, std::vector<Value> args, Kwargs kwargs) {
  if (!kwargs.empty()) Fail(ErrorKind::kType, "range() takes no keyword arguments");
  if (args.empty() || args.size() > 3) {
    Fail(ErrorKind::kType, StrCat("range expected at most 3 arguments, got ", args.size()));
  }
  for (const Value& a : args) {
    CheckDefined(a);
    if (!a.is_int()) {
      Fail(ErrorKind::kType,
           StrCat("'", TypeName(a), "' object cannot be interpreted as an integer"));
    }
  }
  int64_t start = 0, stop, step = 1;
  if (args.size() == 1) {
    stop = args[0].i();
  } else {
    start = args[0].i(), stop = args[1].i();
    if (args.size() == 3) step = args[2].i();
  }
  if (step == 0) Fail(ErrorKind::kValue, "range() arg 3 must not be zero");
  int64_t n = 0;
  if (step > 0 && stop > start) n = (stop - start - 1) / step + 1;
  if (step < 0 && stop < start) n = (start - stop - 1) / (-step) + 1;
  if (n > 100000) {
    Fail(ErrorKind::kOverflow,
         "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  in.Step(n);
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(Value::Int(start + i * step));
  return Value::List(std::move(out));
}

Value MakeNamespace(Interp& in, std::vector<Value> args, Kwargs kwargs) {
  auto ns = in.Track(std::make_shared<NamespaceObj>());
  if (args.size() > 1) Fail(ErrorKind::kType, "namespace expected at most 1 argument");
  if (!args.empty()) {
    if (!args[0].is_dict()) Fail(ErrorKind::kType, "namespace() argument must be a mapping");
    for (const auto& [k, v] : args[0].dict().items()) {
      if (!k.is_str()) Fail(ErrorKind::kType, "keywords must be strings");
      ns->SetAttr(k.str().view(), v);
    }
  }
  for (auto& [k, v] : kwargs) ns->SetAttr(k, std::move(v));
  return Value::Obj(ns);
}

Value MakeDict(Interp&, std::vector<Value> args, Kwargs kwargs) {
  Dict d;
  if (args.size() > 1) Fail(ErrorKind::kType, "dict expected at most 1 argument");
  if (!args.empty()) {
    if (args[0].is_dict()) {
      d = args[0].dict();
    } else {
      for (const Value& pair : Iterate(args[0])) {
        std::vector<Value> kv = Iterate(pair);
        if (kv.size() != 2)
          Fail(ErrorKind::kValue, "dictionary update sequence element has wrong length");
        CheckHashable(kv[0]);
        d.Set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : kwargs) d.Set(Value::Text(k), std::move(v));
  return Value::MakeDict(std::move(d));
}

class CyclerObj final : public Object {
 public:
  explicit CyclerObj(std::vector<Value> items) : items_(std::move(items)) {}
  std::string TypeName() const override { return "jinja2.utils.Cycler"; }
  std::optional<Value> GetAttr(std::string_view name) override {
    if (name == "current") return items_[pos_];
    auto self = std::static_pointer_cast<CyclerObj>(self_.lock());
    if (name == "next") {
      return Value::Obj(
          std::make_shared<FunctionObj>("next", [self](Interp&, std::vector<Value>, Kwargs) {
            Value v = self->items_[self->pos_];
            self->pos_ = (self->pos_ + 1) % self->items_.size();
            return v;
          }));
    }
    if (name == "reset") {
      return Value::Obj(
          std::make_shared<FunctionObj>("reset", [self](Interp&, std::vector<Value>, Kwargs) {
            self->pos_ = 0;
            return Value::None();
          }));
    }
    return std::nullopt;
  }
  std::weak_ptr<Object> self_;

 private:
  std::vector<Value> items_;
  size_t pos_ = 0;
};

Value MakeCycler(Interp&, std::vector<Value> args, Kwargs) {
  if (args.empty()) Fail(ErrorKind::kRuntime, "at least one item has to be provided");
  auto c = std::make_shared<CyclerObj>(std::move(args));
  c->self_ = c;
  return Value::Obj(c);
}

Value MakeJoiner(Interp&, std::vector<Value> args, Kwargs kwargs) {
  auto a = BindArgs("joiner", std::move(args), std::move(kwargs), {"sep"});
  const Value sep = Given(a[0]) ? a[0] : Value::Text(", ");
  auto used = std::make_shared<bool>(false);
  return Value::Obj(
      std::make_shared<FunctionObj>("joiner", [sep, used](Interp&, std::vector<Value>, Kwargs) {
        if (!*used) {
          *used = true;
          return Value::Text("");
        }
        return sep;
      }));
}

Value RaiseException(Interp&, std::vector<Value> args, Kwargs kwargs) {
  auto a = BindArgs("raise_exception", std::move(args), std::move(kwargs), {"message"}, 1);
  Fail(ErrorKind::kRaised, ToStr(a[0]).text());
}

// datetime.now().strftime(fmt): Python hands the format to the C library, after replacing %f
// (microseconds; the engine's clock has none), %z and %Z (empty for a naive datetime).
Value StrftimeNow(Interp& in, std::vector<Value> args, Kwargs kwargs) {
  auto a = BindArgs("strftime_now", std::move(args), std::move(kwargs), {"format"}, 1);
  CheckDefined(a[0]);
  if (!a[0].is_str()) Fail(ErrorKind::kType, "strftime() argument 1 must be str");
  const std::string& f = a[0].str().text();
  if (f.size() > 1024) Fail(ErrorKind::kLimit, "strftime format too long");
  std::string fmt;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '%' && i + 1 < f.size()) {
      const char c = f[i + 1];
      if (c == 'f') {
        fmt += "000000";
      } else if (c == 'z' || c == 'Z') {
      } else {
        fmt += f.substr(i, 2);
      }
      ++i;
    } else {
      fmt += f[i];
    }
  }
  const std::tm tm = in.Now();
  std::string out(4096 + fmt.size() * 32, '\0');
  const size_t n = fmt.empty() ? 0 : std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
  out.resize(n);
  return Value::Text(out);
}

}  // namespace

void AddGlobals(absl::flat_hash_map<std::string, Value>* g) {
  auto add = [g](std::string name, FunctionObj::Fn fn) {
    (*g)[name] = Value::Obj(std::make_shared<FunctionObj>(name, std::move(fn)));
  };
  add("range", Range);
  add("namespace", MakeNamespace);
  add("dict", MakeDict);
  add("cycler", MakeCycler);
  add("joiner", MakeJoiner);
  add("raise_exception", RaiseException);
  add("strftime_now", StrftimeNow);
}

}  // namespace phx::chat
