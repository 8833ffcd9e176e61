// Normalizer: the logical keywords that need case splits: not, if/then/else, oneOf.
#include <algorithm>

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/schema_ir.h"

namespace phx::grammar {
namespace {

bool Annotation(const std::string& k) {
  return k == "$schema" || k == "$id" || k == "id" || k == "$comment" || k == "title" ||
         k == "description" || k == "default" || k == "examples" || k == "$defs" ||
         k == "definitions" || k == "readOnly" || k == "writeOnly" || k == "deprecated" ||
         k == "$anchor" || k == "example";
}

// The keywords of a schema object that matter.
std::vector<std::string> Keywords(const JsonValue& v) {
  std::vector<std::string> k;
  for (const auto& m : v.members()) {
    if (!Annotation(m.first)) k.push_back(m.first);
  }
  return k;
}

bool Only(const std::vector<std::string>& keys, std::initializer_list<const char*> allowed) {
  return std::all_of(keys.begin(), keys.end(), [&](const std::string& k) {
    return std::any_of(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; });
  });
}

void Forbid(Conj* c, const std::string& name) {
  if (std::find(c->obj.forbidden.begin(), c->obj.forbidden.end(), name) == c->obj.forbidden.end()) {
    c->obj.forbidden.push_back(name);
  }
  c->obj.touched = true;
}

void Require(Conj* c, const std::string& name) {
  if (std::find(c->obj.required.begin(), c->obj.required.end(), name) == c->obj.required.end()) {
    c->obj.required.push_back(name);
  }
  c->obj.touched = true;
}

void AddProp(Conj* c, const std::string& name, const Loc& schema) {
  if (c->obj.props.find(name) == c->obj.props.end()) c->obj.order.push_back(name);
  c->obj.props[name].push_back(schema);
  c->obj.touched = true;
}

}  // namespace

