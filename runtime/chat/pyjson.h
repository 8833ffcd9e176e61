// transformers' tojson filter: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
// sort_keys=False) with Python's output byte for byte (separators ", " and ": ", or "," with an
// indent; floats as repr; NaN/Infinity; non-string keys converted; TypeError for values JSON
// cannot hold).
#pragma once

#include <optional>
#include <string>

#include "runtime/chat/value.h"

namespace phx::chat {

struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // per level; none = one line
  std::string item_sep = ", ";
  std::string key_sep = ": ";
  bool sort_keys = false;
};

Str JsonDumps(const Value& v, const JsonOptions& opt);

}  // namespace phx::chat
