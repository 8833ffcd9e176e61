// Sets of Unicode code points (or bytes) as sorted, disjoint, non-adjacent closed intervals.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace phx::grammar {

inline constexpr uint32_t kMaxCodePoint = 0x10FFFF;

class CharSet {
 public:
  CharSet() = default;
  static CharSet Of(uint32_t c) { return Range(c, c); }
  static CharSet Range(uint32_t lo, uint32_t hi) {
    CharSet s;
    s.Add(lo, hi);
    return s;
  }
  static CharSet All() { return Range(0, kMaxCodePoint); }
  // Every code point except the UTF-16 surrogates (what UTF-8 text can hold).
  static CharSet Scalars();

  void Add(uint32_t lo, uint32_t hi);
  void Add(uint32_t c) { Add(c, c); }
  void Add(const CharSet& o);

  CharSet Union(const CharSet& o) const;
  CharSet Intersect(const CharSet& o) const;
  CharSet Minus(const CharSet& o) const;
  // Complement within [0, max].
  CharSet Complement(uint32_t max = kMaxCodePoint) const;

  bool Contains(uint32_t c) const;
  bool empty() const { return r_.empty(); }
  const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const { return r_; }
  uint64_t Count() const;
  bool operator==(const CharSet& o) const { return r_ == o.r_; }
  bool operator<(const CharSet& o) const { return r_ < o.r_; }
  // Canonical text for cache keys.
  std::string Key() const;

 private:
  std::vector<std::pair<uint32_t, uint32_t>> r_;
};

}  // namespace phx::grammar
