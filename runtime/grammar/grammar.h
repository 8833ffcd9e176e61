// The grammar IR every front end compiles to: a context-free grammar whose terminals are
// byte-level lexemes (terminal.h). Built with GrammarBuilder, then frozen into a flat symbol array
// where a position ("dot") is an index: syms[dot] is the next symbol of an alternative.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/grammar/terminal.h"

namespace phx::grammar {

// A grammar symbol: a terminal id, a nonterminal id (kNontermBit) or the end of an alternative.
using Sym = uint32_t;
inline constexpr Sym kNontermBit = 0x40000000u;
inline constexpr Sym kEndSym = 0x80000000u;
inline bool IsTerm(Sym s) { return (s & (kNontermBit | kEndSym)) == 0; }
inline bool IsNonterm(Sym s) { return (s & kNontermBit) != 0 && (s & kEndSym) == 0; }
inline uint32_t SymIndex(Sym s) { return s & ~(kNontermBit | kEndSym); }

class Grammar {
 public:
  const std::vector<Sym>& syms() const { return syms_; }
  Sym sym(uint32_t dot) const { return syms_[dot]; }
  const std::vector<uint32_t>& alts(uint32_t nonterm) const { return alts_[nonterm]; }
  const Terminal& term(uint32_t t) const { return terms_[t]; }
  size_t num_terms() const { return terms_.size(); }
  size_t num_nonterms() const { return alts_.size(); }
  uint32_t root() const { return root_; }
  const std::string& nonterm_name(uint32_t n) const { return names_[n]; }
  // Rough memory use of the frozen grammar and its terminals.
  size_t MemoryBytes() const;
  // Text form for debugging and tests.
  std::string ToString() const;

 private:
  friend class GrammarBuilder;
  std::vector<Sym> syms_;
  std::vector<std::vector<uint32_t>> alts_;
  std::vector<Terminal> terms_;
  std::vector<std::string> names_;
  uint32_t root_ = 0;
};

class GrammarBuilder {
 public:
  GrammarBuilder() = default;

  Sym NewNonterm(std::string name);
  void AddAlt(Sym nonterm, std::vector<Sym> seq);
  // A terminal symbol for `spec` (interned by key). A terminal that matches the empty string
  // comes back as a nonterminal "non-empty form | nothing"; the empty language as a
  // nonterminal without alternatives.
  absl::StatusOr<Sym> Term(const TerminalSpec& spec);
  // A nonterminal with one empty alternative.
  Sym Epsilon();
  // A nonterminal without alternatives (matches nothing).
  Sym Never();
  // Convenience: a nonterminal with the given alternatives.
  Sym Rule(std::string name, std::vector<std::vector<Sym>> alts);
  size_t num_nonterms() const { return rules_.size(); }
  size_t num_terms() const { return terms_.size(); }

  // Removes alternatives that can never complete, rejects left recursion (naming the rule),
  // and freezes the grammar. An error when `root` matches nothing.
  absl::StatusOr<std::shared_ptr<const Grammar>> Build(Sym root);

 private:
  std::vector<std::vector<std::vector<Sym>>> rules_;
  std::vector<std::string> names_;
  std::vector<Terminal> terms_;
  absl::flat_hash_map<std::string, Sym> term_ids_;
  Sym epsilon_ = 0, never_ = 0;
  bool have_epsilon_ = false, have_never_ = false;
};

}  // namespace phx::grammar
