// Values of the Jinja engine: Python's object model as chat templates see it (None, bool, int,
// float, str, list, tuple, dict, generators, and objects such as namespace(), loop, macros and
// bound methods), plus Jinja2's Undefined. Lists, tuples and dicts are immutable once built (the
// templates run in Jinja2's ImmutableSandboxedEnvironment), so values share them freely;
// namespaces are the one mutable object.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "runtime/chat/text.h"

namespace phx::chat {

// What went wrong, named after the Python exception Jinja2 raises for it.
enum class ErrorKind {
  kSyntax,        // TemplateSyntaxError / TemplateAssertionError
  kRaised,        // raise_exception(message): TemplateError carrying the template's message
  kUndefined,     // UndefinedError
  kSecurity,      // SecurityError (list.append, dict.pop... in the immutable sandbox)
  kType,          // TypeError
  kValue,         // ValueError
  kZeroDivision,  // ZeroDivisionError
  kOverflow,      // OverflowError (range() over 100000 items, integers over 64 bits)
  kRuntime,       // TemplateRuntimeError
  kLimit,         // the engine's own bounds (output size, loop iterations, depth, steps)
};
std::string_view ErrorKindName(ErrorKind k);

// Thrown inside the engine; Template::Render turns it into an absl::Status.
struct TemplateError {
  ErrorKind kind;
  std::string message;
  int line = 0;
};
[[noreturn]] void Fail(ErrorKind kind, std::string message);

class Value;
class Dict;
class Object;
class Interp;

using Kwargs = std::vector<std::pair<std::string, Value>>;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kStr,
    kList,
    kTuple,
    kDict,
    kIterator,  // a generator (map, select, unique...): iterated once
    kObject,    // namespace, loop, macro, function, bound method, cycler, joiner
  };

  Value() : kind_(Kind::kUndefined) {}
  // Jinja2's Undefined: `message` is the UndefinedError text raised when it is used;
  // `unsafe` makes that a SecurityError (attributes the sandbox refuses).
  static Value Undef(std::string message, bool unsafe = false);
  static Value None() { return Value(Kind::kNone); }
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Float(double f);
  static Value String(Str s);
  static Value Text(std::string_view template_text) {
    return String(Str(std::string(template_text)));
  }
  static Value List(std::vector<Value> items);
  static Value Tuple(std::vector<Value> items);
  // dict.keys() / values() / items(): a list that prints as "dict_keys([...])" and that
  // subscripts, `+` and tojson refuse, as Python's views do.
  static Value View(std::vector<Value> items, const char* view_name);
  static Value MakeDict(Dict d);
  static Value Iterator(std::vector<Value> items, std::string type_name);
  static Value Obj(std::shared_ptr<Object> o);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_str() const { return kind_ == Kind::kStr; }
  bool is_int() const { return kind_ == Kind::kInt || kind_ == Kind::kBool; }  // bool is an int
  bool is_number() const { return is_int() || kind_ == Kind::kFloat; }
  bool is_seq() const { return kind_ == Kind::kList || kind_ == Kind::kTuple; }
  bool is_dict() const { return kind_ == Kind::kDict; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool b() const { return b_; }
  int64_t i() const { return kind_ == Kind::kBool ? (b_ ? 1 : 0) : i_; }
  double f() const { return kind_ == Kind::kFloat ? f_ : static_cast<double>(i()); }
  const Str& str() const { return *static_cast<const Str*>(p_.get()); }
  const std::vector<Value>& items() const;
  // "dict_keys", "dict_values" or "dict_items" for views, else nullptr.
  const char* view_name() const;
  // Nesting depth of lists, tuples and dicts (1 for one without containers inside).
  int depth() const;
  const Dict& dict() const { return *static_cast<const Dict*>(p_.get()); }
  Object& obj() const { return *static_cast<Object*>(p_.get()); }
  std::shared_ptr<Object> obj_ptr() const { return std::static_pointer_cast<Object>(p_); }
  // Iterator: the items not yet consumed (Take empties it, as iterating a generator does).
  std::vector<Value> TakeIterator() const;
  const std::string& iterator_type() const;
  const std::string& undef_message() const;
  bool undef_unsafe() const { return b_; }
  // Identity (Python's `is` / Jinja's `sameas` for objects).
  const void* identity() const { return p_.get(); }

 private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_;
  union {
    bool b_;
    int64_t i_ = 0;
    double f_;
  };
  std::shared_ptr<void> p_;
};

// A Python dict: insertion-ordered; keys compare as Python does (1 == 1.0 == True).
// The deepest nesting of containers a value may have (deeper is a LimitError): keeps the
// recursion of repr, equality and destruction bounded.
inline constexpr int kMaxNesting = 256;

class Dict {
 public:
  int depth() const { return depth_; }
  const Value* Find(const Value& key) const;
  const Value* FindStr(std::string_view key) const;
  // Inserts, or replaces the value keeping the key's first position.
  void Set(Value key, Value value);
  size_t size() const { return items_.size(); }
  const std::vector<std::pair<Value, Value>>& items() const { return items_; }

 private:
  std::vector<std::pair<Value, Value>> items_;
  absl::flat_hash_map<std::string, size_t> str_index_;
  int depth_ = 1;
};

// Objects with attributes and/or a call: namespace(), loop, macros, functions, bound methods.
class Object {
 public:
  virtual ~Object() = default;
  // The class name in Jinja2's messages ("jinja2.utils.Namespace", "function"...).
  virtual std::string TypeName() const = 0;
  // The attribute, or nullopt when the object has none by that name.
  virtual std::optional<Value> GetAttr(std::string_view name) { return std::nullopt; }
  // Only namespaces accept `{% set ns.attr = v %}`.
  virtual bool SetAttr(std::string_view name, Value v) { return false; }
  virtual bool callable() const { return false; }
  virtual Value Call(Interp& in, std::vector<Value> args, Kwargs kwargs);
  // repr() (also str()); `depth` counts the nesting so far.
  virtual std::string Repr(int depth) const;
  // Drops the references this object holds (the end of a render breaks reference cycles that
  // namespaces, macros and loops can form).
  virtual void Clear() {}
};

}  // namespace phx::chat
