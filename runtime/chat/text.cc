#include "runtime/chat/text.h"

#include <algorithm>

namespace phx::chat {

Str Str::User(std::string text) {
  Str s(std::move(text));
  if (!s.text_.empty()) s.user_.push_back({0, s.text_.size()});
  return s;
}

void Str::Append(std::string_view text, bool user) {
  if (text.empty()) return;
  const size_t at = text_.size();
  text_.append(text);
  if (!user) return;
  if (!user_.empty() && user_.back().end == at) {
    user_.back().end = text_.size();
  } else {
    user_.push_back({at, text_.size()});
  }
}

void Str::Append(const Str& o) {
  const size_t at = text_.size();
  text_.append(o.text_);
  for (const ByteRange& r : o.user_) {
    if (!user_.empty() && user_.back().end == r.begin + at) {
      user_.back().end = r.end + at;
    } else {
      user_.push_back({r.begin + at, r.end + at});
    }
  }
}

Str Str::Sub(size_t b, size_t e) const {
  e = std::min(e, text_.size());
  b = std::min(b, e);
  Str s(text_.substr(b, e - b));
  for (const ByteRange& r : user_) {
    const size_t lo = std::max(r.begin, b), hi = std::min(r.end, e);
    if (lo < hi) s.user_.push_back({lo - b, hi - b});
  }
  s.markup_ = markup_;
  return s;
}

bool Str::IsUser(size_t byte) const { return AnyUser(byte, byte + 1); }

bool Str::AnyUser(size_t b, size_t e) const {
  auto it = std::upper_bound(user_.begin(), user_.end(), b,
                             [](size_t v, const ByteRange& r) { return v < r.end; });
  return it != user_.end() && it->begin < e;
}

void StrBuilder::AddCp(uint32_t cp, bool user) {
  std::string tmp;
  AppendCp(cp, &tmp);
  out_.Append(tmp, user);
}

}  // namespace phx::chat
