#include "runtime/grammar/schema_emit.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "base/strings.h"

namespace phx::grammar {
namespace {

constexpr int64_t kMaxCounted = 4096;  // largest maxItems / string length bound counted exactly

}  // namespace

Emitter::Emitter(SchemaDoc& doc, GrammarBuilder& b)
    : doc_(doc), b_(b), norm_(doc), ws_(doc.options().max_whitespace) {
  any_string_ = std::make_shared<const CpDfa>(CpDfa::Strings(CharSet::Scalars()));
}

absl::StatusOr<Sym> Emitter::Tok(std::string_view bytes) {
  TerminalSpec spec;
  spec.Ws(ws_).Bytes(bytes);
  return b_.Term(spec);
}

absl::StatusOr<Sym> Emitter::TrailingWs() {
  TerminalSpec spec;
  spec.Ws(ws_);
  return b_.Term(spec);  // nullable: comes back as an optional rule
}

absl::StatusOr<Sym> Emitter::StringTerm(std::shared_ptr<const CpDfa> content, bool free) {
  TerminalSpec spec;
  spec.Ws(ws_).Bytes("\"").JsonContent(std::move(content), free).Bytes("\"");
  return b_.Term(spec);
}

absl::StatusOr<Sym> Emitter::KeyTerm(std::shared_ptr<const CpDfa> key) {
  TerminalSpec spec;
  spec.Ws(ws_).Bytes("\"").JsonContent(std::move(key), false).Bytes("\"").Ws(ws_).Bytes(":");
  return b_.Term(spec);
}

absl::StatusOr<std::shared_ptr<const CpDfa>> Emitter::PatternDfa(const Loc& pattern) {
  const std::string& text = pattern.v->str();
  auto it = patterns_.find(text);
  if (it != patterns_.end()) return it->second;
  Rx rx;
  auto root = ParsePattern(text, &rx);
  if (!root.ok())
    return doc_.Unsupported(pattern.ptr, "pattern", std::string(root.status().message()));
  auto d = CpDfa::FromPattern(rx, *root, /*search=*/true);
  if (!d.ok()) return doc_.Unsupported(pattern.ptr, "pattern", std::string(d.status().message()));
  auto ptr = std::make_shared<const CpDfa>(*std::move(d));
  patterns_.emplace(text, ptr);
  return ptr;
}

absl::StatusOr<std::shared_ptr<const CpDfa>> Emitter::StringDfa(const StrC& s,
                                                                const std::string& ptr) {
  const bool constrained = s.min > 0 || s.max >= 0 || !s.patterns.empty() ||
                           !s.not_patterns.empty() || !s.formats.empty() || !s.excluded.empty();
  if (!constrained) return any_string_;
  if (s.max > kMaxCounted || s.min > kMaxCounted) {
    return doc_.Unsupported(ptr, s.max > kMaxCounted ? "maxLength" : "minLength",
                            StrCat("length bounds above ", kMaxCounted, " are not supported"));
  }
  if (s.max >= 0 && s.min > s.max) return std::make_shared<const CpDfa>(CpDfa::Nothing());
  CpDfa d = CpDfa::Strings(CharSet::Scalars(), s.min, s.max);
  // `d` is every string while no bound or automaton has been met: meeting an automaton that
  // reads scalar values only is then that automaton (trimmed and minimal, as the product).
  bool any = s.min == 0 && s.max < 0;
  auto meet = [&](const CpDfa& other, std::string_view kw) -> absl::Status {
    if (std::exchange(any, false) && other.LiveWithin(CharSet::Scalars())) {
      d = other;
      return absl::OkStatus();
    }
    auto x = CpDfa::Intersect(d, other);
    if (!x.ok()) return doc_.Unsupported(ptr, kw, std::string(x.status().message()));
    d = *std::move(x);
    return absl::OkStatus();
  };
  for (const auto& f : s.formats) {
    auto fd = FormatDfa(f);
    if (!fd.ok()) return doc_.Unsupported(ptr, "format", std::string(fd.status().message()));
    if (*fd != nullptr) {
      if (auto st = meet(**fd, "format"); !st.ok()) return st;
    }
  }
  for (const Loc& p : s.patterns) {
    auto pd = PatternDfa(p);
    if (!pd.ok()) return pd.status();
    if (auto st = meet(**pd, "pattern"); !st.ok()) return st;
  }
  for (const Loc& p : s.not_patterns) {
    auto pd = PatternDfa(p);
    if (!pd.ok()) return pd.status();
    if (auto st = meet((*pd)->Complement(CharSet::Scalars()), "not"); !st.ok()) return st;
  }
  if (!s.excluded.empty()) {
    if (auto st = meet(CpDfa::Literals(s.excluded).Complement(CharSet::Scalars()), "not");
        !st.ok()) {
      return st;
    }
  }
  return std::make_shared<const CpDfa>(std::move(d));
}

absl::StatusOr<std::optional<Sym>> Emitter::StringValue(const StrC& s, const std::string& ptr) {
  StrC core_c = s;
  core_c.min = 0;
  core_c.max = -1;
  auto core = StringDfa(core_c, ptr);
  if (!core.ok()) return core.status();
  if ((*core)->empty() || (s.max >= 0 && s.min > s.max)) return std::optional<Sym>();
  std::shared_ptr<const CpDfa> content = *core;
  bool free = content == any_string_;
  if (s.min > 0 || s.max >= 0) {
    free = false;
    const int64_t lo = content->MinLength(), hi = content->MaxLength();
    const bool redundant = lo >= s.min && (s.max < 0 || (hi >= 0 && hi <= s.max));
    const bool loop = content->num_states() == 1 && content->AcceptsEmpty();
    if (!redundant && loop && (s.max > 128 || s.min > 128)) {
      // A long length bound on a plain string: count characters at run time.
      TerminalSpec spec;
      spec.Ws(ws_).Bytes("\"").CountedJsonContent(content, s.min, s.max).Bytes("\"");
      auto t = b_.Term(spec);
      if (!t.ok()) return t.status();
      return std::optional<Sym>(*t);
    }
    if (!redundant) {
      auto full = StringDfa(s, ptr);
      if (!full.ok()) return full.status();
      content = *full;
      if (content->empty()) return std::optional<Sym>();
    }
  }
  auto t = StringTerm(content, free);
  if (!t.ok()) return t.status();
  return std::optional<Sym>(*t);
}

absl::StatusOr<std::shared_ptr<const CpDfa>> Emitter::NumberAutomaton(const Conj& c,
                                                                      const std::string& ptr) {
  // Everything BuildNumberAutomaton reads, as text.
  const NumberBounds& nb = c.num.b;
  std::string key =
      StrCat(static_cast<int>(c.types & (kTInt | kTFrac)), doc_.draft() <= Draft::k4 ? "p" : "d");
  key += StrCat("|", nb.lo ? nb.lo->ToString() : "-", nb.lo_excl ? "x" : "i");
  key += StrCat("|", nb.hi ? nb.hi->ToString() : "-", nb.hi_excl ? "x" : "i", "|");
  for (uint64_t k : c.num.multiples) key += StrCat(k, ",");
  key += "|";
  for (const Decimal& x : c.num.excluded) key += StrCat(x.ToString(), ",");
  auto it = numbers_.find(key);
  if (it != numbers_.end()) return it->second;
  auto d = BuildNumberAutomaton(c, ptr);
  if (!d.ok()) return d.status();
  auto shared = std::make_shared<const CpDfa>(*std::move(d));
  numbers_.emplace(std::move(key), shared);
  return shared;
}

absl::StatusOr<CpDfa> Emitter::BuildNumberAutomaton(const Conj& c, const std::string& ptr) {
  const bool ints = (c.types & kTInt) != 0, fracs = (c.types & kTFrac) != 0;
  // Drafts 3 and 4 read "integer" as a literal without fraction or exponent.
  const bool plain = doc_.draft() <= Draft::k4;
  auto d = NumberDfa(c.num.b, !fracs, plain && !fracs);
  if (!d.ok()) return doc_.Unsupported(ptr, "minimum", std::string(d.status().message()));
  if (!ints) {
    // Numbers with a non-zero fraction only.
    Rx rx;
    const Rx::Id digits = rx.Plus(rx.Set(CharSet::Range('0', '9')));
    const Rx::Id nz = rx.Cat(
        {rx.Opt(rx.Char('-')), digits, rx.Char('.'), rx.Star(rx.Set(CharSet::Range('0', '9'))),
         rx.Set(CharSet::Range('1', '9')), rx.Star(rx.Set(CharSet::Range('0', '9')))});
    auto f = CpDfa::FromRx(rx, nz);
    if (!f.ok()) return f.status();
    d = CpDfa::Intersect(*d, *f);
    if (!d.ok()) return d.status();
  }
  if (!c.num.multiples.empty() && !plain) {
    // Validators read 12.0 as a float: beyond 2^53 it is rounded before the remainder is
    // taken, so float forms keep to integer parts of at most 15 digits (exact doubles), and
    // exponent forms are left out.
    Rx rx;
    const Rx::Id digit = rx.Set(CharSet::Range('0', '9'));
    const Rx::Id exact = rx.Cat(
        rx.Opt(rx.Char('-')),
        rx.Alt(rx.Plus(digit), rx.Cat({rx.Repeat(digit, 1, 15), rx.Char('.'), rx.Plus(digit)})));
    auto e = CpDfa::FromRx(rx, exact);
    if (!e.ok()) return e.status();
    d = CpDfa::Intersect(*d, *e);
    if (!d.ok()) return d.status();
  }
  for (uint64_t k : c.num.multiples) {
    auto m = MultipleOfDfa(k);
    if (!m.ok()) return doc_.Unsupported(ptr, "multipleOf", std::string(m.status().message()));
    d = CpDfa::Intersect(*d, *m);
    if (!d.ok()) return doc_.Unsupported(ptr, "multipleOf", std::string(d.status().message()));
  }
  for (const Decimal& x : c.num.excluded) {
    d = CpDfa::Intersect(*d, NumberLiteralDfa(x).Complement(CharSet::Range(0, 0x7F)));
    if (!d.ok()) return d.status();
  }
  return d;
}

absl::StatusOr<Sym> Emitter::Value(const SubRef& refs) {
  std::vector<const JsonValue*> key;
  for (const Loc& l : refs) key.push_back(l.v);
  auto it = memo_.find(key);
  if (it != memo_.end()) return it->second;
  const std::string ptr = refs.empty() ? "" : refs[0].ptr;
  Sym nt = b_.NewNonterm(ptr.empty() ? "value" : ptr);
  memo_.emplace(key, nt);
  auto alts = norm_.Normalize(refs);
  if (!alts.ok()) return alts.status();
  for (const Conj& c : *alts) {
    if (auto st = AddConj(nt, c, ptr); !st.ok()) return st;
  }
  return nt;
}

absl::Status Emitter::AddConj(Sym nt, const Conj& c, const std::string& ptr) {
  if (c.types == 0) return absl::OkStatus();
  if (c.enums) return AddEnum(nt, c, ptr);
  if (c.types & kTNull) {
    auto t = Tok("null");
    if (!t.ok()) return t.status();
    b_.AddAlt(nt, {*t});
  }
  if (c.types & kTBool) {
    for (const char* w : {"true", "false"}) {
      if ((w[0] == 't' && c.no_true) || (w[0] == 'f' && c.no_false)) continue;
      auto t = Tok(w);
      if (!t.ok()) return t.status();
      b_.AddAlt(nt, {*t});
    }
  }
  if (c.types & (kTInt | kTFrac)) {
    auto d = NumberAutomaton(c, ptr);
    if (!d.ok()) return d.status();
    if (!(*d)->empty()) {
      TerminalSpec spec;
      spec.Ws(ws_).Utf8(*d);
      auto t = b_.Term(spec);
      if (!t.ok()) return t.status();
      b_.AddAlt(nt, {*t});
    }
  }
  if (c.types & kTStr) {
    auto t = StringValue(c.str, ptr);
    if (!t.ok()) return t.status();
    if (*t) b_.AddAlt(nt, {**t});
  }
  if (c.types & kTArr) {
    auto a = Array(c.arr, ptr);
    if (!a.ok()) return a.status();
    b_.AddAlt(nt, {*a});
  }
  if (c.types & kTObj) {
    auto o = Object(c.obj, ptr);
    if (!o.ok()) return o.status();
    b_.AddAlt(nt, {*o});
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> Emitter::EnumValueOk(const JsonValue& v, const Conj& c,
                                          const std::string& ptr) {
  switch (v.kind()) {
    case JsonValue::Kind::kNull:
      return (c.types & kTNull) != 0;
    case JsonValue::Kind::kBool:
      return (c.types & kTBool) != 0 && !(v.as_bool() ? c.no_true : c.no_false);
    case JsonValue::Kind::kNumber: {
      const bool integral = doc_.draft() <= Draft::k4 ? v.is_integer_literal() : v.is_integral();
      if (!(c.types & (integral ? kTInt : kTFrac))) return false;
      auto d = NumberAutomaton(c, ptr);
      if (!d.ok()) return d.status();
      auto x = Decimal::Parse(v.str());
      if (!x) return false;
      // The canonical literal of the value must be in the number language.
      return (*d)->Matches(x->ToString());
    }
    case JsonValue::Kind::kString: {
      if (!(c.types & kTStr)) return false;
      auto d = StringDfa(c.str, ptr);
      if (!d.ok()) return d.status();
      return (*d)->Matches(v.str());
    }
    case JsonValue::Kind::kArray: {
      if (!(c.types & kTArr)) return false;
      const ArrC& a = c.arr;
      const bool plain =
          a.prefix.empty() && a.rest.empty() && !a.rest_never && a.contains.empty() && !a.unique;
      const auto n = static_cast<int64_t>(v.items().size());
      if (n < a.min || (a.max >= 0 && n > a.max)) return false;
      if (!plain) {
        return doc_.Unsupported(ptr, "enum", "array values with array constraints beside them");
      }
      return true;
    }
    case JsonValue::Kind::kObject: {
      if (!(c.types & kTObj)) return false;
      const auto n = static_cast<int64_t>(v.members().size());
      if (n < c.obj.min || (c.obj.max >= 0 && n > c.obj.max)) return false;
      for (const auto& r : c.obj.required) {
        if (v.Find(r) == nullptr) return false;
      }
      for (const auto& f : c.obj.forbidden) {
        if (v.Find(f) != nullptr) return false;
      }
      if (!c.obj.props.empty() || !c.obj.branches.empty() || !c.obj.names.empty()) {
        return doc_.Unsupported(ptr, "enum", "object values with object constraints beside them");
      }
      return true;
    }
  }
  return false;
}

absl::Status Emitter::AddEnum(Sym nt, const Conj& c, const std::string& ptr) {
  std::vector<std::string> strings;
  std::vector<const JsonValue*> others;
  for (const JsonValue& v : *c.enums) {
    auto ok = EnumValueOk(v, c, ptr);
    if (!ok.ok()) return ok.status();
    if (!*ok) continue;
    if (v.is_string()) {
      strings.push_back(v.str());
    } else {
      others.push_back(&v);
    }
  }
  if (!strings.empty()) {
    auto t = StringTerm(std::make_shared<const CpDfa>(CpDfa::Literals(strings)), false);
    if (!t.ok()) return t.status();
    b_.AddAlt(nt, {*t});
  }
  // Drafts 3 and 4: an integer-only enum takes integers without a fraction.
  const bool plain = doc_.draft() <= Draft::k4 && !(c.types & kTFrac);
  for (const JsonValue* v : others) {
    auto seq = Literal(*v, plain);
    if (!seq.ok()) return seq.status();
    b_.AddAlt(nt, *std::move(seq));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Sym>> Emitter::Literal(const JsonValue& v, bool plain) {
  switch (v.kind()) {
    case JsonValue::Kind::kNull:
    case JsonValue::Kind::kBool: {
      auto t = Tok(v.is_null() ? "null" : v.as_bool() ? "true" : "false");
      if (!t.ok()) return t.status();
      return std::vector<Sym>{*t};
    }
    case JsonValue::Kind::kNumber: {
      auto d = Decimal::Parse(v.str());
      if (!d) return absl::InvalidArgumentError("enum number out of range");
      TerminalSpec spec;
      spec.Ws(ws_).Utf8(std::make_shared<const CpDfa>(NumberLiteralDfa(*d, plain)));
      auto t = b_.Term(spec);
      if (!t.ok()) return t.status();
      return std::vector<Sym>{*t};
    }
    case JsonValue::Kind::kString: {
      auto t = StringTerm(std::make_shared<const CpDfa>(CpDfa::Literals({v.str()})), false);
      if (!t.ok()) return t.status();
      return std::vector<Sym>{*t};
    }
    case JsonValue::Kind::kArray: {
      std::vector<Sym> seq;
      auto open = Tok("["), close = Tok("]"), comma = Tok(",");
      if (!open.ok() || !close.ok() || !comma.ok()) return open.status();
      seq.push_back(*open);
      for (size_t i = 0; i < v.items().size(); ++i) {
        if (i > 0) seq.push_back(*comma);
        auto x = Literal(v.items()[i]);
        if (!x.ok()) return x.status();
        seq.push_back(b_.Rule("lit", {*x}));
      }
      seq.push_back(*close);
      return seq;
    }
    case JsonValue::Kind::kObject: {
      std::vector<Sym> seq;
      auto open = Tok("{"), close = Tok("}"), comma = Tok(",");
      if (!open.ok() || !close.ok() || !comma.ok()) return open.status();
      seq.push_back(*open);
      bool first = true;
      for (const auto& [k, x] : v.members()) {
        if (!first) seq.push_back(*comma);
        first = false;
        auto key = KeyTerm(std::make_shared<const CpDfa>(CpDfa::Literals({k})));
        if (!key.ok()) return key.status();
        seq.push_back(*key);
        auto val = Literal(x);
        if (!val.ok()) return val.status();
        seq.push_back(b_.Rule("lit", {*val}));
      }
      seq.push_back(*close);
      return seq;
    }
  }
  return std::vector<Sym>{};
}

absl::StatusOr<Sym> Emitter::Array(const ArrC& a, const std::string& ptr) {
  if (a.unique && (a.max < 0 || a.max > 1)) {
    if (doc_.options().strict) {
      return doc_.Unsupported(a.unique_ptr, "uniqueItems", "not enforced by the grammar");
    }
  }
  if (a.contains.size() > 1) {
    return doc_.Unsupported(ptr, "contains", "several contains constraints on one array");
  }
  const int64_t k = static_cast<int64_t>(a.prefix.size());
  int64_t max = a.max;
  if (a.rest_never) max = max < 0 ? k : std::min(max, k);
  const int64_t min = a.min;
  if (max >= 0 && min > max) return b_.Never();
  const ContainsC* cc = a.contains.empty() ? nullptr : &a.contains[0];
  if (cc != nullptr && cc->max >= 0) {
    return doc_.Unsupported(ptr, "maxContains", "not supported");
  }
  const int64_t cmin = cc != nullptr ? cc->min : 0;
  // Item positions 0..cap-1 are distinct states; from `cap` on (no maxItems) they repeat.
  const int64_t cap = max >= 0 ? max : std::max<int64_t>({k, min, 1});
  if (cap * (cmin + 1) > kMaxCounted) {
    return doc_.Unsupported(ptr, max >= 0 ? "maxItems" : "minItems",
                            StrCat("item counts above ", kMaxCounted, " are not supported"));
  }
  auto open = Tok("["), close = Tok("]"), comma = Tok(",");
  if (!open.ok() || !close.ok() || !comma.ok()) return open.status();
  std::vector<Sym> item(static_cast<size_t>(std::max<int64_t>(k, 1) + 1), 0);
  std::vector<Sym> item_c(item.size(), 0);
  auto item_at = [&](int64_t i, bool counted) -> absl::StatusOr<Sym> {
    const size_t idx = static_cast<size_t>(std::min(i, k));
    Sym& slot = counted ? item_c[idx] : item[idx];
    if (slot != 0) return slot;
    SubRef refs = i < k ? a.prefix[i] : a.rest;
    if (counted) refs.insert(refs.end(), cc->schema.begin(), cc->schema.end());
    auto v = Value(refs);
    if (!v.ok()) return v.status();
    slot = *v;
    return slot;
  };
  // state(i, f): i items so far (capped), f contains-matches so far (capped at cmin).
  std::map<std::pair<int64_t, int64_t>, Sym> states;
  std::vector<std::pair<int64_t, int64_t>> todo;
  auto state = [&](int64_t i, int64_t f) {
    auto it = states.find({i, f});
    if (it != states.end()) return it->second;
    Sym s = b_.NewNonterm("items");
    states.emplace(std::pair{i, f}, s);
    todo.push_back({i, f});
    return s;
  };
  Sym start = state(0, 0);
  while (!todo.empty()) {
    auto [i, f] = todo.back();
    todo.pop_back();
    Sym s = states[{i, f}];
    if (i >= min && f >= cmin) b_.AddAlt(s, {*close});
    if (max >= 0 && i >= max) continue;
    if (i >= k && a.rest_never) continue;
    const int64_t ni = max >= 0 ? i + 1 : std::min(i + 1, cap);
    for (bool counted : {false, true}) {
      if (counted && (cc == nullptr)) continue;
      auto it = item_at(i, counted);
      if (!it.ok()) return it.status();
      const int64_t nf = counted ? std::min(f + 1, cmin) : f;
      std::vector<Sym> seq;
      if (i > 0) seq.push_back(*comma);
      seq.push_back(*it);
      seq.push_back(state(ni, nf));
      b_.AddAlt(s, std::move(seq));
    }
  }
  return b_.Rule("array", {{*open, start}});
}

}  // namespace phx::grammar
