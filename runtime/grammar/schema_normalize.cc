// Normalizer: schema keywords -> disjunctions of Conj (see schema_ir.h).
#include <algorithm>
#include <set>

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/schema_ir.h"

namespace phx::grammar {
namespace {

constexpr size_t kMaxAlternatives = 64;
constexpr int kMaxDepth = 48;

// Keywords that never affect validation (or are handled next to another keyword).
bool IsAnnotation(const std::string& k) {
  static const std::set<std::string> kAnn = {"$schema",
                                             "$id",
                                             "id",
                                             "$comment",
                                             "title",
                                             "description",
                                             "default",
                                             "examples",
                                             "readOnly",
                                             "writeOnly",
                                             "deprecated",
                                             "$defs",
                                             "definitions",
                                             "contentMediaType",
                                             "contentEncoding",
                                             "contentSchema",
                                             "$anchor",
                                             "$dynamicAnchor",
                                             "$recursiveAnchor",
                                             "$vocabulary",
                                             "then",
                                             "else",
                                             "additionalItems",
                                             "minContains",
                                             "maxContains",
                                             "discriminator",
                                             "nullable",
                                             "example",
                                             "externalDocs",
                                             "xml"};
  return kAnn.count(k) > 0;
}

uint8_t TypeMask(const std::string& t) {
  if (t == "null") return kTNull;
  if (t == "boolean") return kTBool;
  if (t == "integer") return kTInt;
  if (t == "number") return kTInt | kTFrac;
  if (t == "string") return kTStr;
  if (t == "array") return kTArr;
  if (t == "object") return kTObj;
  return 0;
}

bool AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) != v->end()) return false;
  v->push_back(s);
  return true;
}

// The schema's members (object schemas only).
const JsonValue* Member(const Loc& s, std::string_view k) {
  return s.v->is_object() ? s.v->Find(k) : nullptr;
}

bool IsNonNegInt(const JsonValue& v) { return v.is_number() && v.is_integral() && v.number() >= 0; }

}  // namespace

