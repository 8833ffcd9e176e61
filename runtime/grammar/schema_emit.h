// Emitter: normalized schemas (schema_ir.h) -> grammar rules and terminals. Every JSON token is
// a terminal that starts with up to `max_whitespace` blanks; an object key is one terminal with
// its colon ("  \"name\" :").
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/grammar/grammar.h"
#include "runtime/grammar/schema_ir.h"

namespace phx::grammar {

class Emitter {
 public:
  Emitter(SchemaDoc& doc, GrammarBuilder& b);

  // The nonterminal of all values satisfying every schema in `refs` (memoized).
  absl::StatusOr<Sym> Value(const SubRef& refs);
  // Blanks after the top-level value.
  absl::StatusOr<Sym> TrailingWs();

 private:
  absl::Status AddConj(Sym nt, const Conj& c, const std::string& ptr);
  absl::StatusOr<Sym> Tok(std::string_view bytes);  // ws + fixed bytes
  absl::StatusOr<Sym> StringTerm(std::shared_ptr<const CpDfa> content, bool free);
  absl::StatusOr<Sym> KeyTerm(std::shared_ptr<const CpDfa> key);
  // The exact string automaton (keys, enum checks; length bounds built in).
  absl::StatusOr<std::shared_ptr<const CpDfa>> StringDfa(const StrC& s, const std::string& ptr);
  // The terminal of string values (nullopt: none satisfies `s`); long length bounds on plain
  // strings are counted by the lexer instead of being built into the automaton.
  absl::StatusOr<std::optional<Sym>> StringValue(const StrC& s, const std::string& ptr);
  absl::StatusOr<std::shared_ptr<const CpDfa>> PatternDfa(const Loc& pattern);
  // The number automaton of `c` (shared by every conjunction with the same number keywords).
  absl::StatusOr<std::shared_ptr<const CpDfa>> NumberAutomaton(const Conj& c,
                                                               const std::string& ptr);
  absl::StatusOr<CpDfa> BuildNumberAutomaton(const Conj& c, const std::string& ptr);
  absl::StatusOr<std::vector<Sym>> Literal(const JsonValue& v, bool plain = false);
  absl::Status AddEnum(Sym nt, const Conj& c, const std::string& ptr);
  absl::StatusOr<bool> EnumValueOk(const JsonValue& v, const Conj& c, const std::string& ptr);
  absl::StatusOr<Sym> Array(const ArrC& a, const std::string& ptr);
  absl::StatusOr<Sym> Object(const ObjC& o, const std::string& ptr);
  // The schemas a key must satisfy under every branch's additional/pattern rule.
  absl::StatusOr<SubRef> BranchRules(const ObjC& o, const std::string& name, bool* never);

  SchemaDoc& doc_;
  GrammarBuilder& b_;
  Normalizer norm_;
  int ws_;
  std::map<std::vector<const JsonValue*>, Sym> memo_;
  std::map<std::string, std::shared_ptr<const CpDfa>> patterns_;
  std::map<std::string, std::shared_ptr<const CpDfa>> numbers_;
  std::shared_ptr<const CpDfa> any_string_;
};

}  // namespace phx::grammar
