// Python's semantics for the engine's values: truth, equality, ordering, arithmetic, str() and
// repr(), len(), iteration and `in`, with Jinja2's Undefined rules (printing gives "", iterating
// is empty, `==` compares false, anything else raises UndefinedError).
#pragma once

#include <string>
#include <vector>

#include "runtime/chat/value.h"

namespace phx::chat {

enum class BinOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CmpOp { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

// Raises the UndefinedError (or SecurityError) an undefined value carries.
[[noreturn]] void FailUndefined(const Value& v);
// Raises if `v` is undefined (for operations Undefined does not support).
inline void CheckDefined(const Value& v) {
  if (v.is_undefined()) FailUndefined(v);
}

// type(v).__name__: "int", "str", "list", "dict", "NoneType", "generator", ...
std::string TypeName(const Value& v);
// Jinja2's object_type_repr: "None", "dict object", "jinja2.utils.Namespace object".
std::string ObjectTypeRepr(const Value& v);

bool Truthy(const Value& v);
bool PyEquals(const Value& a, const Value& b);
// a < b etc.; TypeError for types Python cannot order.
bool PyCompare(CmpOp op, const Value& a, const Value& b);
// Three-way ordering used by sort filters (TypeError as above).
int PyOrder(const Value& a, const Value& b);
Value BinaryOp(BinOp op, const Value& a, const Value& b);
Value Negate(const Value& v);
Value Positive(const Value& v);
// `needle in haystack`.
bool Contains(const Value& haystack, const Value& needle);

// str(v) and repr(v), with the provenance of the strings inside.
// `depth`: nesting so far (objects such as namespaces print their contents through these).
Str ToStr(const Value& v, int depth = 0);
Str Repr(const Value& v, int depth = 0);
// Python's repr() of a str (quotes chosen as Python does, escapes for unprintable characters).
void AppendStrRepr(const Str& s, StrBuilder* out);
// Python's float repr: shortest round-trip digits, "1.0", "1e+16", "inf", "nan".
std::string FloatRepr(double f);

// printf-style `fmt % args` (%s %r %d %i %f %e %g %x %o %c %%, flags, width, precision;
// `args` a tuple, a dict for %(name)s, or one value).
Str PercentFormat(const Str& fmt, const Value& args);

// markupsafe.escape: & < > " ' as entities; the result is Markup. Markup is returned as is.
Str EscapeHtml(const Str& s);

// Hard caps on one value, whatever the render limits: a string's bytes and a list's items.
inline constexpr size_t kMaxValueBytes = size_t{32} << 20;
inline constexpr size_t kMaxListItems = size_t{1} << 20;
// LimitError when `bytes` / `items` exceed the caps above.
void CheckSize(size_t bytes, size_t items = 0);

// len(v): TypeError for values without one; Undefined has length 0.
int64_t Len(const Value& v);
// The items `for x in v` visits: list/tuple items, dict keys, str characters, a generator's
// remaining items; Undefined is empty; anything else is a TypeError.
std::vector<Value> Iterate(const Value& v);
// Characters of a str as one-character strings (with their provenance).
std::vector<Value> StrChars(const Str& s);
// TypeError unless `v` can be a dict key / set member.
void CheckHashable(const Value& v);

// Checked 64-bit arithmetic (Python's ints are unbounded; the engine's overflow is an error).
int64_t CheckedAdd(int64_t a, int64_t b);
int64_t CheckedMul(int64_t a, int64_t b);

}  // namespace phx::chat
