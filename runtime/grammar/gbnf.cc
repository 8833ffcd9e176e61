#include "runtime/grammar/gbnf.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/cpdfa.h"
#include "runtime/grammar/gbnf_parse.h"

namespace phx::grammar {
namespace {

using namespace gbnf_internal;  // NOLINT(build/namespaces): the parsed rules

constexpr int64_t kMaxInlineSize = 4000;  // estimated NFA states of one folded terminal

class GbnfCompiler {
 public:
  explicit GbnfCompiler(const GbnfRules& p) : p_(p) {}

  absl::StatusOr<std::shared_ptr<const Grammar>> Run() {
    FindRecursive();
    rule_sym_.assign(p_.rules.size(), 0);
    rule_made_.assign(p_.rules.size(), false);
    rule_rx_.assign(p_.rules.size(), std::nullopt);
    rule_rx_done_.assign(p_.rules.size(), false);
    auto root = RuleSym(p_.root);
    if (!root.ok()) return root.status();
    return b_.Build(*root);
  }

 private:
  // Rules on a reference cycle cannot become regular expressions.
  void FindRecursive() {
    const size_t n = p_.rules.size();
    std::vector<std::vector<int>> refs(n);
    std::function<void(const GElem&, int)> collect = [&](const GElem& e, int r) {
      if (e.kind == GElem::Kind::kRef) refs[r].push_back(e.ref);
      if (e.group) {
        for (const auto& s : *e.group)
          for (const auto& x : s) collect(x, r);
      }
      if (e.inner) collect(*e.inner, r);
    };
    for (size_t r = 0; r < n; ++r) {
      for (const auto& s : p_.rules[r])
        for (const auto& e : s) collect(e, static_cast<int>(r));
    }
    recursive_.assign(n, false);
    // A rule is recursive when it can reach itself.
    for (size_t r = 0; r < n; ++r) {
      std::vector<bool> seen(n, false);
      std::vector<int> stack(refs[r].begin(), refs[r].end());
      while (!stack.empty() && !recursive_[r]) {
        const int x = stack.back();
        stack.pop_back();
        if (x == static_cast<int>(r)) recursive_[r] = true;
        if (seen[x]) continue;
        seen[x] = true;
        stack.insert(stack.end(), refs[x].begin(), refs[x].end());
      }
    }
  }

  // The element as a regular expression, if it is regular and small enough.
  std::optional<Rx::Id> RxOf(const GElem& e, int64_t* size) {
    switch (e.kind) {
      case GElem::Kind::kChars: {
        std::vector<Rx::Id> kids;
        for (uint32_t c : e.chars) kids.push_back(rx_.Char(c));
        *size = static_cast<int64_t>(e.chars.size()) + 1;
        return rx_.Cat(std::move(kids));
      }
      case GElem::Kind::kClass:
        *size = 2;
        return rx_.Set(e.set);
      case GElem::Kind::kRef: {
        if (recursive_[e.ref]) return std::nullopt;
        if (!rule_rx_done_[e.ref]) {
          rule_rx_done_[e.ref] = true;
          int64_t sz = 0;
          rule_rx_[e.ref] = AltsRx(p_.rules[e.ref], &sz);
          rule_rx_size_[e.ref] = sz;
        }
        *size = rule_rx_size_[e.ref];
        return rule_rx_[e.ref];
      }
      case GElem::Kind::kGroup:
        return AltsRx(*e.group, size);
      case GElem::Kind::kRepeat: {
        int64_t inner = 0;
        auto r = RxOf(*e.inner, &inner);
        if (!r) return std::nullopt;
        *size = inner * (std::max(e.min, e.max) + 1);
        if (*size > kMaxInlineSize) return std::nullopt;
        return rx_.Repeat(*r, e.min, e.max < 0 ? Rx::kInf : e.max);
      }
    }
    return std::nullopt;
  }
  std::optional<Rx::Id> AltsRx(const GAlts& alts, int64_t* size) {
    std::vector<Rx::Id> out;
    *size = 1;
    for (const auto& seq : alts) {
      std::vector<Rx::Id> parts;
      for (const auto& e : seq) {
        int64_t s = 0;
        auto r = RxOf(e, &s);
        if (!r) return std::nullopt;
        *size += s;
        if (*size > kMaxInlineSize) return std::nullopt;
        parts.push_back(*r);
      }
      out.push_back(rx_.Cat(std::move(parts)));
    }
    return rx_.Alt(std::move(out));
  }

