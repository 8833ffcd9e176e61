#include "runtime/chat/objects.h"

#include "base/strings.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {

std::optional<Value> NamespaceObj::GetAttr(std::string_view name) {
  const Value* v = attrs_.FindStr(name);
  if (!v) return std::nullopt;
  return *v;
}

bool NamespaceObj::SetAttr(std::string_view name, Value v) {
  attrs_.Set(Value::Text(name), std::move(v));
  return true;
}

std::string NamespaceObj::Repr(int depth) const {
  if (in_repr_) return "<Namespace {...}>";
  in_repr_ = true;
  struct Reset {
    bool* flag;
    ~Reset() { *flag = false; }
  } reset{&in_repr_};
  std::string s = "<Namespace {";
  bool first = true;
  for (const auto& [k, v] : attrs_.items()) {
    if (!first) s += ", ";
    first = false;
    s += StrCat(chat::Repr(k, depth + 1).text(), ": ", chat::Repr(v, depth + 1).text());
  }
  return s + "}>";
}

Value BoundMethodObj::Call(Interp& in, std::vector<Value> args, Kwargs kwargs) {
  return CallMethod(in, self_, name_, std::move(args), std::move(kwargs));
}

std::string BoundMethodObj::Repr(int) const {
  return StrCat("<built-in method ", name_, " of ", chat::TypeName(self_), " object>");
}

std::optional<Value> MacroObj::GetAttr(std::string_view name) {
  if (name == "name") return Value::Text(name_);
  if (name == "catch_kwargs") return Value::Bool(def_.uses_kwargs);
  if (name == "catch_varargs") return Value::Bool(def_.uses_varargs);
  if (name == "caller") return Value::Bool(def_.uses_caller);
  if (name == "arguments") {
    std::vector<Value> names;
    for (const Param& p : def_.params) names.push_back(Value::Text(p.name));
    return Value::Tuple(std::move(names));
  }
  return std::nullopt;
}

Value MacroObj::Call(Interp& in, std::vector<Value> args, Kwargs kwargs) {
  in.EnterCall();
  if (!closure_) Fail(ErrorKind::kRuntime, "macro called after the render ended");
  auto frame = std::make_shared<Frame>();
  frame->parent = closure_;
  const std::vector<Param>& params = def_.params;
  std::vector<bool> set(params.size(), false);
  for (size_t i = 0; i < args.size() && i < params.size(); ++i) {
    frame->vars[params[i].name] = args[i];
    set[i] = true;
  }
  Value caller = caller_;
  Dict extra;
  for (auto& [k, v] : kwargs) {
    bool matched = false;
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i].name != k) continue;
      if (set[i]) {
        Fail(ErrorKind::kType,
             StrCat("macro '", name_, "' got multiple values for argument '", k, "'"));
      }
      frame->vars[k] = v;
      set[i] = matched = true;
    }
    if (matched) continue;
    if (k == "caller" && def_.uses_caller) {
      caller = v;
    } else if (def_.uses_kwargs) {
      extra.Set(Value::Text(k), v);
    } else {
      Fail(ErrorKind::kType, StrCat("macro '", name_, "' takes no keyword argument '", k, "'"));
    }
  }
  if (args.size() > params.size()) {
    if (!def_.uses_varargs) {
      Fail(ErrorKind::kType,
           StrCat("macro '", name_, "' takes not more than ", params.size(), " argument(s)"));
    }
    frame->vars["varargs"] = Value::Tuple(
        std::vector<Value>(args.begin() + static_cast<ptrdiff_t>(params.size()), args.end()));
  } else if (def_.uses_varargs) {
    frame->vars["varargs"] = Value::Tuple({});
  }
  if (def_.uses_kwargs) frame->vars["kwargs"] = Value::MakeDict(std::move(extra));
  if (def_.uses_caller) {
    frame->vars["caller"] = caller.is_undefined() && caller.undef_message().empty()
                                ? Value::Undef("No caller defined")
                                : caller;
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (set[i]) continue;
    frame->vars[params[i].name] =
        params[i].default_value
            ? in.Eval(*params[i].default_value, frame)
            : Value::Undef(StrCat("parameter '", params[i].name, "' was not provided"));
  }
  Str out = in.Capture(def_.body, frame);
  out.set_markup(false);
  in.LeaveCall();
  return Value::String(std::move(out));
}

std::optional<Value> LoopObj::GetAttr(std::string_view name) {
  const auto n = static_cast<int64_t>(items_.size());
  const auto i = static_cast<int64_t>(index_);
  if (name == "index0") return Value::Int(i);
  if (name == "index") return Value::Int(i + 1);
  if (name == "revindex") return Value::Int(n - i);
  if (name == "revindex0") return Value::Int(n - i - 1);
  if (name == "first") return Value::Bool(i == 0);
  if (name == "last") return Value::Bool(i == n - 1);
  if (name == "length") return Value::Int(n);
  if (name == "depth") return Value::Int(depth_ + 1);
  if (name == "depth0") return Value::Int(depth_);
  if (name == "previtem") {
    return i > 0 ? items_[index_ - 1] : Value::Undef("there is no previous item");
  }
  if (name == "nextitem") {
    return i + 1 < n ? items_[index_ + 1] : Value::Undef("there is no next item");
  }
  auto self = shared_from_this();
  if (name == "cycle") {
    return Value::Obj(
        std::make_shared<FunctionObj>("cycle", [self](Interp&, std::vector<Value> args, Kwargs) {
          if (args.empty()) Fail(ErrorKind::kType, "no items for cycling given");
          return args[self->index_ % args.size()];
        }));
  }
  if (name == "changed") {
    return Value::Obj(
        std::make_shared<FunctionObj>("changed", [self](Interp&, std::vector<Value> args, Kwargs) {
          Value v = Value::Tuple(std::move(args));
          if (self->changed_seen_ && PyEquals(v, self->last_changed_)) return Value::Bool(false);
          self->changed_seen_ = true;
          self->last_changed_ = v;
          return Value::Bool(true);
        }));
  }
  return std::nullopt;
}

Value LoopObj::Call(Interp& in, std::vector<Value> args, Kwargs kwargs) {
  if (!recurse_) {
    Fail(ErrorKind::kType, "The loop must have the 'recursive' marker to be called recursively.");
  }
  if (args.size() != 1 || !kwargs.empty()) {
    Fail(ErrorKind::kType, "loop() takes exactly one argument");
  }
  return Value::String(recurse_(in, Iterate(args[0]), depth_ + 1));
}

std::string LoopObj::Repr(int) const {
  return StrCat("<LoopContext ", index_ + 1, "/", items_.size(), ">");
}

}  // namespace phx::chat