absl::Status Normalizer::ApplyNot(const Loc& t, std::vector<Conj>* alts, int depth) {
  const JsonValue& v = *t.v;
  auto bad = [&](std::string_view why) { return doc_.Unsupported(t.ptr, "not", why); };
  if (depth > 48) return bad("nested too deep");
  if (v.is_bool()) {
    if (v.as_bool()) {
      for (Conj& c : *alts) c.types = 0;
    }
    return absl::OkStatus();
  }
  if (!v.is_object()) return bad("must be a schema");
  const std::vector<std::string> keys = Keywords(v);
  if (const JsonValue* ref = v.Find("$ref");
      ref != nullptr && ref->is_string() && (keys.size() == 1 || doc_.draft() <= Draft::k7)) {
    auto target = doc_.Resolve(t, ref->str());
    if (!target.ok()) return target.status();
    return ApplyNot(*target, alts, depth + 1);
  }
  if (keys.empty()) {
    for (Conj& c : *alts) c.types = 0;
    return absl::OkStatus();
  }
  if (Only(keys, {"type"})) {
    std::vector<Conj> mask(1);
    if (auto st = Apply(t, &mask, depth + 1); !st.ok()) return st;
    const uint8_t allowed = mask.empty() ? 0 : mask[0].types;
    for (Conj& c : *alts) c.types &= static_cast<uint8_t>(~allowed & kTAll);
    return absl::OkStatus();
  }
  if (Only(keys, {"enum"}) || Only(keys, {"const"})) {
    std::vector<JsonValue> vals;
    if (const JsonValue* e = v.Find("enum"); e != nullptr && e->is_array()) vals = e->items();
    if (const JsonValue* e = v.Find("const"); e != nullptr) vals.push_back(*e);
    for (const JsonValue& x : vals) {
      for (Conj& c : *alts) {
        switch (x.kind()) {
          case JsonValue::Kind::kNull:
            c.types &= ~kTNull;
            break;
          case JsonValue::Kind::kBool:
            (x.as_bool() ? c.no_true : c.no_false) = true;
            break;
          case JsonValue::Kind::kNumber: {
            auto d = Decimal::Parse(x.str());
            if (!d) return bad("number out of range");
            c.num.excluded.push_back(*d);
            break;
          }
          case JsonValue::Kind::kString:
            c.str.excluded.push_back(x.str());
            break;
          default:
            if (c.enums) {
              // Already a finite set: drop the equal values.
              auto& e = *c.enums;
              e.erase(std::remove_if(e.begin(), e.end(),
                                     [&](const JsonValue& y) { return y.Equals(x); }),
                      e.end());
            } else {
              return bad("excluding an object or array value is not supported");
            }
        }
      }
    }
    return absl::OkStatus();
  }
  if (Only(keys, {"required"})) {
    const JsonValue* r = v.Find("required");
    if (!r->is_array()) return bad("required must be an array");
    std::vector<Conj> out;
    for (const auto& name : r->items()) {
      if (!name.is_string()) continue;
      for (Conj c : *alts) {
        Forbid(&c, name.str());
        out.push_back(std::move(c));
      }
    }
    *alts = std::move(out);  // not(required: []) admits nothing
    return Cap(t, *alts);
  }
  if (Only(keys, {"anyOf"})) {
    const JsonValue* a = v.Find("anyOf");
    if (!a->is_array()) return bad("anyOf must be an array");
    for (size_t i = 0; i < a->items().size(); ++i) {
      Loc sub{&a->items()[i], PtrJoin(PtrJoin(t.ptr, "anyOf"), std::to_string(i))};
      if (auto st = ApplyNot(sub, alts, depth + 1); !st.ok()) return st;
    }
    return absl::OkStatus();
  }
  if (Only(keys, {"allOf"})) {
    const JsonValue* a = v.Find("allOf");
    if (!a->is_array()) return bad("allOf must be an array");
    std::vector<Conj> out;
    for (size_t i = 0; i < a->items().size(); ++i) {
      std::vector<Conj> branch = *alts;
      Loc sub{&a->items()[i], PtrJoin(PtrJoin(t.ptr, "allOf"), std::to_string(i))};
      if (auto st = ApplyNot(sub, &branch, depth + 1); !st.ok()) return st;
      out.insert(out.end(), branch.begin(), branch.end());
    }
    *alts = std::move(out);
    return Cap(t, *alts);
  }
  if (Only(keys, {"pattern"})) {
    const JsonValue* p = v.Find("pattern");
    if (!p->is_string()) return bad("pattern must be a string");
    for (Conj& c : *alts) c.str.not_patterns.push_back(Loc{p, PtrJoin(t.ptr, "pattern")});
    return absl::OkStatus();
  }
  if (Only(keys, {"properties", "required"})) {
    // not(P and R): some listed property present and failing its schema, or a required one
    // missing. Non-objects satisfy P and R, so they fail the negation.
    std::vector<Conj> out;
    if (const JsonValue* p = v.Find("properties"); p != nullptr && p->is_object()) {
      for (const auto& [name, ps] : p->members()) {
        const std::string ptr = PtrJoin(PtrJoin(t.ptr, "properties"), name);
        Loc neg = doc_.Synth(JsonValue::Object({{"not", ps}}), ptr);
        for (Conj c : *alts) {
          c.types &= kTObj;
          Require(&c, name);
          AddProp(&c, name, neg);
          out.push_back(std::move(c));
        }
      }
    }
    if (const JsonValue* r = v.Find("required"); r != nullptr && r->is_array()) {
      for (const auto& name : r->items()) {
        if (!name.is_string()) continue;
        for (Conj c : *alts) {
          c.types &= kTObj;
          Forbid(&c, name.str());
          out.push_back(std::move(c));
        }
      }
    }
    *alts = std::move(out);
    return Cap(t, *alts);
  }
  if (doc_.options().strict) {
    return bad(
        StrCat("only not of type, enum, const, required, pattern, properties, anyOf, "
               "allOf is supported (found '",
               keys[0], "')"));
  }
  return absl::OkStatus();
}

