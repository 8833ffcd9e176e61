// JSON string escapes, shared by the JSON readers (runtime/grammar's document model and the
// streamed tool-call scanner in runtime/chat).
#pragma once

namespace phx {

// The character a one-character JSON string escape \e stands for (", \, /, b, f, n, r, t), or
// -1 for any other (\u is decoded by the caller).
constexpr int DecodeJsonEscape(char e) {
  switch (e) {
    case '"':
    case '\\':
    case '/':
      return e;
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return -1;
  }
}

}  // namespace phx
