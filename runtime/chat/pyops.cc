#include "runtime/chat/pyops.h"

#include <cmath>

#include "base/strings.h"

namespace phx::chat {
namespace {

const char* OpSymbol(BinOp op) {
  switch (op) {
    case BinOp::kAdd:
      return "+";
    case BinOp::kSub:
      return "-";
    case BinOp::kMul:
      return "*";
    case BinOp::kDiv:
      return "/";
    case BinOp::kFloorDiv:
      return "//";
    case BinOp::kMod:
      return "%";
    case BinOp::kPow:
      return "** or pow()";
  }
  return "?";
}

[[noreturn]] void Unsupported(BinOp op, const Value& a, const Value& b) {
  Fail(ErrorKind::kType, StrCat("unsupported operand type(s) for ", OpSymbol(op), ": '",
                                TypeName(a), "' and '", TypeName(b), "'"));
}

Value Repeat(const Value& seq, int64_t n) {
  if (seq.is_str()) {
    Str out;
    out.set_markup(seq.str().markup());
    if (n > 0) CheckSize(seq.str().size() * static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) out.Append(seq.str());
    return Value::String(std::move(out));
  }
  std::vector<Value> out;
  if (n > 0) CheckSize(0, seq.items().size() * static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.items().begin(), seq.items().end());
  return seq.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                           : Value::List(std::move(out));
}

double FloorMod(double a, double b) {
  double m = std::fmod(a, b);
  if (m != 0 && ((m < 0) != (b < 0))) m += b;
  if (m == 0) m = std::copysign(0.0, b);
  return m;
}

// CPython's float_divmod quotient.
double FloatFloorDiv(double a, double b) {
  const double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return std::copysign(0.0, a / b);
  double fl = std::floor(div);
  if (div - fl > 0.5) fl += 1.0;
  return fl;
}

Value Arith(BinOp op, const Value& a, const Value& b) {
  const bool ints = a.is_int() && b.is_int();
  switch (op) {
    case BinOp::kAdd:
      return ints ? Value::Int(CheckedAdd(a.i(), b.i())) : Value::Float(a.f() + b.f());
    case BinOp::kSub:
      if (ints) {
        int64_t r;
        if (__builtin_sub_overflow(a.i(), b.i(), &r))
          Fail(ErrorKind::kOverflow, "integer overflow");
        return Value::Int(r);
      }
      return Value::Float(a.f() - b.f());
    case BinOp::kMul:
      return ints ? Value::Int(CheckedMul(a.i(), b.i())) : Value::Float(a.f() * b.f());
    case BinOp::kDiv:
      if (b.f() == 0) Fail(ErrorKind::kZeroDivision, "division by zero");
      return Value::Float(a.f() / b.f());
    case BinOp::kFloorDiv:
      if (ints) {
        if (b.i() == 0) Fail(ErrorKind::kZeroDivision, "integer division or modulo by zero");
        if (a.i() == INT64_MIN && b.i() == -1) Fail(ErrorKind::kOverflow, "integer overflow");
        int64_t q = a.i() / b.i();
        if ((a.i() % b.i() != 0) && ((a.i() < 0) != (b.i() < 0))) --q;
        return Value::Int(q);
      }
      if (b.f() == 0) Fail(ErrorKind::kZeroDivision, "float floor division by zero");
      return Value::Float(FloatFloorDiv(a.f(), b.f()));
    case BinOp::kMod:
      if (ints) {
        if (b.i() == 0) Fail(ErrorKind::kZeroDivision, "integer modulo by zero");
        if (b.i() == -1) return Value::Int(0);
        int64_t m = a.i() % b.i();
        if (m != 0 && ((m < 0) != (b.i() < 0))) m += b.i();
        return Value::Int(m);
      }
      if (b.f() == 0) Fail(ErrorKind::kZeroDivision, "float modulo");
      return Value::Float(FloorMod(a.f(), b.f()));
    case BinOp::kPow:
      if (ints && b.i() >= 0) {
        int64_t r = 1, base = a.i(), e = b.i();
        while (e > 0) {
          if (e & 1) r = CheckedMul(r, base);
          e >>= 1;
          if (e) base = CheckedMul(base, base);
        }
        return Value::Int(r);
      }
      if (a.f() == 0 && b.f() < 0) {
        Fail(ErrorKind::kZeroDivision, "0.0 cannot be raised to a negative power");
      }
      return Value::Float(std::pow(a.f(), b.f()));
  }
  return Value();
}

Str ConcatStr(const Str& a, const Str& b) {
  Str out;
  if (a.markup() && !b.markup()) {
    out = a;
    out.Append(EscapeHtml(b));
  } else if (!a.markup() && b.markup()) {
    out = EscapeHtml(a);
    out.Append(b);
  } else {
    out = a;
    out.Append(b);
  }
  out.set_markup(a.markup() || b.markup());
  CheckSize(out.size());
  return out;
}

}  // namespace

void CheckSize(size_t bytes, size_t items) {
  if (bytes > kMaxValueBytes) {
    Fail(ErrorKind::kLimit, StrCat("a string would exceed ", kMaxValueBytes, " bytes"));
  }
  if (items > kMaxListItems) {
    Fail(ErrorKind::kLimit, StrCat("a list would exceed ", kMaxListItems, " items"));
  }
}

int64_t CheckedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) Fail(ErrorKind::kOverflow, "integer overflow");
  return r;
}

