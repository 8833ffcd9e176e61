// Deterministic automata over code points. The alphabet is a partition of the code points into
// intervals (symbols); transitions are per symbol. Built from Rx expressions by subset
// construction; supports the products and complements that schema keywords need (pattern AND
// maxLength, keys NOT in `properties`, ...). The automata are trimmed: every state can reach
// an accepting state, so "still alive" means "can still be completed".
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/grammar/charset.h"
#include "runtime/grammar/regex.h"

namespace phx::grammar {

class CpDfa {
 public:
  static constexpr int32_t kDead = -1;

  // The language of `root` (no anchor markers).
  static absl::StatusOr<CpDfa> FromRx(const Rx& rx, Rx::Id root, int max_states = 20000);
  // A pattern with anchor markers: `search` finds it anywhere in the text, otherwise it must
  // match the whole text.
  static absl::StatusOr<CpDfa> FromPattern(const Rx& rx, Rx::Id root, bool search,
                                           int max_states = 20000);
  // Every string over `chars` (length in [min, max], max -1 = unbounded).
  static CpDfa Strings(const CharSet& chars, int64_t min = 0, int64_t max = -1);
  // Exactly the given strings (UTF-8).
  static CpDfa Literals(const std::vector<std::string>& words);
  static CpDfa Nothing();
  // From an explicit table: symbol i covers [bounds[i], bounds[i + 1]); trans is
  // state * bounds.size() + symbol (kDead: no transition). Trimmed and minimized.
  static CpDfa FromTable(std::vector<uint32_t> bounds, std::vector<int32_t> trans,
                         std::vector<uint8_t> accept, int32_t start);

  static absl::StatusOr<CpDfa> Intersect(const CpDfa& a, const CpDfa& b, int max_states = 20000);
  static absl::StatusOr<CpDfa> Union(const CpDfa& a, const CpDfa& b, int max_states = 20000);
  // Strings over `universe` not in `a`.
  CpDfa Complement(const CharSet& universe) const;

  int num_states() const { return static_cast<int>(accept_.size()); }
  int num_symbols() const { return static_cast<int>(bounds_.size()); }
  int start() const { return start_; }
  bool empty() const { return start_ == kDead; }
  bool accepting(int s) const { return accept_[s] != 0; }
  int32_t next(int s, int sym) const {
    return trans_[static_cast<size_t>(s) * bounds_.size() + sym];
  }
  // Symbol i covers [bounds[i], bounds[i + 1] - 1] (the last one up to the marker range).
  uint32_t sym_lo(int sym) const { return bounds_[sym]; }
  uint32_t sym_hi(int sym) const;
  int SymbolOf(uint32_t cp) const;
  // The code points of the transitions from `s` to `t`.
  CharSet Edge(int s, int t) const;

  bool Matches(std::string_view utf8) const;
  // Every transition reads code points of `chars` only (then intersecting with all strings
  // over `chars` changes nothing).
  bool LiveWithin(const CharSet& chars) const;
  bool AcceptsEmpty() const { return start_ != kDead && accepting(start_); }
  // Shortest and longest accepted length in code points (max -1: unbounded).
  int64_t MinLength() const;
  int64_t MaxLength() const;
  // A canonical description (cache keys); minimized automata of the same language agree.
  std::string Key() const;

  // Moore minimization and trimming (FromRx and the products already do both).
  void Minimize();

 private:
  friend class CpDfaBuilder;
  void Trim();
  std::string KeyUncached() const;
  mutable std::shared_ptr<const std::string> key_;  // Key(), computed once
  std::vector<uint32_t> bounds_ = {0};
  std::vector<int32_t> trans_;
  std::vector<uint8_t> accept_;
  int32_t start_ = kDead;
};

}  // namespace phx::grammar
