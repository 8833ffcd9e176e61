#include "runtime/chat/value.h"

#include <algorithm>

#include "base/strings.h"
#include "runtime/chat/pyops.h"

namespace phx::chat {
namespace {

struct SeqData {
  std::vector<Value> items;
  int depth = 1;
  const char* view = nullptr;
};

int ChildDepth(const Value& v) { return v.is_seq() || v.is_dict() ? v.depth() : 0; }

struct IterState {
  std::vector<Value> items;
  size_t pos = 0;
  std::string type;
};

}  // namespace

std::string_view ErrorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kSyntax:
      return "TemplateSyntaxError";
    case ErrorKind::kRaised:
      return "TemplateError";
    case ErrorKind::kUndefined:
      return "UndefinedError";
    case ErrorKind::kSecurity:
      return "SecurityError";
    case ErrorKind::kType:
      return "TypeError";
    case ErrorKind::kValue:
      return "ValueError";
    case ErrorKind::kZeroDivision:
      return "ZeroDivisionError";
    case ErrorKind::kOverflow:
      return "OverflowError";
    case ErrorKind::kRuntime:
      return "TemplateRuntimeError";
    case ErrorKind::kLimit:
      return "LimitError";
  }
  return "Error";
}

void Fail(ErrorKind kind, std::string message) { throw TemplateError{kind, std::move(message)}; }

Value Value::Undef(std::string message, bool unsafe) {
  Value v(Kind::kUndefined);
  v.b_ = unsafe;
  v.p_ = std::make_shared<std::string>(std::move(message));
  return v;
}

const std::string& Value::undef_message() const {
  static const std::string kEmpty;
  return p_ ? *static_cast<const std::string*>(p_.get()) : kEmpty;
}

Value Value::Bool(bool b) {
  Value v(Kind::kBool);
  v.b_ = b;
  return v;
}

Value Value::Int(int64_t i) {
  Value v(Kind::kInt);
  v.i_ = i;
  return v;
}

Value Value::Float(double f) {
  Value v(Kind::kFloat);
  v.f_ = f;
  return v;
}

Value Value::String(Str s) {
  Value v(Kind::kStr);
  v.p_ = std::make_shared<Str>(std::move(s));
  return v;
}

namespace {

std::shared_ptr<SeqData> MakeSeq(std::vector<Value> items) {
  auto d = std::make_shared<SeqData>();
  for (const Value& x : items) d->depth = std::max(d->depth, ChildDepth(x) + 1);
  if (d->depth > kMaxNesting) {
    Fail(ErrorKind::kLimit, StrCat("values nest deeper than ", kMaxNesting, " levels"));
  }
  d->items = std::move(items);
  return d;
}

}  // namespace

Value Value::List(std::vector<Value> items) {
  Value v(Kind::kList);
  v.p_ = MakeSeq(std::move(items));
  return v;
}

Value Value::Tuple(std::vector<Value> items) {
  Value v(Kind::kTuple);
  v.p_ = MakeSeq(std::move(items));
  return v;
}

Value Value::View(std::vector<Value> items, const char* view_name) {
  Value v = List(std::move(items));
  static_cast<SeqData*>(v.p_.get())->view = view_name;
  return v;
}

const char* Value::view_name() const {
  return kind_ == Kind::kList ? static_cast<const SeqData*>(p_.get())->view : nullptr;
}

const std::vector<Value>& Value::items() const {
  return static_cast<const SeqData*>(p_.get())->items;
}

int Value::depth() const {
  if (is_dict()) return dict().depth();
  return static_cast<const SeqData*>(p_.get())->depth;
}

Value Value::MakeDict(Dict d) {
  Value v(Kind::kDict);
  v.p_ = std::make_shared<Dict>(std::move(d));
  return v;
}

Value Value::Iterator(std::vector<Value> items, std::string type_name) {
  Value v(Kind::kIterator);
  v.p_ = std::make_shared<IterState>(IterState{std::move(items), 0, std::move(type_name)});
  return v;
}

Value Value::Obj(std::shared_ptr<Object> o) {
  Value v(Kind::kObject);
  v.p_ = std::move(o);
  return v;
}

std::vector<Value> Value::TakeIterator() const {
  auto* st = static_cast<IterState*>(p_.get());
  std::vector<Value> rest(st->items.begin() + static_cast<ptrdiff_t>(st->pos), st->items.end());
  st->pos = st->items.size();
  return rest;
}

const std::string& Value::iterator_type() const {
  return static_cast<const IterState*>(p_.get())->type;
}

const Value* Dict::FindStr(std::string_view key) const {
  auto it = str_index_.find(absl::string_view(key.data(), key.size()));
  return it == str_index_.end() ? nullptr : &items_[it->second].second;
}

const Value* Dict::Find(const Value& key) const {
  if (key.is_str()) return FindStr(key.str().view());
  for (const auto& [k, v] : items_) {
    if (!k.is_str() && PyEquals(k, key)) return &v;
  }
  return nullptr;
}

void Dict::Set(Value key, Value value) {
  depth_ = std::max({depth_, ChildDepth(key) + 1, ChildDepth(value) + 1});
  if (depth_ > kMaxNesting) {
    Fail(ErrorKind::kLimit, StrCat("values nest deeper than ", kMaxNesting, " levels"));
  }
  if (key.is_str()) {
    auto [it, inserted] = str_index_.try_emplace(key.str().text(), items_.size());
    if (!inserted) {
      items_[it->second].second = std::move(value);
      return;
    }
    items_.emplace_back(std::move(key), std::move(value));
    return;
  }
  for (auto& [k, v] : items_) {
    if (!k.is_str() && PyEquals(k, key)) {
      v = std::move(value);
      return;
    }
  }
  items_.emplace_back(std::move(key), std::move(value));
}

Value Object::Call(Interp&, std::vector<Value>, Kwargs) {
  Fail(ErrorKind::kType, StrCat("'", TypeName(), "' object is not callable"));
}

std::string Object::Repr(int) const { return StrCat("<", TypeName(), " object>"); }

}  // namespace phx::chat