int64_t CheckedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) Fail(ErrorKind::kOverflow, "integer overflow");
  return r;
}

void FailUndefined(const Value& v) {
  Fail(v.undef_unsafe() ? ErrorKind::kSecurity : ErrorKind::kUndefined, v.undef_message());
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kStr:
      return v.str().markup() ? "Markup" : "str";
    case Value::Kind::kList:
      return v.view_name() ? v.view_name() : "list";
    case Value::Kind::kTuple:
      return "tuple";
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kIterator:
      return v.iterator_type();
    case Value::Kind::kObject: {
      const std::string t = v.obj().TypeName();
      const size_t dot = t.rfind('.');
      return dot == std::string::npos ? t : t.substr(dot + 1);
    }
  }
  return "object";
}

std::string ObjectTypeRepr(const Value& v) {
  if (v.is_none()) return "None";
  if (v.is_object()) return v.obj().TypeName() + " object";
  if (v.is_str() && v.str().markup()) return "markupsafe.Markup object";
  return TypeName(v) + " object";
}

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.b();
    case Value::Kind::kInt:
      return v.i() != 0;
    case Value::Kind::kFloat:
      return v.f() != 0;
    case Value::Kind::kStr:
      return !v.str().empty();
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return !v.items().empty();
    case Value::Kind::kDict:
      return v.dict().size() != 0;
    default:
      return true;
  }
}

bool PyEquals(const Value& a, const Value& b) {
  if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.i() == b.i();
    return a.f() == b.f();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kStr:
      return a.str().text() == b.str().text();
    case Value::Kind::kList:
    case Value::Kind::kTuple: {
      if (a.view_name() != b.view_name()) return false;
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i) {
        if (!PyEquals(a.items()[i], b.items()[i])) return false;
      }
      return true;
    }
    case Value::Kind::kDict: {
      if (a.dict().size() != b.dict().size()) return false;
      for (const auto& [k, v] : a.dict().items()) {
        const Value* o = b.dict().Find(k);
        if (!o || !PyEquals(v, *o)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

int PyOrder(const Value& a, const Value& b) {
  if (a.is_undefined()) FailUndefined(a);
  if (b.is_undefined()) FailUndefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.i() < b.i() ? -1 : a.i() > b.i();
    return a.f() < b.f() ? -1 : a.f() > b.f();
  }
  if (a.is_str() && b.is_str()) {
    const int c = a.str().text().compare(b.str().text());
    return c < 0 ? -1 : c > 0;
  }
  if ((a.kind() == Value::Kind::kList && b.kind() == Value::Kind::kList) ||
      (a.kind() == Value::Kind::kTuple && b.kind() == Value::Kind::kTuple)) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!PyEquals(x[i], y[i])) return PyOrder(x[i], y[i]);
    }
    return x.size() < y.size() ? -1 : x.size() > y.size();
  }
  Fail(ErrorKind::kType, StrCat("'<' not supported between instances of '", TypeName(a), "' and '",
                                TypeName(b), "'"));
}

bool PyCompare(CmpOp op, const Value& a, const Value& b) {
  switch (op) {
    case CmpOp::kEq:
      return PyEquals(a, b);
    case CmpOp::kNe:
      return !PyEquals(a, b);
    case CmpOp::kIn:
      return Contains(b, a);
    case CmpOp::kNotIn:
      return !Contains(b, a);
    default:
      break;
  }
  const int c = PyOrder(a, b);
  switch (op) {
    case CmpOp::kLt:
      return c < 0;
    case CmpOp::kLe:
      return c <= 0;
    case CmpOp::kGt:
      return c > 0;
    default:
      return c >= 0;
  }
}

