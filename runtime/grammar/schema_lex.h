// The lexical side of the JSON-schema compiler: exact decimal numbers, the automata of JSON
// number literals within bounds / multiples, JSON-equal literals of enum numbers, and the
// `format` automata. All automata are over code points (ASCII here) and describe the literal
// text as JSON writes it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/grammar/cpdfa.h"

namespace phx::grammar {

// An exact decimal: sign, integer digits (no leading zeros, "0" for zero), fraction digits (no
// trailing zeros). Zero is never negative.
struct Decimal {
  bool neg = false;
  std::string ip = "0";
  std::string fp;

  // From a JSON number literal (exponents applied exactly). nullopt for NaN/Infinity or
  // exponents beyond +-4000.
  static std::optional<Decimal> Parse(std::string_view literal);
  static Decimal FromInt(int64_t v);
  bool is_integer() const { return fp.empty(); }
  bool is_zero() const { return ip == "0" && fp.empty(); }
  std::string ToString() const;
  // floor / ceil as integers.
  Decimal Floor() const;
  Decimal Ceil() const;
  Decimal Negated() const;
  Decimal PlusOne() const;   // integers only
  Decimal MinusOne() const;  // integers only
};
int Compare(const Decimal& a, const Decimal& b);

struct NumberBounds {
  std::optional<Decimal> lo, hi;
  bool lo_excl = false, hi_excl = false;
};

// JSON number literals (no exponent when bounded) whose value is within `b`. `integer`: only
// integral values, written as digits optionally followed by ".0..." (`plain`: digits only, as
// drafts 3 and 4 read "integer").
absl::StatusOr<CpDfa> NumberDfa(const NumberBounds& b, bool integer, bool plain = false);
// Integral literals (as above) that are multiples of the positive integer `k` (k <= 100000).
absl::StatusOr<CpDfa> MultipleOfDfa(uint64_t k);
// Literals JSON-equal to `value` (1, 1.0, 1.00 for 1; -0 for 0); `plain`: integers without
// a fraction only.
CpDfa NumberLiteralDfa(const Decimal& value, bool plain = false);

// The automaton of a known `format` over string contents, or nullptr for formats validators do
// not check (unknown names). An error for a format validators check that is not implemented.
absl::StatusOr<std::shared_ptr<const CpDfa>> FormatDfa(std::string_view name);

}  // namespace phx::grammar
