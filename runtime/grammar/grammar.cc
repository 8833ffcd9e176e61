#include "runtime/grammar/grammar.h"

#include <algorithm>
#include <functional>

#include "absl/status/status.h"
#include "base/strings.h"

namespace phx::grammar {

size_t Grammar::MemoryBytes() const {
  size_t n = syms_.size() * 4 + alts_.size() * 32;
  for (const auto& t : terms_) n += t.key.size() + sizeof(Terminal);
  return n;
}

std::string Grammar::ToString() const {
  std::string out;
  for (size_t n = 0; n < alts_.size(); ++n) {
    out += StrCat(names_[n], " ::=");
    bool first = true;
    for (uint32_t dot : alts_[n]) {
      out += first ? " " : " | ";
      first = false;
      for (uint32_t d = dot; syms_[d] != kEndSym; ++d) {
        const Sym s = syms_[d];
        out += IsTerm(s) ? StrCat("t", s, " ") : names_[SymIndex(s)] + " ";
      }
    }
    out += "\n";
  }
  return out;
}

Sym GrammarBuilder::NewNonterm(std::string name) {
  rules_.emplace_back();
  names_.push_back(std::move(name));
  return kNontermBit | static_cast<Sym>(rules_.size() - 1);
}

void GrammarBuilder::AddAlt(Sym nonterm, std::vector<Sym> seq) {
  rules_[SymIndex(nonterm)].push_back(std::move(seq));
}

Sym GrammarBuilder::Rule(std::string name, std::vector<std::vector<Sym>> alts) {
  Sym n = NewNonterm(std::move(name));
  for (auto& a : alts) AddAlt(n, std::move(a));
  return n;
}

Sym GrammarBuilder::Epsilon() {
  if (!have_epsilon_) {
    epsilon_ = Rule("eps", {{}});
    have_epsilon_ = true;
  }
  return epsilon_;
}

Sym GrammarBuilder::Never() {
  if (!have_never_) {
    never_ = NewNonterm("never");
    have_never_ = true;
  }
  return never_;
}

absl::StatusOr<Sym> GrammarBuilder::Term(const TerminalSpec& spec) {
  if (spec.pieces().empty()) return Epsilon();
  std::string key = spec.Key();
  auto it = term_ids_.find(key);
  if (it != term_ids_.end()) return it->second;
  auto shared = std::make_shared<const TerminalSpec>(spec);
  Sym result;
  if (spec.empty()) {
    result = Never();
  } else if (spec.nullable()) {
    // "One or more bytes of it" or nothing; a spec that only matches "" is just epsilon.
    bool some = false;
    for (const auto& p : spec.pieces()) {
      some |= (p.kind == TermPiece::Kind::kWs && p.ws_max > 0) ||
              (p.kind == TermPiece::Kind::kBytes && !p.bytes.empty()) ||
              ((p.kind == TermPiece::Kind::kUtf8 || p.kind == TermPiece::Kind::kJsonContent) &&
               p.dfa->MaxLength() != 0);
    }
    if (!some) {
      result = Epsilon();
    } else {
      terms_.push_back(Terminal{key + "+", shared, true});
      const Sym t = static_cast<Sym>(terms_.size() - 1);
      result = Rule("opt", {{t}, {}});
    }
  } else {
    terms_.push_back(Terminal{key, shared, true});
    result = static_cast<Sym>(terms_.size() - 1);
  }
  term_ids_.emplace(std::move(key), result);
  return result;
}

absl::StatusOr<std::shared_ptr<const Grammar>> GrammarBuilder::Build(Sym root) {
  const size_t n = rules_.size();
  // Productive nonterminals (fixpoint).
  std::vector<uint8_t> prod(n, 0);
  bool changed = true;
  auto sym_ok = [&](Sym s) { return IsTerm(s) || prod[SymIndex(s)]; };
  while (changed) {
    changed = false;
    for (size_t i = 0; i < n; ++i) {
      if (prod[i]) continue;
      for (const auto& alt : rules_[i]) {
        if (std::all_of(alt.begin(), alt.end(), sym_ok)) {
          prod[i] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  if (!prod[SymIndex(root)]) {
    return absl::InvalidArgumentError("the grammar matches nothing");
  }
  for (auto& alts : rules_) {
    alts.erase(std::remove_if(alts.begin(), alts.end(),
                              [&](const std::vector<Sym>& a) {
                                return !std::all_of(a.begin(), a.end(), sym_ok);
                              }),
               alts.end());
  }
  // Nullable nonterminals.
  std::vector<uint8_t> nullable(n, 0);
  changed = true;
  while (changed) {
    changed = false;
    for (size_t i = 0; i < n; ++i) {
      if (nullable[i]) continue;
      for (const auto& alt : rules_[i]) {
        if (std::all_of(alt.begin(), alt.end(),
                        [&](Sym s) { return IsNonterm(s) && nullable[SymIndex(s)]; })) {
          nullable[i] = 1;
          changed = true;
          break;
        }
      }
    }
  }
  // Left recursion: a cycle of "A starts with B" edges through nullable prefixes.
  std::vector<std::vector<uint32_t>> left(n);
  for (size_t i = 0; i < n; ++i) {
    for (const auto& alt : rules_[i]) {
      for (Sym s : alt) {
        if (!IsNonterm(s)) break;
        left[i].push_back(SymIndex(s));
        if (!nullable[SymIndex(s)]) break;
      }
    }
  }
  std::vector<uint8_t> color(n, 0);
  for (size_t r = 0; r < n; ++r) {
    if (color[r]) continue;
    std::vector<std::pair<uint32_t, size_t>> stack = {{static_cast<uint32_t>(r), 0}};
    color[r] = 1;
    while (!stack.empty()) {
      auto& [v, k] = stack.back();
      if (k < left[v].size()) {
        const uint32_t w = left[v][k++];
        if (color[w] == 1) {
          return absl::InvalidArgumentError(
              StrCat("left recursion through rule '", names_[w], "'"));
        }
        if (color[w] == 0) {
          color[w] = 1;
          stack.push_back({w, 0});
        }
      } else {
        color[v] = 2;
        stack.pop_back();
      }
    }
  }
  auto g = std::make_shared<Grammar>();
  g->alts_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    for (const auto& alt : rules_[i]) {
      g->alts_[i].push_back(static_cast<uint32_t>(g->syms_.size()));
      g->syms_.insert(g->syms_.end(), alt.begin(), alt.end());
      g->syms_.push_back(kEndSym);
    }
  }
  g->terms_ = terms_;
  g->names_ = names_;
  g->root_ = SymIndex(root);
  return std::shared_ptr<const Grammar>(std::move(g));
}

}  // namespace phx::grammar