absl::Status Normalizer::ApplyIf(const Loc& s, std::vector<Conj>* alts, int depth) {
  const JsonValue* iv = s.v->Find("if");
  const JsonValue* tv = s.v->Find("then");
  const JsonValue* ev = s.v->Find("else");
  const Loc iloc{iv, PtrJoin(s.ptr, "if")};
  const Loc tloc{tv, PtrJoin(s.ptr, "then")};
  const Loc eloc{ev, PtrJoin(s.ptr, "else")};
  if (tv == nullptr && ev == nullptr) return absl::OkStatus();
  if (iv->is_bool()) {
    const JsonValue* branch = iv->as_bool() ? tv : ev;
    if (branch == nullptr) return absl::OkStatus();
    return Apply(iv->as_bool() ? tloc : eloc, alts, depth + 1);
  }
  if (!iv->is_object()) return doc_.Unsupported(s.ptr, "if", "must be a schema");
  const std::vector<std::string> keys = Keywords(*iv);
  const JsonValue* type = iv->Find("type");
  const bool type_object = type != nullptr && type->is_string() && type->str() == "object";
  if (!Only(keys, {"properties", "required", "type"}) || (type != nullptr && !type_object)) {
    if (!doc_.options().strict) return absl::OkStatus();
    return doc_.Unsupported(s.ptr, "if",
                            "only conditions on properties and required are supported");
  }
  // (if and then) or (not if and else).
  std::vector<Conj> yes = *alts;
  if (auto st = Apply(iloc, &yes, depth + 1); !st.ok()) return st;
  if (tv != nullptr) {
    if (auto st = Apply(tloc, &yes, depth + 1); !st.ok()) return st;
  }
  std::vector<Conj> no;
  auto add_no = [&](std::vector<Conj> part) -> absl::Status {
    if (ev != nullptr) {
      if (auto st = Apply(eloc, &part, depth + 1); !st.ok()) return st;
    }
    no.insert(no.end(), part.begin(), part.end());
    return absl::OkStatus();
  };
  if (type_object) {
    std::vector<Conj> part = *alts;
    for (Conj& c : part) c.types &= ~kTObj;
    if (auto st = add_no(std::move(part)); !st.ok()) return st;
  }
  if (const JsonValue* p = iv->Find("properties"); p != nullptr && p->is_object()) {
    for (const auto& [name, ps] : p->members()) {
      const std::string ptr = PtrJoin(PtrJoin(iloc.ptr, "properties"), name);
      Loc neg = doc_.Synth(JsonValue::Object({{"not", ps}}), ptr);
      std::vector<Conj> part = *alts;
      for (Conj& c : part) {
        c.types &= kTObj;
        Require(&c, name);
        AddProp(&c, name, neg);
      }
      if (auto st = add_no(std::move(part)); !st.ok()) return st;
    }
  }
  if (const JsonValue* r = iv->Find("required"); r != nullptr && r->is_array()) {
    for (const auto& name : r->items()) {
      if (!name.is_string()) continue;
      std::vector<Conj> part = *alts;
      for (Conj& c : part) {
        c.types &= kTObj;
        Forbid(&c, name.str());
      }
      if (auto st = add_no(std::move(part)); !st.ok()) return st;
    }
  }
  alts->clear();
  for (auto* v : {&yes, &no}) {
    for (Conj& c : *v) {
      if (c.types != 0) alts->push_back(std::move(c));
    }
  }
  return Cap(s, *alts);
}

absl::Status Normalizer::ApplyOneOf(const Loc& s, std::vector<Conj>* alts, int depth) {
  const JsonValue* val = s.v->Find("oneOf");
  const std::string kptr = PtrJoin(s.ptr, "oneOf");
  if (!val->is_array() || val->items().empty()) {
    return doc_.Unsupported(s.ptr, "oneOf", "must be a non-empty array");
  }
  const size_t n = val->items().size();
  std::vector<Loc> subs;
  for (size_t i = 0; i < n; ++i)
    subs.push_back(Loc{&val->items()[i], PtrJoin(kptr, std::to_string(i))});
  // Provably disjoint branches: oneOf is anyOf.
  std::vector<std::vector<Conj>> norm(n);
  bool disjoint = true;
  for (size_t i = 0; i < n && disjoint; ++i) {
    norm[i].resize(1);
    if (auto st = Apply(subs[i], &norm[i], depth + 1); !st.ok()) return st;
    norm[i].erase(
        std::remove_if(norm[i].begin(), norm[i].end(), [](const Conj& c) { return c.types == 0; }),
        norm[i].end());
    for (size_t j = 0; j < i && disjoint; ++j) {
      for (const Conj& a : norm[i]) {
        for (const Conj& b : norm[j]) disjoint = disjoint && Disjoint(a, b);
      }
    }
  }
  std::vector<Conj> out;
  if (disjoint || !doc_.options().strict) {
    for (size_t i = 0; i < n; ++i) {
      std::vector<Conj> branch = *alts;
      if (auto st = Apply(subs[i], &branch, depth + 1); !st.ok()) return st;
      for (Conj& c : branch) {
        if (c.types != 0) out.push_back(std::move(c));
      }
    }
  } else {
    // Exactly one: branch i and the negation of every other branch.
    for (size_t i = 0; i < n; ++i) {
      std::vector<Conj> branch = *alts;
      if (auto st = Apply(subs[i], &branch, depth + 1); !st.ok()) return st;
      for (size_t j = 0; j < n; ++j) {
        if (j == i) continue;
        if (auto st = ApplyNot(subs[j], &branch, depth + 1); !st.ok()) {
          return doc_.Unsupported(
              s.ptr, "oneOf",
              StrCat("branches may overlap and branch ", j, " cannot be negated: ", st.message()));
        }
        if (branch.size() > 64) break;
      }
      for (Conj& c : branch) {
        if (c.types != 0) out.push_back(std::move(c));
      }
      if (out.size() > 64) break;
    }
  }
  *alts = std::move(out);
  return Cap(s, *alts);
}

