#include "runtime/chat/tool_gbnf.h"

#include <algorithm>
#include <cstdint>

#include "runtime/chat/tool_calls.h"

namespace phx::chat {
namespace {

using ojson = nlohmann::ordered_json;

constexpr int kMaxDepth = 64;
// Counts above this (minItems, maxLength, ...) are approximated: a larger lower bound by this
// one, a larger upper bound by none (the grammar stays small; it allows a superset).
constexpr int64_t kMaxCount = 100;

// Whitespace: `ws` between JSON tokens, one space at most (a small model spends no tokens on
// layout; JSON written as json.dumps writes it fits); `sp` around a format's wrapper text
// (newlines and indentation as templates write them).
constexpr const char* kBase[][2] = {
    {"ws", "\" \"?"},
    {"sp", "[ \\t\\n]{0,8}"},
    {"value", "object | array | string | number | boolean | null"},
    {"object",
     "\"{\" ws ( string ws \":\" ws value ws ( \",\" ws string ws \":\" ws value ws )* )? \"}\""},
    {"array", "\"[\" ws ( value ws ( \",\" ws value ws )* )? \"]\""},
    {"string", "\"\\\"\" char* \"\\\"\""},
    {"char", "[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4} )"},
    {"number", "\"-\"? ( \"0\" | [1-9] [0-9]* ) ( \".\" [0-9]+ )? ( [eE] [-+]? [0-9]+ )?"},
    {"integer", "\"-\"? ( \"0\" | [1-9] [0-9]* )"},
    {"boolean", "\"true\" | \"false\""},
    {"null", "\"null\""},
};

std::string Sanitize(std::string_view s) {
  std::string out;
  for (char c : s) {
    const bool word = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out.push_back(word ? c : '-');
    if (out.size() >= 40) break;
  }
  return out.empty() ? "r" : out;
}

// minX (dflt 0) or maxX (dflt -1: none) of `s`, within what the grammar spells out.
int64_t Count(const ojson& s, const char* key, int64_t dflt) {
  auto it = s.find(key);
  if (it == s.end() || !it->is_number_integer()) return dflt;
  const int64_t v = std::max<int64_t>(it->get<int64_t>(), 0);
  if (v <= kMaxCount) return v;
  return dflt < 0 ? -1 : kMaxCount;
}

// Bounds [lo, hi] that cannot both hold: no instance satisfies them; the grammar uses lo.
void Order(int64_t lo, int64_t* hi) {
  if (*hi >= 0 && *hi < lo) *hi = lo;
}

// `( x ){m,n}` in GBNF (n < 0: unbounded).
std::string Repeat(const std::string& x, int64_t m, int64_t n) {
  if (m == 0 && n < 0) return "( " + x + " )*";
  if (n < 0) return "( " + x + " ){" + std::to_string(m) + ",}";
  return "( " + x + " ){" + std::to_string(m) + "," + std::to_string(n) + "}";
}

}  // namespace

std::string GbnfLiteral(std::string_view bytes) {
  std::string out = "\"";
  for (char c : bytes) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out.push_back(c);
    }
  }
  return out + "\"";
}

GbnfBuilder::GbnfBuilder() {
  for (const auto& r : kBase) Rule(r[0], r[1]);
}

std::string GbnfBuilder::Rule(std::string_view name, const std::string& body) {
  std::string n = Sanitize(name);
  if (int& k = used_[n]; k++ > 0) n += "-" + std::to_string(k);
  rules_.emplace_back(n, body);
  return n;
}

std::string GbnfBuilder::Text() const {
  std::string out;
  for (const auto& [name, body] : rules_) {
    if (name == "root") out = name + " ::= " + body + "\n" + out;
  }
  for (const auto& [name, body] : rules_) {
    if (name != "root") out += name + " ::= " + body + "\n";
  }
  return out;
}

std::string GbnfBuilder::Schema(const ojson& schema, const ojson& root, std::string_view hint) {
  return Visit(schema, root, Sanitize(hint), 0);
}

std::string GbnfBuilder::Visit(const ojson& s, const ojson& root, const std::string& hint,
                               int depth) {
  if (depth > kMaxDepth || !s.is_object()) return "value";  // true, false, {}: any value
  if (auto r = s.find("$ref"); r != s.end() && r->is_string()) {
    return Ref(r->get<std::string>(), root, depth);
  }
  if (auto c = s.find("const"); c != s.end()) return Rule(hint, GbnfLiteral(c->dump()));
  if (auto e = s.find("enum"); e != s.end() && e->is_array() && !e->empty()) {
    std::string body;
    for (const ojson& v : *e) body += (body.empty() ? "" : " | ") + GbnfLiteral(v.dump());
    return Rule(hint, body);
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    auto a = s.find(key);
    if (a == s.end() || !a->is_array() || a->empty()) continue;
    std::string body;
    for (size_t i = 0; i < a->size(); ++i) {
      body += (body.empty() ? "" : " | ") +
              Visit((*a)[i], root, hint + "-" + std::to_string(i), depth + 1);
    }
    return Rule(hint, body);
  }
  if (auto a = s.find("allOf"); a != s.end() && a->is_array() && a->size() == 1) {
    return Visit((*a)[0], root, hint, depth + 1);
  }
  std::vector<std::string> types;
  if (auto t = s.find("type"); t != s.end()) {
    if (t->is_string()) types.push_back(t->get<std::string>());
    if (t->is_array()) {
      for (const ojson& e : *t) {
        if (e.is_string()) types.push_back(e.get<std::string>());
      }
    }
  } else if (s.contains("properties") || s.contains("additionalProperties")) {
    types.push_back("object");
  } else if (s.contains("items")) {
    types.push_back("array");
  }
  if (types.empty()) return "value";
  std::string body;
  for (const std::string& t : types) {
    std::string x = "value";
    if (t == "object" || t == "array") {  // '{' or '[' first: nothing left-recursive inside
      std::set<std::string> open;
      open.swap(left_open_);
      x = t == "object" ? Object(s, root, hint, depth) : Array(s, root, hint, depth);
      open.swap(left_open_);
    } else if (t == "string") {
      x = String(s);
    } else if (t == "integer" || t == "number" || t == "boolean" || t == "null") {
      x = t;
    }
    body += (body.empty() ? "" : " | ") + x;
  }
  return types.size() == 1 ? body : Rule(hint, body);
}

