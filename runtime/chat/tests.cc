// Jinja2's builtin tests (`x is defined`, `x is string`, `x is equalto y`...).
#include <algorithm>
#include <array>

#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

constexpr std::array<std::string_view, 39> kTests = {
    "odd",     "even",   "divisibleby", "defined",  "undefined", "filter", "test",    "none",
    "boolean", "false",  "true",        "integer",  "float",     "lower",  "upper",   "string",
    "mapping", "number", "sequence",    "iterable", "callable",  "sameas", "escaped", "in",
    "==",      "eq",     "equalto",     "!=",       "ne",        ">",      "gt",      "greaterthan",
    "ge",      ">=",     "<",           "lt",       "lessthan",  "<=",     "le"};

const Value& One(std::string_view name, const std::vector<Value>& args) {
  if (args.size() != 1) {
    Fail(ErrorKind::kType, StrCat("test '", name, "' takes exactly one argument"));
  }
  return args[0];
}

}  // namespace

bool KnownTestName(std::string_view name) {
  return std::find(kTests.begin(), kTests.end(), name) != kTests.end();
}

bool Test(Interp& in, std::string_view name, const Value& v, std::vector<Value> args,
          Kwargs kwargs) {
  in.Step();
  for (auto& [k, val] : kwargs) args.push_back(val);  // tests take their argument either way
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind() == K::kBool;
  if (name == "false") return v.kind() == K::kBool && !v.b();
  if (name == "true") return v.kind() == K::kBool && v.b();
  if (name == "integer") return v.kind() == K::kInt;
  if (name == "float") return v.kind() == K::kFloat;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_str();
  if (name == "mapping") return v.is_dict();
  if (name == "escaped") return v.is_str() && v.str().markup();
  if (name == "callable") return v.is_object() && v.obj().callable();
  if (name == "iterable") {
    return v.is_undefined() || v.is_str() || v.is_seq() || v.is_dict() || v.kind() == K::kIterator;
  }
  if (name == "sequence") return v.is_undefined() || v.is_str() || v.is_seq() || v.is_dict();
  if (name == "lower" || name == "upper") {
    return Truthy(
        CallMethod(in, Value::String(ToStr(v)), name == "lower" ? "islower" : "isupper", {}, {}));
  }
  if (name == "odd" || name == "even") {
    const Value r = BinaryOp(BinOp::kMod, v, Value::Int(2));
    return name == "odd" ? PyEquals(r, Value::Int(1)) : PyEquals(r, Value::Int(0));
  }
  if (name == "divisibleby") {
    return PyEquals(BinaryOp(BinOp::kMod, v, One(name, args)), Value::Int(0));
  }
  if (name == "filter" || name == "test") {
    if (!v.is_str()) return false;
    return name == "filter" ? KnownFilterName(v.str().view()) : KnownTestName(v.str().view());
  }
  if (name == "sameas") {
    const Value& o = One(name, args);
    if (v.kind() != o.kind()) return false;
    switch (v.kind()) {
      case K::kNone:
      case K::kUndefined:
        return true;
      case K::kBool:
        return v.b() == o.b();
      case K::kInt:
        return v.i() == o.i();
      case K::kFloat:
        return v.f() == o.f();
      default:
        return v.identity() == o.identity();
    }
  }
  if (name == "in") return Contains(One(name, args), v);
  if (name == "==" || name == "eq" || name == "equalto") return PyEquals(v, One(name, args));
  if (name == "!=" || name == "ne") return !PyEquals(v, One(name, args));
  if (name == ">" || name == "gt" || name == "greaterthan") {
    return PyCompare(CmpOp::kGt, v, One(name, args));
  }
  if (name == ">=" || name == "ge") return PyCompare(CmpOp::kGe, v, One(name, args));
  if (name == "<" || name == "lt" || name == "lessthan") {
    return PyCompare(CmpOp::kLt, v, One(name, args));
  }
  if (name == "<=" || name == "le") return PyCompare(CmpOp::kLe, v, One(name, args));
  Fail(ErrorKind::kRuntime, StrCat("No test named '", name, "'."));
}

}  // namespace phx::chat
