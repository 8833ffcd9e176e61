// Internal: splitting and stripping str values (Python's split, rsplit, splitlines, strip),
// shared by the str methods and the filters.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/chat/value.h"

namespace phx::chat {

// str.split() / str.rsplit() without a separator (runs of white space), maxsplit < 0: no limit.
std::vector<Value> SplitWhitespace(const Str& s, int64_t maxsplit, bool from_right);
// str.split(sep) / str.rsplit(sep).
std::vector<Value> SplitSep(const Str& s, const Str& sep, int64_t maxsplit, bool from_right);
// The str argument of a method (TypeError otherwise).
const Str& StrArg(const Value& v, std::string_view fn);

}  // namespace phx::chat
