#include "runtime/grammar/charset.h"

#include <algorithm>
#include <cstdio>

namespace phx::grammar {

CharSet CharSet::Scalars() {
  CharSet s;
  s.Add(0, 0xD7FF);
  s.Add(0xE000, kMaxCodePoint);
  return s;
}

void CharSet::Add(uint32_t lo, uint32_t hi) {
  if (lo > hi) return;
  // Find the first range that ends at or after lo - 1 (touching ranges merge).
  auto it = std::lower_bound(r_.begin(), r_.end(), lo,
                             [](const auto& r, uint32_t v) { return uint64_t{r.second} + 1 < v; });
  auto end = it;
  while (end != r_.end() && end->first <= uint64_t{hi} + 1) {
    lo = std::min(lo, end->first);
    hi = std::max(hi, end->second);
    ++end;
  }
  it = r_.erase(it, end);
  r_.insert(it, {lo, hi});
}

void CharSet::Add(const CharSet& o) {
  for (const auto& r : o.r_) Add(r.first, r.second);
}

CharSet CharSet::Union(const CharSet& o) const {
  CharSet s = *this;
  s.Add(o);
  return s;
}

CharSet CharSet::Intersect(const CharSet& o) const {
  CharSet s;
  size_t i = 0, j = 0;
  while (i < r_.size() && j < o.r_.size()) {
    const uint32_t lo = std::max(r_[i].first, o.r_[j].first);
    const uint32_t hi = std::min(r_[i].second, o.r_[j].second);
    if (lo <= hi) s.r_.push_back({lo, hi});
    if (r_[i].second < o.r_[j].second) {
      ++i;
    } else {
      ++j;
    }
  }
  return s;
}

CharSet CharSet::Complement(uint32_t max) const {
  CharSet s;
  uint32_t next = 0;
  for (const auto& r : r_) {
    if (r.first > max) break;
    if (r.first > next) s.r_.push_back({next, r.first - 1});
    next = r.second + 1;
    if (r.second >= max) return s;
  }
  if (next <= max) s.r_.push_back({next, max});
  return s;
}

CharSet CharSet::Minus(const CharSet& o) const { return Intersect(o.Complement()); }

bool CharSet::Contains(uint32_t c) const {
  auto it = std::upper_bound(r_.begin(), r_.end(), c,
                             [](uint32_t v, const auto& r) { return v < r.first; });
  if (it == r_.begin()) return false;
  --it;
  return c <= it->second;
}

uint64_t CharSet::Count() const {
  uint64_t n = 0;
  for (const auto& r : r_) n += uint64_t{r.second} - r.first + 1;
  return n;
}

std::string CharSet::Key() const {
  // "[a,c-f,]": hexadecimal bounds (terminal interning builds many of these: no printf).
  auto hex = [](std::string* k, uint32_t v) {
    char buf[8];
    int n = 0;
    do {
      buf[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v != 0);
    while (n > 0) k->push_back(buf[--n]);
  };
  std::string k = "[";
  k.reserve(2 + r_.size() * 12);
  for (const auto& r : r_) {
    hex(&k, r.first);
    if (r.first != r.second) {
      k.push_back('-');
      hex(&k, r.second);
    }
    k.push_back(',');
  }
  k += "]";
  return k;
}

}  // namespace phx::grammar
