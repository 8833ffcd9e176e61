// Emitter: objects. Properties come in the order of `properties` (then required names that
// are not listed there), each optional one present or left out; then any number of other keys,
// split into regions by which patternProperties match (additionalProperties for none), each
// region a key automaton that excludes the listed names. min/maxProperties count members.
#include <algorithm>
#include <map>
#include <optional>

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/schema_emit.h"

namespace phx::grammar {
namespace {

constexpr int64_t kMaxObjectStates = 20000;
constexpr size_t kMaxPatterns = 6;

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool IsFalse(const Loc& l) { return l.v->is_bool() && !l.v->as_bool(); }

}  // namespace

absl::StatusOr<SubRef> Emitter::BranchRules(const ObjC& o, const std::string& name, bool* never) {
  SubRef out;
  *never = false;
  for (const ObjBranch& br : o.branches) {
    if (Contains(br.names, name)) continue;
    bool matched = false;
    for (const auto& [pl, ps] : br.patterns) {
      auto pd = PatternDfa(pl);
      if (!pd.ok()) return pd.status();
      if ((*pd)->Matches(name)) {
        out.push_back(ps);
        matched = true;
      }
    }
    if (!matched && br.additional) {
      if (IsFalse(*br.additional)) *never = true;
      out.push_back(*br.additional);
    }
  }
  return out;
}

absl::StatusOr<Sym> Emitter::Object(const ObjC& o, const std::string& ptr) {
  // Keys must satisfy propertyNames (its string constraints).
  std::shared_ptr<const CpDfa> names_dfa;
  if (!o.names.empty()) {
    auto alts = norm_.Normalize(o.names);
    if (!alts.ok()) return alts.status();
    CpDfa u = CpDfa::Nothing();
    for (const Conj& c : *alts) {
      if (!(c.types & kTStr)) continue;
      std::shared_ptr<const CpDfa> d;
      if (c.enums) {
        std::vector<std::string> words;
        auto sd = StringDfa(c.str, ptr);
        if (!sd.ok()) return sd.status();
        for (const auto& v : *c.enums) {
          if (v.is_string() && (*sd)->Matches(v.str())) words.push_back(v.str());
        }
        d = std::make_shared<const CpDfa>(CpDfa::Literals(words));
      } else {
        auto sd = StringDfa(c.str, ptr);
        if (!sd.ok()) return sd.status();
        d = *sd;
      }
      auto x = CpDfa::Union(u, *d);
      if (!x.ok()) return doc_.Unsupported(ptr, "propertyNames", std::string(x.status().message()));
      u = *std::move(x);
    }
    names_dfa = std::make_shared<const CpDfa>(std::move(u));
  }

  struct Member {
    Sym key, value;
    bool required;
  };
  std::vector<Member> members;
  std::vector<std::string> defined = o.forbidden;
  std::vector<std::string> names = o.order;
  for (const auto& r : o.required) {
    if (!Contains(names, r)) names.push_back(r);
  }
  for (const std::string& name : names) {
    const bool required = Contains(o.required, name);
    bool drop = Contains(o.forbidden, name) || (names_dfa && !names_dfa->Matches(name));
    bool never = false;
    SubRef refs;
    if (auto it = o.props.find(name); it != o.props.end()) refs = it->second;
    auto rules = BranchRules(o, name, &never);
    if (!rules.ok()) return rules.status();
    refs.insert(refs.end(), rules->begin(), rules->end());
    drop = drop || never;
    if (drop) {
      if (required) return b_.Never();
      defined.push_back(name);
      continue;
    }
    auto value = Value(refs);
    if (!value.ok()) return value.status();
    auto key = KeyTerm(std::make_shared<const CpDfa>(CpDfa::Literals({name})));
    if (!key.ok()) return key.status();
    members.push_back({*key, *value, required});
    defined.push_back(name);
  }

  // Other keys, by region of matching patterns.
  std::vector<Loc> pats;
  for (const ObjBranch& br : o.branches) {
    for (const auto& entry : br.patterns) {
      const Loc& pl = entry.first;
      if (std::none_of(pats.begin(), pats.end(),
                       [&](const Loc& l) { return l.v->str() == pl.v->str(); })) {
        pats.push_back(pl);
      }
    }
  }
  if (pats.size() > kMaxPatterns) {
    return doc_.Unsupported(ptr, "patternProperties",
                            StrCat("more than ", kMaxPatterns, " patterns on one object"));
  }
  std::vector<std::shared_ptr<const CpDfa>> pat_dfa;
  for (const Loc& p : pats) {
    auto d = PatternDfa(p);
    if (!d.ok()) return d.status();
    pat_dfa.push_back(*d);
  }
  // The keys outside `properties` (and inside propertyNames), built when some region allows
  // extra keys (with additionalProperties false and no patterns, none does).
  std::optional<CpDfa> base;
  std::vector<std::vector<Sym>> extra_alts;
  for (uint32_t s = 0; s < (1u << pats.size()) && !(base && base->empty()); ++s) {
    // Values under every branch's rule for this region.
    SubRef refs;
    bool never = false;
    for (const ObjBranch& br : o.branches) {
      bool matched = false;
      for (const auto& [pl, ps] : br.patterns) {
        for (size_t j = 0; j < pats.size(); ++j) {
          if ((s >> j & 1) && pats[j].v->str() == pl.v->str()) {
            refs.push_back(ps);
            matched = true;
          }
        }
      }
      if (!matched && br.additional) {
        never = never || IsFalse(*br.additional);
        refs.push_back(*br.additional);
      }
    }
    if (never) continue;
    if (!base) {
      base = CpDfa::Literals(defined).Complement(CharSet::Scalars());
      if (names_dfa) {
        auto x = CpDfa::Intersect(*base, *names_dfa);
        if (!x.ok()) {
          return doc_.Unsupported(ptr, "propertyNames", std::string(x.status().message()));
        }
        base = *std::move(x);
      }
      if (base->empty()) break;
    }
    CpDfa key = *base;
    for (size_t j = 0; j < pats.size() && !key.empty(); ++j) {
      const CpDfa other = (s >> j & 1) ? *pat_dfa[j] : pat_dfa[j]->Complement(CharSet::Scalars());
      auto x = CpDfa::Intersect(key, other);
      if (!x.ok())
        return doc_.Unsupported(ptr, "patternProperties", std::string(x.status().message()));
      key = *std::move(x);
    }
    if (key.empty()) continue;
    auto kt = KeyTerm(std::make_shared<const CpDfa>(std::move(key)));
    if (!kt.ok()) return kt.status();
    auto v = Value(refs);
    if (!v.ok()) return v.status();
    extra_alts.push_back({*kt, *v});
  }
  const bool extras = !extra_alts.empty();
  Sym extra = extras ? b_.Rule("extra", extra_alts) : 0;

  const int64_t min = o.min, max = o.max;
  if (extras && min > 1 && doc_.options().strict) {
    return doc_.Unsupported(ptr, "minProperties",
                            "with keys beyond `properties` (a repeated key would count twice)");
  }
  const int64_t n = static_cast<int64_t>(members.size());
  const int64_t cap = max >= 0 ? max : std::max<int64_t>(min, 1);
  if ((n + 1) * (cap + 1) > kMaxObjectStates) {
    return doc_.Unsupported(ptr, max >= 0 ? "maxProperties" : "properties", "object too large");
  }
  auto open = Tok("{"), close = Tok("}"), comma = Tok(",");
  if (!open.ok() || !close.ok() || !comma.ok()) return open.status();
  auto sat = [&](int64_t c) { return max >= 0 ? c : std::min(c, cap); };
  std::map<std::pair<int64_t, int64_t>, Sym> states;
  std::vector<std::pair<int64_t, int64_t>> todo;
  auto state = [&](int64_t i, int64_t c) {
    auto it = states.find({i, c});
    if (it != states.end()) return it->second;
    Sym s = b_.NewNonterm("members");
    states.emplace(std::pair{i, c}, s);
    todo.push_back({i, c});
    return s;
  };
  Sym start = state(0, 0);
  while (!todo.empty()) {
    auto [i, c] = todo.back();
    todo.pop_back();
    Sym s = states[{i, c}];
    const bool room = max < 0 || c < max;
    if (i < n) {
      const Member& m = members[i];
      if (room) {
        std::vector<Sym> seq;
        if (c > 0) seq.push_back(*comma);
        seq.push_back(m.key);
        seq.push_back(m.value);
        seq.push_back(state(i + 1, sat(c + 1)));
        b_.AddAlt(s, std::move(seq));
      }
      if (!m.required) b_.AddAlt(s, {state(i + 1, c)});
    } else {
      if (c >= min) b_.AddAlt(s, {*close});
      if (extras && room) {
        std::vector<Sym> seq;
        if (c > 0) seq.push_back(*comma);
        seq.push_back(extra);
        seq.push_back(state(n, sat(c + 1)));
        b_.AddAlt(s, std::move(seq));
      }
    }
  }
  return b_.Rule("object", {{*open, start}});
}

}  // namespace phx::grammar
