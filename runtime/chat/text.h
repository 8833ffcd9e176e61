// The engine's string: UTF-8 text plus where it came from. Every string of the request data
// (message contents, roles, tool schemas...) is "user text"; the template's own literals are
// not. Each string carries the byte ranges of its user text through every operation
// (concatenation, slicing, strip, split, replace, upper, tojson...), so the rendered prompt
// knows exactly which bytes a client typed: those are tokenized without matching control
// tokens (see tokenizer::Encode's plain_spans). The ranges never change what a template sees:
// comparisons, lengths and methods work on the text alone, as in Python.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace phx::chat {

struct ByteRange {
  size_t begin = 0, end = 0;
  bool operator==(const ByteRange&) const = default;
};

class Str {
 public:
  Str() = default;
  // Template text (not user text).
  explicit Str(std::string text) : text_(std::move(text)) {}
  static Str User(std::string text);

  const std::string& text() const { return text_; }
  std::string_view view() const { return text_; }
  const std::vector<ByteRange>& user() const { return user_; }
  bool empty() const { return text_.empty(); }
  size_t size() const { return text_.size(); }
  // markupsafe.Markup: set by |safe and |e; `+` with a plain str escapes the other side.
  bool markup() const { return markup_; }
  void set_markup(bool m) { markup_ = m; }

  void Append(const Str& o);
  void Append(std::string_view text, bool user);
  // Bytes [b, e) with their provenance.
  Str Sub(size_t b, size_t e) const;
  bool IsUser(size_t byte) const;
  // True when some byte of [b, e) is user text.
  bool AnyUser(size_t b, size_t e) const;

 private:
  std::string text_;
  std::vector<ByteRange> user_;  // sorted, disjoint, not touching
  bool markup_ = false;
};

// Builds a string one code point (or piece) at a time, each tagged with its provenance; used
// by transforms that map characters (upper, repr, tojson, escape...).
class StrBuilder {
 public:
  void Add(std::string_view text, bool user) { out_.Append(text, user); }
  void Add(const Str& s) { out_.Append(s); }
  void AddCp(uint32_t cp, bool user);
  Str Take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  Str out_;
};

// Calls fn(cp, user, byte_offset) for each code point of `s`.
template <typename Fn>
void ForEachCp(const Str& s, Fn&& fn);

}  // namespace phx::chat

#include "runtime/chat/unicode_props.h"

namespace phx::chat {

template <typename Fn>
void ForEachCp(const Str& s, Fn&& fn) {
  const std::string& t = s.text();
  const std::vector<ByteRange>& u = s.user();
  size_t r = 0;
  for (size_t i = 0; i < t.size();) {
    const size_t at = i;
    const uint32_t cp = NextCp(t, &i);
    while (r < u.size() && u[r].end <= at) ++r;
    const bool user = r < u.size() && u[r].begin <= at;
    fn(cp, user, at);
  }
}

}  // namespace phx::chat
