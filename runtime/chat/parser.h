// Jinja2's parser: statements (if/elif/else, for with else/filter/recursive, set and set
// blocks, macro, call blocks, filter blocks, with, break/continue from loopcontrols, and
// transformers' generation tag) and the full expression grammar with Jinja2's precedence.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/chat/ast.h"

namespace phx::chat {

struct ParseOptions {
  int max_depth = 100;  // nesting of blocks and expressions
};

// Parses a template. Unknown filters and tests are errors here, as in Jinja2
// ("No filter named 'x'."). Errors read "TemplateSyntaxError: ... (line N)".
absl::StatusOr<Program> Parse(std::string_view source, const ParseOptions& opt = {});

}  // namespace phx::chat
