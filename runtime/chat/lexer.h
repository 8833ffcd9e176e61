// Jinja2's lexer as transformers configures it: {{ }}, {% %}, {# #}, "-" and "+" whitespace
// control, trim_blocks (the newline after a block or comment tag is dropped), lstrip_blocks
// (spaces and tabs before a block or comment tag on its line are dropped), {% raw %}, newlines
// normalized to "\n" and one trailing newline removed (keep_trailing_newline=False).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace phx::chat {

enum class Tok {
  kData,
  kVarBegin,
  kVarEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInt,
  kFloat,
  kOp,  // text holds the operator: + - / // * % ** ~ [ ] ( ) { } == != > >= < <= = . : | , ;
  kEof,
};

struct Token {
  Tok type = Tok::kEof;
  std::string text;  // data, name, string value (unescaped), operator
  int64_t ival = 0;
  double fval = 0;
  int line = 1;
};

// Tokenizes a template. Errors are TemplateSyntaxError messages ("line N: ...").
absl::StatusOr<std::vector<Token>> Lex(std::string_view source);

// The value of a string literal's body (between the quotes): Python's
// str.encode("ascii", "backslashreplace").decode("unicode-escape"), as Jinja2 decodes literals.
bool UnescapeStringLiteral(std::string_view body, std::string* out, std::string* error);

}  // namespace phx::chat