absl::Status Normalizer::Cap(const Loc& s, const std::vector<Conj>& alts) const {
  if (alts.size() > kMaxAlternatives) {
    return doc_.Unsupported(
        s.ptr, "anyOf", StrCat("more than ", kMaxAlternatives, " alternatives after expansion"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Conj>> Normalizer::Normalize(const SubRef& refs) {
  std::vector<Conj> alts(1);
  for (const Loc& s : refs) {
    if (auto st = Apply(s, &alts, 0); !st.ok()) return st;
  }
  // Drop alternatives that admit nothing.
  alts.erase(std::remove_if(alts.begin(), alts.end(), [](const Conj& c) { return c.types == 0; }),
             alts.end());
  return alts;
}

absl::Status Normalizer::Apply(const Loc& s, std::vector<Conj>* alts, int depth) {
  if (depth > kMaxDepth) {
    return doc_.Unsupported(s.ptr, "$ref", "references nest too deep (a cycle through allOf?)");
  }
  const JsonValue& v = *s.v;
  if (v.is_bool()) {
    if (!v.as_bool()) {
      for (Conj& c : *alts) c.types = 0;
    }
    return absl::OkStatus();
  }
  if (!v.is_object())
    return doc_.Unsupported(s.ptr, "schema", "a schema must be an object or a boolean");
  if (const JsonValue* ref = v.Find("$ref"); ref != nullptr && doc_.draft() <= Draft::k7) {
    if (!ref->is_string()) return doc_.Unsupported(s.ptr, "$ref", "must be a string");
    auto target = doc_.Resolve(s, ref->str());
    if (!target.ok()) return target.status();
    return Apply(*target, alts, depth + 1);  // drafts 4-7 ignore the siblings of $ref
  }
  for (const auto& [key, val] : v.members()) {
    if (auto st = ApplyKeyword(s, key, val, alts, depth); !st.ok()) return st;
    if (alts->empty()) break;
  }
  return absl::OkStatus();
}

absl::Status Normalizer::ApplyKeyword(const Loc& s, const std::string& key, const JsonValue& val,
                                      std::vector<Conj>* alts, int depth) {
  const Draft draft = doc_.draft();
  const std::string kptr = PtrJoin(s.ptr, key);
  auto bad = [&](std::string_view why) { return doc_.Unsupported(s.ptr, key, why); };
  auto sub = [&](const JsonValue& x, std::string_view k2) { return Loc{&x, PtrJoin(kptr, k2)}; };
  const bool strict = doc_.options().strict;
  if (IsAnnotation(key)) return absl::OkStatus();

  if (key == "$ref") {
    if (!val.is_string()) return bad("must be a string");
    auto target = doc_.Resolve(s, val.str());
    if (!target.ok()) return target.status();
    return Apply(*target, alts, depth + 1);
  }
  if (key == "type") {
    uint8_t mask = 0;
    if (val.is_string()) {
      mask = TypeMask(val.str());
      if (mask == 0 && val.str() != "any") return bad("unknown type");
      if (val.str() == "any") mask = kTAll;
    } else if (val.is_array()) {
      for (const auto& t : val.items()) {
        if (!t.is_string()) return bad("draft-3 schema types are not supported");
        mask |= t.str() == "any" ? static_cast<uint8_t>(kTAll) : TypeMask(t.str());
      }
    } else {
      return bad("must be a string or an array");
    }
    for (Conj& c : *alts) c.types &= mask;
    return absl::OkStatus();
  }
  if (key == "enum" || (key == "const" && draft >= Draft::k6)) {
    std::vector<JsonValue> vals;
    if (key == "const") {
      vals.push_back(val);
    } else if (val.is_array()) {
      vals = val.items();
    } else {
      return bad("must be an array");
    }
    for (Conj& c : *alts) {
      if (!c.enums) {
        c.enums = vals;
        continue;
      }
      std::vector<JsonValue> keep;
      for (const auto& x : *c.enums) {
        for (const auto& y : vals) {
          if (x.Equals(y)) {
            keep.push_back(x);
            break;
          }
        }
      }
      c.enums = std::move(keep);
    }
    return absl::OkStatus();
  }
  if (key == "minimum" || key == "maximum" || key == "exclusiveMinimum" ||
      key == "exclusiveMaximum") {
    const bool lo = key == "minimum" || key == "exclusiveMinimum";
    bool excl = key[0] == 'e';
    if (val.is_bool()) return absl::OkStatus();  // the draft-4 modifier, read with the bound
    if (!val.is_number()) return bad("must be a number");
    auto d = Decimal::Parse(val.str());
    if (!d) return bad("number out of range");
    if (!excl && draft <= Draft::k4) {
      const JsonValue* e = Member(s, lo ? "exclusiveMinimum" : "exclusiveMaximum");
      excl = e != nullptr && e->is_bool() && e->as_bool();
    }
    for (Conj& c : *alts) {
      auto& bound = lo ? c.num.b.lo : c.num.b.hi;
      bool& bexcl = lo ? c.num.b.lo_excl : c.num.b.hi_excl;
      const int cmp = bound ? Compare(*d, *bound) : (lo ? 1 : -1);
      if (!bound || (lo ? cmp > 0 : cmp < 0)) {
        bound = *d;
        bexcl = excl;
      } else if (cmp == 0) {
        bexcl = bexcl || excl;
      }
    }
    return absl::OkStatus();
  }
  if (key == "multipleOf") {
    if (!val.is_number() || val.number() <= 0) return bad("must be a positive number");
    auto d = Decimal::Parse(val.str());
    if (!d || !d->is_integer()) {
      if (strict) {
        return bad(
            "a non-integer multipleOf is not enforced exactly (validators differ in "
            "floating point)");
      }
      return absl::OkStatus();
    }
    if (d->ip.size() > 6) return bad("multipleOf too large");
    const uint64_t k = std::stoull(d->ip);
    for (Conj& c : *alts) {
      c.types &= ~kTFrac;
      if (k > 1) c.num.multiples.push_back(k);
    }
    return absl::OkStatus();
  }
  if (key == "minLength" || key == "maxLength" || key == "minItems" || key == "maxItems" ||
      key == "minProperties" || key == "maxProperties") {
    if (!IsNonNegInt(val)) return bad("must be a non-negative integer");
    const int64_t n = val.number() > 1e15 ? int64_t{1} << 50 : static_cast<int64_t>(val.number());
    for (Conj& c : *alts) {
      int64_t* lo = key == "minLength" ? &c.str.min : key == "minItems" ? &c.arr.min : &c.obj.min;
      int64_t* hi = key == "maxLength" ? &c.str.max : key == "maxItems" ? &c.arr.max : &c.obj.max;
      if (key.rfind("min", 0) == 0) {
        *lo = std::max(*lo, n);
      } else {
        *hi = *hi < 0 ? n : std::min(*hi, n);
      }
      if (key.find("Properties") != std::string::npos) c.obj.touched = true;
    }
    return absl::OkStatus();
  }
  if (key == "pattern") {
    if (!val.is_string()) return bad("must be a string");
    for (Conj& c : *alts) c.str.patterns.push_back(Loc{&val, kptr});
    return absl::OkStatus();
  }
  if (key == "format") {
    if (!val.is_string()) return absl::OkStatus();
    auto f = FormatDfa(val.str());
    if (!f.ok()) {
      if (strict) return bad(std::string(f.status().message()));
      return absl::OkStatus();
    }
    if (*f == nullptr) return absl::OkStatus();  // validators ignore unknown formats
    for (Conj& c : *alts) c.str.formats.push_back(val.str());
    return absl::OkStatus();
  }
  if (key == "items" || key == "prefixItems") {
    const bool tuple = val.is_array();
    if (key == "prefixItems" && !tuple) return bad("must be an array");
    if (key == "prefixItems" && draft < Draft::k2020) return absl::OkStatus();
    if (tuple) {
      // Positional schemas; what follows is governed by additionalItems (or items in 2020-12).
      const JsonValue* extra = key == "items" ? Member(s, "additionalItems") : Member(s, "items");
      const size_t n = val.items().size();
      for (Conj& c : *alts) {
        while (c.arr.prefix.size() < n) c.arr.prefix.push_back(c.arr.rest);
        for (size_t i = 0; i < n; ++i) {
          c.arr.prefix[i].push_back(sub(val.items()[i], std::to_string(i)));
        }
        if (extra != nullptr) {
          const Loc eloc{extra, PtrJoin(s.ptr, key == "items" ? "additionalItems" : "items")};
          if (extra->is_bool() && !extra->as_bool()) {
            c.arr.rest_never = true;
            if (c.arr.max < 0 || c.arr.max > static_cast<int64_t>(n)) {
              c.arr.max = static_cast<int64_t>(n);
            }
          } else {
            for (size_t i = n; i < c.arr.prefix.size(); ++i) c.arr.prefix[i].push_back(eloc);
            c.arr.rest.push_back(eloc);
          }
        }
      }
      return absl::OkStatus();
    }
    // A schema for every item (after prefixItems in 2020-12).
    size_t from = 0;
    if (draft >= Draft::k2020) {
      if (const JsonValue* p = Member(s, "prefixItems"); p != nullptr && p->is_array()) {
        from = p->items().size();
      }
    }
    const Loc iloc{&val, kptr};
    for (Conj& c : *alts) {
      for (size_t i = from; i < c.arr.prefix.size(); ++i) c.arr.prefix[i].push_back(iloc);
      c.arr.rest.push_back(iloc);
      if (val.is_bool() && !val.as_bool()) {
        c.arr.rest_never = true;
        if (c.arr.max < 0 || c.arr.max > static_cast<int64_t>(from)) {
          c.arr.max = static_cast<int64_t>(from);
        }
      }
    }
    return absl::OkStatus();
  }
  if (key == "uniqueItems") {
    if (val.is_bool() && val.as_bool()) {
      for (Conj& c : *alts) {
        c.arr.unique = true;
        c.arr.unique_ptr = s.ptr;
      }
    }
    return absl::OkStatus();
  }
  if (key == "contains" && draft >= Draft::k6) {
    ContainsC cc;
    cc.schema.push_back(Loc{&val, kptr});
    if (draft >= Draft::k2019) {
      if (const JsonValue* m = Member(s, "minContains"); m != nullptr && IsNonNegInt(*m)) {
        cc.min = static_cast<int64_t>(std::min(m->number(), 1e6));
      }
      if (const JsonValue* m = Member(s, "maxContains"); m != nullptr && IsNonNegInt(*m)) {
        cc.max = static_cast<int64_t>(std::min(m->number(), 1e6));
      }
    }
    for (Conj& c : *alts) c.arr.contains.push_back(cc);
    return absl::OkStatus();
  }
  if (key == "properties" || key == "patternProperties" || key == "additionalProperties") {
    // The three keywords of one schema object form one branch (built at the first of them).
    const char* first = Member(s, "properties")          ? "properties"
                        : Member(s, "patternProperties") ? "patternProperties"
                                                         : "additionalProperties";
    if (key != first) return absl::OkStatus();
    ObjBranch br;
    const JsonValue* props = Member(s, "properties");
    if (props != nullptr && !props->is_object()) return bad("must be an object");
    if (props != nullptr) {
      for (const auto& [name, ps] : props->members()) br.names.push_back(name);
    }
    if (const JsonValue* pp = Member(s, "patternProperties"); pp != nullptr) {
      if (!pp->is_object())
        return doc_.Unsupported(s.ptr, "patternProperties", "must be an object");
      const std::string pptr = PtrJoin(s.ptr, "patternProperties");
      for (const auto& [pat, ps] : pp->members()) {
        // The pattern string lives in a synthesized node (keys are not JSON values).
        Loc pl = doc_.Synth(JsonValue::String(pat), PtrJoin(pptr, pat));
        br.patterns.push_back({pl, Loc{&ps, PtrJoin(pptr, pat)}});
      }
    }
    if (const JsonValue* ap = Member(s, "additionalProperties"); ap != nullptr) {
      br.additional = Loc{ap, PtrJoin(s.ptr, "additionalProperties")};
    }
    for (Conj& c : *alts) {
      c.obj.touched = true;
      if (props != nullptr) {
        for (const auto& [name, ps] : props->members()) {
          if (c.obj.props.find(name) == c.obj.props.end()) c.obj.order.push_back(name);
          c.obj.props[name].push_back(Loc{&ps, PtrJoin(PtrJoin(s.ptr, "properties"), name)});
        }
      }
      c.obj.branches.push_back(br);
    }
    return absl::OkStatus();
  }
  if (key == "required") {
    if (val.is_bool()) return bad("draft-3 boolean 'required' is not supported");
    if (!val.is_array()) return bad("must be an array");
    for (Conj& c : *alts) {
      c.obj.touched = true;
      for (const auto& r : val.items()) {
        if (r.is_string()) AddUnique(&c.obj.required, r.str());
      }
    }
    return absl::OkStatus();
  }
  if (key == "propertyNames" && draft >= Draft::k6) {
    for (Conj& c : *alts) {
      c.obj.touched = true;
      c.obj.names.push_back(Loc{&val, kptr});
    }
    return absl::OkStatus();
  }
  if (key == "dependencies" || key == "dependentRequired" || key == "dependentSchemas") {
    if (!val.is_object()) return bad("must be an object");
    for (const auto& [name, dep] : val.members()) {
      std::vector<Conj> absent = *alts, present = *alts;
      for (Conj& c : absent) AddUnique(&c.obj.forbidden, name);
      for (Conj& c : present) AddUnique(&c.obj.required, name);
      if (dep.is_array()) {
        for (Conj& c : present) {
          for (const auto& r : dep.items()) {
            if (r.is_string()) AddUnique(&c.obj.required, r.str());
          }
        }
      } else if (auto st = Apply(Loc{&dep, PtrJoin(kptr, name)}, &present, depth + 1); !st.ok()) {
        return st;
      }
      // Non-objects satisfy the dependency too; they stay in `absent` (forbidding a property
      // constrains objects only).
      alts->clear();
      alts->insert(alts->end(), absent.begin(), absent.end());
      for (Conj& c : present) {
        c.types &= kTObj;
        alts->push_back(std::move(c));
      }
      if (auto st = Cap(s, *alts); !st.ok()) return st;
    }
    return absl::OkStatus();
  }
  if (key == "allOf") {
    if (!val.is_array()) return bad("must be an array");
    for (size_t i = 0; i < val.items().size(); ++i) {
      if (auto st = Apply(sub(val.items()[i], std::to_string(i)), alts, depth + 1); !st.ok()) {
        return st;
      }
    }
    return absl::OkStatus();
  }
  if (key == "anyOf") {
    if (!val.is_array() || val.items().empty()) return bad("must be a non-empty array");
    std::vector<Conj> out;
    for (size_t i = 0; i < val.items().size(); ++i) {
      std::vector<Conj> branch = *alts;
      if (auto st = Apply(sub(val.items()[i], std::to_string(i)), &branch, depth + 1); !st.ok()) {
        return st;
      }
      for (Conj& c : branch) {
        if (c.types != 0) out.push_back(std::move(c));
      }
      if (out.size() > kMaxAlternatives) break;
    }
    *alts = std::move(out);
    return Cap(s, *alts);
  }
  if (key == "oneOf") return ApplyOneOf(s, alts, depth);
  if (key == "not") return ApplyNot(Loc{&val, kptr}, alts, depth);
  if (key == "if" && draft >= Draft::k7) return ApplyIf(s, alts, depth);
  if (key == "unevaluatedProperties" || key == "unevaluatedItems") {
    if (draft < Draft::k2019 || (val.is_bool() && val.as_bool())) return absl::OkStatus();
    if (strict) return bad("not supported");
    return absl::OkStatus();
  }
  if (key == "$recursiveRef" || key == "$dynamicRef") {
    if (strict) return bad("dynamic references are not supported");
    return absl::OkStatus();
  }
  if (draft == Draft::k3 && (key == "disallow" || key == "extends" || key == "divisibleBy")) {
    if (strict) return bad("draft-3 keyword not supported");
  }
  return absl::OkStatus();  // unknown keywords are annotations
}

}  // namespace phx::grammar
