// Internal to runtime/grammar's GBNF support: the parsed rules (gbnf_parse.cc) that the
// compiler (gbnf.cc) folds into terminals and rules.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/grammar/charset.h"

namespace phx::grammar::gbnf_internal {

struct GElem;
using GSeq = std::vector<GElem>;
using GAlts = std::vector<GSeq>;

struct GElem {
  enum class Kind { kChars, kClass, kRef, kGroup, kRepeat } kind = Kind::kChars;
  std::vector<uint32_t> chars;   // kChars: a literal
  CharSet set;                   // kClass ('.' is a class too)
  int ref = -1;                  // kRef
  std::shared_ptr<GAlts> group;  // kGroup
  std::shared_ptr<GElem> inner;  // kRepeat
  int min = 0, max = 0;          // kRepeat (max -1: unbounded)
};

struct GbnfRules {
  std::vector<GAlts> rules;  // per rule id: its alternatives
  std::vector<std::string> names;
  int root = 0;
};

// Parses GBNF text (gbnf.h); errors name the position and the problem.
absl::StatusOr<GbnfRules> ParseGbnf(std::string_view text);

}  // namespace phx::grammar::gbnf_internal
