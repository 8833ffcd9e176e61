// Expressions: names, literals, attribute/item access, calls, filters, tests, operators.
#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/objects.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {

void Interp::EvalArgs(const Expr& e, const FramePtr& f, size_t first, std::vector<Value>* args,
                      Kwargs* kwargs) {
  for (size_t i = first; i < e.a.size(); ++i) args->push_back(Eval(*e.a[i], f));
  for (const auto& [k, v] : e.kwargs) kwargs->emplace_back(k, Eval(*v, f));
  if (e.dyn_args) {
    for (Value& v : Iterate(Eval(*e.dyn_args, f))) args->push_back(std::move(v));
  }
  if (e.dyn_kwargs) {
    Value d = Eval(*e.dyn_kwargs, f);
    if (!d.is_dict()) Fail(ErrorKind::kType, "argument after ** must be a mapping");
    for (const auto& [k, v] : d.dict().items()) {
      if (!k.is_str()) Fail(ErrorKind::kType, "keywords must be strings");
      kwargs->emplace_back(k.str().text(), v);
    }
  }
}

Value Interp::CallValue(const Value& fn, std::vector<Value> args, Kwargs kwargs) {
  if (fn.is_undefined()) FailUndefined(fn);
  if (!fn.is_object() || !fn.obj().callable()) {
    Fail(ErrorKind::kType, StrCat("'", TypeName(fn), "' object is not callable"));
  }
  return fn.obj().Call(*this, std::move(args), std::move(kwargs));
}

Value Interp::ApplyFilter(std::string_view name, Value input, std::vector<Value> args,
                          Kwargs kwargs) {
  return Filter(*this, name, std::move(input), std::move(args), std::move(kwargs));
}

bool Interp::ApplyTest(std::string_view name, const Value& input, std::vector<Value> args,
                       Kwargs kwargs) {
  return Test(*this, name, input, std::move(args), std::move(kwargs));
}

Value Interp::EvalCall(const Expr& e, const FramePtr& f) {
  Value fn = Eval(*e.a[0], f);
  std::vector<Value> args;
  Kwargs kwargs;
  EvalArgs(e, f, 1, &args, &kwargs);
  return CallValue(fn, std::move(args), std::move(kwargs));
}

Value Interp::Eval(const Expr& e, const FramePtr& f) {
  Step();
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName:
      return Lookup(e.name, f);
    case ExprKind::kGetattr: {
      Value obj = Eval(*e.a[0], f);
      CheckDefined(obj);
      return GetAttr(obj, e.name);
    }
    case ExprKind::kGetitem: {
      Value obj = Eval(*e.a[0], f);
      CheckDefined(obj);
      const Expr& k = *e.a[1];
      if (k.kind == ExprKind::kSlice) {
        auto part = [&](size_t i) { return k.a[i] ? Eval(*k.a[i], f) : Value::None(); };
        return SliceValue(obj, part(0), part(1), part(2));
      }
      return GetItem(obj, Eval(k, f));
    }
    case ExprKind::kSlice:
      Fail(ErrorKind::kType, "a slice is only valid inside []");
    case ExprKind::kCall:
      return EvalCall(e, f);
    case ExprKind::kFilter: {
      Value input = e.a[0] ? Eval(*e.a[0], f) : Value();
      std::vector<Value> args;
      Kwargs kwargs;
      EvalArgs(e, f, 1, &args, &kwargs);
      return ApplyFilter(e.name, std::move(input), std::move(args), std::move(kwargs));
    }
    case ExprKind::kTest: {
      Value input = Eval(*e.a[0], f);
      std::vector<Value> args;
      Kwargs kwargs;
      EvalArgs(e, f, 1, &args, &kwargs);
      return Value::Bool(ApplyTest(e.name, input, std::move(args), std::move(kwargs)));
    }
    case ExprKind::kNot:
      return Value::Bool(!Truthy(Eval(*e.a[0], f)));
    case ExprKind::kNeg:
      return Negate(Eval(*e.a[0], f));
    case ExprKind::kPos:
      return Positive(Eval(*e.a[0], f));
    case ExprKind::kBinary: {
      Value a = Eval(*e.a[0], f);
      Value b = Eval(*e.a[1], f);
      Value r = BinaryOp(e.op, a, b);
      if (r.is_seq()) Step(static_cast<int64_t>(r.items().size()));
      if (r.is_str()) Step(static_cast<int64_t>(r.str().size() / 64));
      return r;
    }
    case ExprKind::kAnd: {
      Value a = Eval(*e.a[0], f);
      return Truthy(a) ? Eval(*e.a[1], f) : a;
    }
    case ExprKind::kOr: {
      Value a = Eval(*e.a[0], f);
      return Truthy(a) ? a : Eval(*e.a[1], f);
    }
    case ExprKind::kCompare: {
      Value left = Eval(*e.a[0], f);
      for (size_t i = 0; i < e.cmp.size(); ++i) {
        Value right = Eval(*e.a[i + 1], f);
        if (!PyCompare(e.cmp[i], left, right)) return Value::Bool(false);
        left = std::move(right);
      }
      return Value::Bool(true);
    }
    case ExprKind::kConcat: {
      Str out;
      for (const ExprPtr& x : e.a) {
        Str s = ToStr(Eval(*x, f));
        CheckSize(out.size() + s.size());
        out.Append(s);
      }
      out.set_markup(false);
      return Value::String(std::move(out));
    }
    case ExprKind::kCond:
      if (Truthy(Eval(*e.a[0], f))) return Eval(*e.a[1], f);
      if (e.a[2]) return Eval(*e.a[2], f);
      return Value::Undef(StrCat("the inline if-expression on line ", e.line,
                                 " evaluated to false and no else section was defined."));
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.a.size());
      for (const ExprPtr& x : e.a) items.push_back(Eval(*x, f));
      return e.kind == ExprKind::kList ? Value::List(std::move(items))
                                       : Value::Tuple(std::move(items));
    }
    case ExprKind::kDict: {
      Dict d;
      for (size_t i = 0; i + 1 < e.a.size(); i += 2) {
        Value k = Eval(*e.a[i], f);
        CheckHashable(k);
        d.Set(std::move(k), Eval(*e.a[i + 1], f));
      }
      return Value::MakeDict(std::move(d));
    }
  }
  return Value();
}

}  // namespace phx::chat
