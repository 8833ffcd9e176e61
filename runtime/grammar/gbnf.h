// GBNF, llama.cpp's grammar format (grammars/README.md there): `name ::= alternatives` rules,
// "literals", [classes] (negated, ranges, \x \u \U \t \r \n escapes), `.`, groups, * + ? {m}
// {m,} {m,n}, # comments; the start rule is `root`. Rules that do not recurse are folded into
// regular-expression terminals (one lexeme each), so that e.g. json.gbnf's `string` is scanned
// by one DFA. Token references (<[id]>, <text>) are not supported (an error says so).
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/grammar/grammar.h"

namespace phx::grammar {

absl::StatusOr<std::shared_ptr<const Grammar>> CompileGbnfGrammar(std::string_view text);

}  // namespace phx::grammar