  absl::StatusOr<Sym> TermOf(Rx::Id r) {
    auto d = CpDfa::FromRx(rx_, r);
    if (!d.ok()) return d.status();
    TerminalSpec spec;
    spec.Utf8(std::make_shared<const CpDfa>(*std::move(d)));
    return b_.Term(spec);
  }

  absl::StatusOr<Sym> RuleSym(int r) {
    if (rule_made_[r]) return rule_sym_[r];
    rule_made_[r] = true;
    rule_sym_[r] = b_.NewNonterm(p_.names[r]);
    auto st = AddAlts(rule_sym_[r], p_.rules[r]);
    if (!st.ok()) return st;
    return rule_sym_[r];
  }

  absl::Status AddAlts(Sym nt, const GAlts& alts) {
    for (const auto& seq : alts) {
      auto syms = SeqSyms(seq);
      if (!syms.ok()) return syms.status();
      b_.AddAlt(nt, *std::move(syms));
    }
    return absl::OkStatus();
  }

  // A sequence: runs of regular elements become one terminal each.
  absl::StatusOr<std::vector<Sym>> SeqSyms(const GSeq& seq) {
    std::vector<Sym> out;
    std::vector<Rx::Id> run;
    int64_t run_size = 0;
    auto flush = [&]() -> absl::Status {
      if (run.empty()) return absl::OkStatus();
      auto t = TermOf(rx_.Cat(run));
      run.clear();
      run_size = 0;
      if (!t.ok()) return t.status();
      out.push_back(*t);
      return absl::OkStatus();
    };
    for (const auto& e : seq) {
      int64_t size = 0;
      auto r = RxOf(e, &size);
      if (r && run_size + size <= kMaxInlineSize) {
        run.push_back(*r);
        run_size += size;
        continue;
      }
      if (auto st = flush(); !st.ok()) return st;
      if (r) {
        run.push_back(*r);
        run_size = size;
        continue;
      }
      auto s = ElemSym(e);
      if (!s.ok()) return s.status();
      out.push_back(*s);
    }
    if (auto st = flush(); !st.ok()) return st;
    return out;
  }

  // A non-regular element as a grammar symbol.
  absl::StatusOr<Sym> ElemSym(const GElem& e) {
    switch (e.kind) {
      case GElem::Kind::kRef:
        return RuleSym(e.ref);
      case GElem::Kind::kGroup: {
        Sym nt = b_.NewNonterm("group");
        auto st = AddAlts(nt, *e.group);
        if (!st.ok()) return st;
        return nt;
      }
      case GElem::Kind::kRepeat: {
        auto x = ElemSym1(*e.inner);
        if (!x.ok()) return x.status();
        std::vector<Sym> seq(e.min, *x);
        Sym tail;
        if (e.max < 0) {
          tail = b_.NewNonterm("star");
          b_.AddAlt(tail, {*x, tail});
          b_.AddAlt(tail, {});
        } else {
          tail = b_.Epsilon();
          for (int i = e.min; i < e.max; ++i) tail = b_.Rule("opt", {{*x, tail}, {}});
        }
        seq.push_back(tail);
        return b_.Rule("rep", {seq});
      }
      default:
        return absl::InternalError("GBNF: regular element not folded");
    }
  }
  // Any element (regular ones as a terminal).
  absl::StatusOr<Sym> ElemSym1(const GElem& e) {
    int64_t size = 0;
    if (auto r = RxOf(e, &size)) return TermOf(*r);
    return ElemSym(e);
  }

  const GbnfRules& p_;
  GrammarBuilder b_;
  Rx rx_;
  std::vector<bool> recursive_;
  std::vector<Sym> rule_sym_;
  std::vector<bool> rule_made_;
  std::vector<std::optional<Rx::Id>> rule_rx_;
  std::vector<bool> rule_rx_done_;
  std::map<int, int64_t> rule_rx_size_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const Grammar>> CompileGbnfGrammar(std::string_view text) {
  auto rules = ParseGbnf(text);
  if (!rules.ok()) return rules.status();
  return GbnfCompiler(*rules).Run();
}

}  // namespace phx::grammar