std::string GbnfBuilder::Object(const ojson& s, const ojson& root, const std::string& hint,
                                int depth) {
  std::vector<std::pair<std::string, const ojson*>> props;
  if (auto p = s.find("properties"); p != s.end() && p->is_object()) {
    for (auto it = p->begin(); it != p->end(); ++it) props.emplace_back(it.key(), &*it);
  }
  std::vector<std::string> required;
  if (auto r = s.find("required"); r != s.end() && r->is_array()) {
    for (const ojson& e : *r) {
      if (e.is_string()) required.push_back(e.get<std::string>());
    }
  }
  // Undeclared members: where additionalProperties allows them in so many words, or where
  // nothing is declared at all.
  std::string extra;
  auto ap = s.find("additionalProperties");
  if (ap != s.end() && (ap->is_object() || (ap->is_boolean() && ap->get<bool>()))) {
    extra = ap->is_object() ? Visit(*ap, root, hint + "-additional", depth + 1) : "value";
  } else if (ap == s.end() && props.empty()) {
    return "object";
  }
  const std::string extra_kv = extra.empty() ? "" : "string ws \":\" ws " + extra + " ws";
  // b[k]: members k.. after at least one was written; a[k]: none written yet.
  std::string b = extra.empty() ? "\"\"" : Repeat("\",\" ws " + extra_kv, 0, -1);
  std::string a = extra.empty() ? "\"\"" : "( " + extra_kv + " " + b + " )?";
  for (size_t k = props.size(); k-- > 0;) {
    const std::string& key = props[k].first;
    const std::string kv = Rule(hint + "-" + key + "-kv",
                                GbnfLiteral(ojson(key).dump()) + " ws \":\" ws " +
                                    Visit(*props[k].second, root, hint + "-" + key, depth + 1));
    const bool req = std::find(required.begin(), required.end(), key) != required.end();
    const std::string nb =
        Rule(hint + "-b", req ? "\",\" ws " + kv + " ws " + b : "( \",\" ws " + kv + " ws )? " + b);
    const std::string na = Rule(hint + "-a", req ? kv + " ws " + b : kv + " ws " + b + " | " + a);
    b = nb;
    a = na;
  }
  return Rule(hint, "\"{\" ws " + a + " \"}\"");
}

std::string GbnfBuilder::Array(const ojson& s, const ojson& root, const std::string& hint,
                               int depth) {
  std::string item = "value";
  if (auto it = s.find("items"); it != s.end() && it->is_object()) {
    item = Visit(*it, root, hint + "-item", depth + 1);
  }
  const int64_t lo = Count(s, "minItems", 0);
  int64_t hi = Count(s, "maxItems", -1);
  Order(lo, &hi);
  if (hi == 0) return Rule(hint, "\"[\" ws \"]\"");
  const std::string rest =
      Repeat("\",\" ws " + item + " ws", std::max<int64_t>(lo - 1, 0), hi < 0 ? -1 : hi - 1);
  const std::string elems = item + " ws " + rest;
  return Rule(hint, "\"[\" ws " + (lo == 0 ? "( " + elems + " )?" : elems) + " \"]\"");
}

std::string GbnfBuilder::String(const ojson& s) {
  const int64_t lo = Count(s, "minLength", 0);
  int64_t hi = Count(s, "maxLength", -1);
  Order(lo, &hi);
  if (lo == 0 && hi < 0) return "string";
  return Rule("string-len", "\"\\\"\" " + Repeat("char", lo, hi) + " \"\\\"\"");
}

std::string GbnfBuilder::Ref(const std::string& ref, const ojson& root, int depth) {
  const auto key = std::make_pair(static_cast<const void*>(&root), ref);
  if (auto it = refs_.find(key); it != refs_.end()) {
    // Left recursion: the reference adds no instance the other branches do not already match
    // (the schema's least fixed point), but GBNF cannot say so; any value, as for a remote
    // reference, keeps the grammar compilable and never rejects a valid instance.
    return left_open_.count(it->second) ? "value" : it->second;
  }
  if (ref.empty() || ref[0] != '#') return "value";  // remote references: any value
  const ojson* target = &root;
  if (ref.size() > 1) {
    try {
      target = &root.at(ojson::json_pointer(ref.substr(1)));
    } catch (const std::exception&) {
      return "value";
    }
  }
  // Named before its body is built, so a recursive schema refers to itself.
  std::string name = Sanitize("ref-" + ref.substr(ref.rfind('/') + 1));
  if (int& k = used_[name]; k++ > 0) name += "-" + std::to_string(k);
  refs_[key] = name;
  left_open_.insert(name);
  const std::string body = Visit(*target, root, name + "-v", depth + 1);
  left_open_.erase(name);
  rules_.emplace_back(name, body);
  return name;
}

std::string SchemaToGbnf(const ojson& schema) {
  GbnfBuilder b;
  const std::string top = b.Schema(schema, schema, "schema");
  b.Rule("root", top + " ws");
  return b.Text();
}

}  // namespace phx::chat