Value BinaryOp(BinOp op, const Value& a, const Value& b) {
  CheckDefined(a);
  CheckDefined(b);
  if (a.is_number() && b.is_number()) return Arith(op, a, b);
  if (op == BinOp::kAdd) {
    if (a.is_str() && b.is_str()) return Value::String(ConcatStr(a.str(), b.str()));
    if (a.kind() == b.kind() && a.is_seq() && !a.view_name() && !b.view_name()) {
      CheckSize(0, a.items().size() + b.items().size());
      std::vector<Value> out = a.items();
      out.insert(out.end(), b.items().begin(), b.items().end());
      return a.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(out))
                                             : Value::List(std::move(out));
    }
    if (a.is_str() && !a.str().markup()) {
      Fail(ErrorKind::kType, StrCat("can only concatenate str (not \"", TypeName(b), "\") to str"));
    }
    if (a.is_seq()) {
      Fail(ErrorKind::kType, StrCat("can only concatenate ", TypeName(a), " (not \"", TypeName(b),
                                    "\") to ", TypeName(a)));
    }
    Unsupported(op, a, b);
  }
  if (op == BinOp::kMul) {
    if ((a.is_str() || a.is_seq()) && !a.view_name() && b.is_int()) return Repeat(a, b.i());
    if ((b.is_str() || b.is_seq()) && !b.view_name() && a.is_int()) return Repeat(b, a.i());
    if (a.is_str() || a.is_seq() || b.is_str() || b.is_seq()) {
      const Value& other = a.is_str() || a.is_seq() ? b : a;
      Fail(ErrorKind::kType,
           StrCat("can't multiply sequence by non-int of type '", TypeName(other), "'"));
    }
  }
  if (op == BinOp::kMod && a.is_str()) return Value::String(PercentFormat(a.str(), b));
  Unsupported(op, a, b);
}

Value Negate(const Value& v) {
  CheckDefined(v);
  if (v.kind() == Value::Kind::kFloat) return Value::Float(-v.f());
  if (v.is_int()) {
    if (v.i() == INT64_MIN) Fail(ErrorKind::kOverflow, "integer overflow");
    return Value::Int(-v.i());
  }
  Fail(ErrorKind::kType, StrCat("bad operand type for unary -: '", TypeName(v), "'"));
}

Value Positive(const Value& v) {
  CheckDefined(v);
  if (v.kind() == Value::Kind::kFloat) return v;
  if (v.is_int()) return Value::Int(v.i());
  Fail(ErrorKind::kType, StrCat("bad operand type for unary +: '", TypeName(v), "'"));
}

bool Contains(const Value& hay, const Value& needle) {
  switch (hay.kind()) {
    case Value::Kind::kStr:
      if (!needle.is_str()) {
        if (needle.is_undefined()) FailUndefined(needle);
        Fail(ErrorKind::kType,
             StrCat("'in <string>' requires string as left operand, not ", TypeName(needle)));
      }
      return hay.str().text().find(needle.str().text()) != std::string::npos;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      for (const Value& x : hay.items()) {
        if (PyEquals(x, needle)) return true;
      }
      return false;
    case Value::Kind::kDict:
      CheckHashable(needle);
      return hay.dict().Find(needle) != nullptr;
    case Value::Kind::kIterator:
      for (const Value& x : hay.TakeIterator()) {
        if (PyEquals(x, needle)) return true;
      }
      return false;
    case Value::Kind::kUndefined:
      return false;
    default:
      Fail(ErrorKind::kType, StrCat("argument of type '", TypeName(hay), "' is not iterable"));
  }
}

void CheckHashable(const Value& v) {
  if (v.kind() == Value::Kind::kList || v.is_dict()) {
    Fail(ErrorKind::kType, StrCat("unhashable type: '", TypeName(v), "'"));
  }
  if (v.kind() == Value::Kind::kTuple) {
    for (const Value& x : v.items()) CheckHashable(x);
  }
}

int64_t Len(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return 0;
    case Value::Kind::kStr:
      return static_cast<int64_t>(CpCount(v.str().view()));
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return static_cast<int64_t>(v.items().size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(v.dict().size());
    default:
      Fail(ErrorKind::kType, StrCat("object of type '", TypeName(v), "' has no len()"));
  }
}

std::vector<Value> StrChars(const Str& s) {
  std::vector<Value> out;
  const std::vector<size_t> off = CpOffsets(s.view());
  out.reserve(off.size() - 1);
  for (size_t i = 0; i + 1 < off.size(); ++i)
    out.push_back(Value::String(s.Sub(off[i], off[i + 1])));
  return out;
}

std::vector<Value> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return {};
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return v.items();
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().size());
      for (const auto& kv : v.dict().items()) keys.push_back(kv.first);
      return keys;
    }
    case Value::Kind::kStr:
      return StrChars(v.str());
    case Value::Kind::kIterator:
      return v.TakeIterator();
    default:
      Fail(ErrorKind::kType, StrCat("'", TypeName(v), "' object is not iterable"));
  }
}

Str EscapeHtml(const Str& s) {
  if (s.markup()) return s;
  StrBuilder b;
  ForEachCp(s, [&](uint32_t cp, bool user, size_t) {
    switch (cp) {
      case '&':
        b.Add("&amp;", user);
        break;
      case '<':
        b.Add("&lt;", user);
        break;
      case '>':
        b.Add("&gt;", user);
        break;
      case '"':
        b.Add("&#34;", user);
        break;
      case '\'':
        b.Add("&#39;", user);
        break;
      default:
        b.AddCp(cp, user);
    }
  });
  Str out = b.Take();
  out.set_markup(true);
  return out;
}

}  // namespace phx::chat