bool Normalizer::Disjoint(const Conj& a, const Conj& b, int depth) const {
  if (depth > 4) return false;
  const uint8_t common = a.types & b.types;
  if (common == 0) return true;
  auto enum_kinds = [](const Conj& c) {
    uint8_t m = 0;
    for (const auto& v : *c.enums) {
      switch (v.kind()) {
        case JsonValue::Kind::kNull:
          m |= kTNull;
          break;
        case JsonValue::Kind::kBool:
          m |= kTBool;
          break;
        case JsonValue::Kind::kNumber:
          m |= v.is_integral() ? kTInt : kTFrac;
          break;
        case JsonValue::Kind::kString:
          m |= kTStr;
          break;
        case JsonValue::Kind::kArray:
          m |= kTArr;
          break;
        case JsonValue::Kind::kObject:
          m |= kTObj;
          break;
      }
    }
    return m;
  };
  if (a.enums && b.enums) {
    for (const auto& x : *a.enums) {
      for (const auto& y : *b.enums) {
        if (x.Equals(y)) return false;
      }
    }
    return true;
  }
  uint8_t live = common;
  if (a.enums) live &= enum_kinds(a);
  if (b.enums) live &= enum_kinds(b);
  for (int bit = 1; bit < 128; bit <<= 1) {
    if ((live & bit) == 0) continue;
    bool ok = false;
    if (bit == kTObj) {
      // A property required by one side and forbidden or left out by the other.
      auto excludes = [](const Conj& x, const std::string& name) {
        if (std::find(x.obj.forbidden.begin(), x.obj.forbidden.end(), name) !=
            x.obj.forbidden.end()) {
          return true;
        }
        if (x.obj.props.count(name)) return false;
        for (const auto& br : x.obj.branches) {
          if (std::find(br.names.begin(), br.names.end(), name) != br.names.end()) continue;
          if (br.patterns.empty() && br.additional && br.additional->v->is_bool() &&
              !br.additional->v->as_bool()) {
            return true;
          }
        }
        return false;
      };
      for (const auto& r : a.obj.required) ok = ok || excludes(b, r);
      for (const auto& r : b.obj.required) ok = ok || excludes(a, r);
      // A property both require, with constant values that differ.
      for (const auto& r : a.obj.required) {
        if (ok) break;
        if (std::find(b.obj.required.begin(), b.obj.required.end(), r) == b.obj.required.end())
          continue;
        auto ia = a.obj.props.find(r), ib = b.obj.props.find(r);
        if (ia == a.obj.props.end() || ib == b.obj.props.end()) continue;
        Normalizer sub(doc_);
        auto na = sub.Normalize(ia->second), nb = sub.Normalize(ib->second);
        if (!na.ok() || !nb.ok()) continue;
        bool all = true;
        for (const Conj& x : *na) {
          for (const Conj& y : *nb) {
            all = all && Disjoint(x, y, depth + 1);
          }
        }
        ok = all;
      }
    } else if (bit == kTInt || bit == kTFrac) {
      const auto &x = a.num.b, &y = b.num.b;
      auto below = [](const NumberBounds& p, const NumberBounds& q) {  // p entirely below q
        if (!p.hi || !q.lo) return false;
        const int c = Compare(*p.hi, *q.lo);
        return c < 0 || (c == 0 && (p.hi_excl || q.lo_excl));
      };
      ok = below(x, y) || below(y, x);
    } else if (bit == kTBool) {
      ok = (a.no_true || b.no_true) && (a.no_false || b.no_false);
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace phx::grammar
