// Internal: helpers shared by the filter files.
#pragma once

#include <string_view>
#include <vector>

#include "runtime/chat/interp.h"

namespace phx::chat::filters {

// Jinja2's soft_str: a str stays as it is (Markup included), anything else becomes str(v).
Str SoftStr(const Value& v);
// make_attrgetter: "a.b.0" looked up with getitem semantics; `default` replaces Undefined.
Value GetPath(const Value& item, const Value& attribute, const Value& dflt = Value());
// ignore_case: lower-cased strings, other values as they are.
Value IgnoreCase(const Value& v);
// The items a filter iterates (Python's iter(value)).
std::vector<Value> Items(Interp& in, const Value& v);
int64_t IntOf(const Value& v, std::string_view what);

// filters_seq.cc: map, select/reject(attr), unique, sort, dictsort, groupby, min/max, sum,
// first, last, list, reverse, batch, slice, items, join, length. Returns false when `name` is
// not one of them.
bool SequenceFilter(Interp& in, std::string_view name, Value& input, std::vector<Value>& args,
                    Kwargs& kwargs, Value* out);

}  // namespace phx::chat::filters
