// SchemaDoc: draft detection, $ref resolution (JSON pointers, anchors, embedded $id
// resources), synthesized nodes and error messages.
#include <cstdlib>

#include "absl/status/status.h"
#include "base/strings.h"
#include "runtime/grammar/schema_ir.h"

namespace phx::grammar {

std::string PtrJoin(const std::string& ptr, std::string_view suffix) {
  std::string out = ptr + "/";
  for (char c : suffix) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

namespace {

void Scan(const JsonValue& v, const std::string& ptr, bool draft4,
          std::vector<std::pair<std::string, Loc>>* ids,
          std::vector<std::pair<std::string, Loc>>* anchors, int depth) {
  if (depth > 256) return;
  if (v.is_object()) {
    for (const auto& [k, x] : v.members()) {
      if (x.is_string()) {
        if (k == "$id" || (draft4 && k == "id")) {
          const std::string& id = x.str();
          if (!id.empty() && id[0] == '#') {
            anchors->push_back({id.substr(1), Loc{&v, ptr}});
          } else {
            ids->push_back({id, Loc{&v, ptr}});
          }
        } else if (k == "$anchor") {
          anchors->push_back({x.str(), Loc{&v, ptr}});
        }
      }
      Scan(x, PtrJoin(ptr, k), draft4, ids, anchors, depth + 1);
    }
  } else if (v.is_array()) {
    for (size_t i = 0; i < v.items().size(); ++i) {
      Scan(v.items()[i], PtrJoin(ptr, std::to_string(i)), draft4, ids, anchors, depth + 1);
    }
  }
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const std::string hex(s.substr(i + 1, 2));
      char* end = nullptr;
      const long v = std::strtol(hex.c_str(), &end, 16);
      if (end == hex.c_str() + 2) {
        out.push_back(static_cast<char>(v));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// Strips a trailing '#' and an empty fragment; compares URIs by their last path segment too.
std::string_view Base(std::string_view uri) {
  while (!uri.empty() && uri.back() == '#') uri.remove_suffix(1);
  return uri;
}
std::string_view LastSegment(std::string_view uri) {
  uri = Base(uri);
  const size_t slash = uri.rfind('/');
  return slash == std::string_view::npos ? uri : uri.substr(slash + 1);
}

}  // namespace

SchemaDoc::SchemaDoc(const JsonValue& root, const JsonSchemaOptions& opt)
    : root_{&root, ""}, opt_(opt) {
  if (root.is_object()) {
    if (const JsonValue* s = root.Find("$schema"); s != nullptr && s->is_string()) {
      const std::string& u = s->str();
      if (u.find("draft-03") != std::string::npos) {
        draft_ = Draft::k3;
      } else if (u.find("draft-04") != std::string::npos) {
        draft_ = Draft::k4;
      } else if (u.find("draft-06") != std::string::npos) {
        draft_ = Draft::k6;
      } else if (u.find("draft-07") != std::string::npos) {
        draft_ = Draft::k7;
      } else if (u.find("2019-09") != std::string::npos) {
        draft_ = Draft::k2019;
      }
    }
  }
  Scan(root, "", draft_ <= Draft::k4, &ids_, &anchors_, 0);
}

Loc SchemaDoc::Synth(JsonValue v, std::string ptr) {
  synth_.push_back(std::move(v));
  return Loc{&synth_.back(), std::move(ptr)};
}

absl::Status SchemaDoc::Unsupported(const std::string& ptr, std::string_view keyword,
                                    std::string_view why) const {
  return absl::InvalidArgumentError(
      StrCat("schema ", ptr.empty() ? "#" : "#" + ptr, ": keyword '", keyword, "': ", why));
}

absl::StatusOr<Loc> SchemaDoc::Resolve(const Loc& from, std::string_view ref) const {
  std::string_view uri = ref, frag;
  const size_t hash = ref.find('#');
  if (hash != std::string_view::npos) {
    uri = ref.substr(0, hash);
    frag = ref.substr(hash + 1);
  }
  Loc base = root_;
  if (!uri.empty()) {
    bool found = false;
    const JsonValue* rid = root_.v->is_object() ? root_.v->Find("$id") : nullptr;
    if (rid == nullptr && draft_ <= Draft::k4 && root_.v->is_object()) rid = root_.v->Find("id");
    if (rid != nullptr && rid->is_string() && Base(rid->str()) == Base(uri)) found = true;
    for (const auto& [id, loc] : ids_) {
      if (found) break;
      if (Base(id) == Base(uri) ||
          (LastSegment(id) == LastSegment(uri) && !LastSegment(uri).empty())) {
        base = loc;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(StrCat("schema #", from.ptr,
                                               ": keyword '$ref': cannot resolve '", ref,
                                               "' (only references inside the schema)"));
    }
  }
  const std::string f = PercentDecode(frag);
  if (f.empty()) return base;
  if (f[0] != '/') {
    for (const auto& [name, loc] : anchors_) {
      if (name == f) return loc;
    }
    return absl::InvalidArgumentError(
        StrCat("schema #", from.ptr, ": keyword '$ref': unknown anchor '", f, "'"));
  }
  Loc cur = base;
  size_t pos = 1;
  while (pos <= f.size()) {
    size_t next = f.find('/', pos);
    if (next == std::string::npos) next = f.size();
    std::string tok;
    for (size_t i = pos; i < next; ++i) {
      if (f[i] == '~' && i + 1 < next && (f[i + 1] == '0' || f[i + 1] == '1')) {
        tok.push_back(f[i + 1] == '0' ? '~' : '/');
        ++i;
      } else {
        tok.push_back(f[i]);
      }
    }
    const JsonValue* nxt = nullptr;
    if (cur.v->is_object()) {
      nxt = cur.v->Find(tok);
    } else if (cur.v->is_array()) {
      char* end = nullptr;
      const long idx = std::strtol(tok.c_str(), &end, 10);
      if (!tok.empty() && *end == 0 && idx >= 0 &&
          static_cast<size_t>(idx) < cur.v->items().size()) {
        nxt = &cur.v->items()[idx];
      }
    }
    if (nxt == nullptr) {
      return absl::InvalidArgumentError(
          StrCat("schema #", from.ptr, ": keyword '$ref': '", ref, "' points nowhere"));
    }
    cur = Loc{nxt, PtrJoin(cur.ptr, tok)};
    pos = next + 1;
  }
  return cur;
}

}  // namespace phx::grammar
