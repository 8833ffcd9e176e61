// Python string formatting: `fmt % args` (PercentFormat, declared in pyops.h), str.format()
// and format(value, spec), and the conversions the int/float filters use.
#pragma once

#include <optional>
#include <string_view>

#include "runtime/chat/value.h"

namespace phx::chat {

// format(v, spec) for str, int and float values ([[fill]align][sign][#][0][width][,][.prec][type]).
Str FormatSpec(const Value& v, std::string_view spec);
// "...".format(*args, **kwargs).
Str StrFormat(const Str& fmt, const std::vector<Value>& args, const Kwargs& kwargs);

// int(text, base) / float(text) as Python parses them; nullopt when Python raises ValueError.
std::optional<int64_t> ParseInt(std::string_view text, int base);
std::optional<double> ParseFloat(std::string_view text);

}  // namespace phx::chat
