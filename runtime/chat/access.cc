// Attribute and item access as Jinja2's SandboxedEnvironment does it: `x.name` tries the Python
// attribute (methods) first, then the item; `x[key]` tries the item first, then the attribute.
// Missing ones are Undefined (raising only when used); methods the immutable sandbox refuses
// (list.append, dict.pop...) are Undefined values that raise SecurityError when used.
#include "base/strings.h"
#include "runtime/chat/interp.h"
#include "runtime/chat/objects.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

std::string PyRepr(std::string_view s) { return Repr(Value::Text(s)).text(); }

Value NoAttribute(const Value& obj, std::string_view name) {
  return Value::Undef(StrCat(PyRepr(ObjectTypeRepr(obj)), " has no attribute ", PyRepr(name)));
}

Value NoElement(const Value& obj, const Value& key) {
  return Value::Undef(StrCat(ObjectTypeRepr(obj), " has no element ", Repr(key).text()));
}

bool IsDunder(std::string_view name) {
  return name.size() > 4 && name.substr(0, 2) == "__" && name.substr(name.size() - 2) == "__";
}

// Python's getattr(obj, name) in the sandbox; nullopt when there is no such attribute.
std::optional<Value> PyAttr(const Value& obj, std::string_view name) {
  if (IsDunder(name)) {
    return Value::Undef(StrCat("access to attribute ", PyRepr(name), " of ", PyRepr(TypeName(obj)),
                               " object is unsafe."),
                        /*unsafe=*/true);
  }
  if (obj.is_object()) return obj.obj().GetAttr(name);
  if (HasMethod(obj, name)) {
    if (IsUnsafeMethod(obj, name)) {
      return Value::Undef(StrCat("access to attribute ", PyRepr(name), " of ",
                                 PyRepr(TypeName(obj)), " object is unsafe."),
                          /*unsafe=*/true);
    }
    return Value::Obj(std::make_shared<BoundMethodObj>(obj, std::string(name)));
  }
  return std::nullopt;
}

// Python's sequence index: nullopt when out of range.
std::optional<size_t> SeqIndex(int64_t i, size_t n) {
  if (i < 0) i += static_cast<int64_t>(n);
  if (i < 0 || static_cast<size_t>(i) >= n) return std::nullopt;
  return static_cast<size_t>(i);
}

}  // namespace

Value GetAttr(const Value& obj, std::string_view name) {
  if (std::optional<Value> v = PyAttr(obj, name)) return *v;
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().FindStr(name)) return *v;
  }
  return NoAttribute(obj, name);
}

Value GetItem(const Value& obj, const Value& key) {
  switch (obj.kind()) {
    case Value::Kind::kDict:
      if (key.kind() != Value::Kind::kList && !key.is_dict()) {
        if (const Value* v = obj.dict().Find(key)) return *v;
      }
      break;
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      if (key.is_int() && !obj.view_name()) {
        if (auto i = SeqIndex(key.i(), obj.items().size())) return obj.items()[*i];
      }
      break;
    case Value::Kind::kStr:
      if (key.is_int()) {
        const std::vector<size_t> off = CpOffsets(obj.str().view());
        if (auto i = SeqIndex(key.i(), off.size() - 1)) {
          return Value::String(obj.str().Sub(off[*i], off[*i + 1]));
        }
      }
      break;
    default:
      break;
  }
  if (key.is_str()) {
    if (std::optional<Value> v = PyAttr(obj, key.str().view())) return *v;
    return NoAttribute(obj, key.str().view());
  }
  return NoElement(obj, key);
}

Value SliceValue(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  for (const Value* v : {&start, &stop, &step}) {
    if (!v->is_none() && !v->is_int()) {
      return Value::Undef(StrCat(ObjectTypeRepr(obj), " has no element slice"));
    }
  }
  const bool is_str = obj.is_str();
  if (!is_str && !obj.is_seq()) {
    return Value::Undef(StrCat(ObjectTypeRepr(obj), " has no element slice"));
  }
  std::vector<size_t> off;
  int64_t n;
  if (is_str) {
    off = CpOffsets(obj.str().view());
    n = static_cast<int64_t>(off.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.items().size());
  }
  const int64_t st = step.is_none() ? 1 : step.i();
  if (st == 0) Fail(ErrorKind::kValue, "slice step cannot be zero");
  auto adjust = [&](const Value& v, int64_t dflt) {
    if (v.is_none()) return dflt;
    int64_t x = v.i();
    if (x < 0) {
      x += n;
      if (x < 0) x = st < 0 ? -1 : 0;
    } else if (x >= n) {
      x = st < 0 ? n - 1 : n;
    }
    return x;
  };
  const int64_t b = adjust(start, st < 0 ? n - 1 : 0);
  const int64_t e = adjust(stop, st < 0 ? -1 : n);
  std::vector<int64_t> idx;
  if (st > 0) {
    for (int64_t i = b; i < e; i += st) idx.push_back(i);
  } else {
    for (int64_t i = b; i > e; i += st) idx.push_back(i);
  }
  if (is_str) {
    if (st == 1) return Value::String(obj.str().Sub(off[b], off[std::max(b, e)]));
    Str out;
    for (int64_t i : idx) out.Append(obj.str().Sub(off[i], off[i + 1]));
    return Value::String(std::move(out));
  }
  std::vector<Value> items;
  items.reserve(idx.size());
  for (int64_t i : idx) items.push_back(obj.items()[static_cast<size_t>(i)]);
  return obj.kind() == Value::Kind::kTuple ? Value::Tuple(std::move(items))
                                           : Value::List(std::move(items));
}

}  // namespace phx::chat
