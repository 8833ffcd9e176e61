// The JSON-schema compiler's intermediate form. A schema (a conjunction of schema locations,
// SubRef) is normalized into a disjunction of Conj: each Conj is a plain conjunction of
// per-type constraints (allOf merged into it, anyOf/oneOf/if/dependencies distributed over the
// disjunction). Subschemas of properties and items stay SubRefs, compiled lazily by the
// emitter (recursion through $ref ends there).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/grammar/engine.h"
#include "runtime/grammar/json_value.h"
#include "runtime/grammar/schema_lex.h"

namespace phx::grammar {

// A schema in the document: the node and its JSON pointer (for error messages).
struct Loc {
  const JsonValue* v = nullptr;
  std::string ptr;
};
using SubRef = std::vector<Loc>;  // all of them must hold

enum TypeBit : uint8_t {
  kTNull = 1,
  kTBool = 2,
  kTInt = 4,   // integral numbers
  kTFrac = 8,  // numbers with a fraction
  kTStr = 16,
  kTArr = 32,
  kTObj = 64,
  kTAll = 127,
};

struct NumC {
  NumberBounds b;
  std::vector<uint64_t> multiples;  // integral multipleOf values
  std::vector<Decimal> excluded;
};

struct StrC {
  int64_t min = 0, max = -1;
  std::vector<Loc> patterns, not_patterns;
  std::vector<std::string> formats;
  std::vector<std::string> excluded;
};

struct ContainsC {
  SubRef schema;
  int64_t min = 1, max = -1;
};

struct ArrC {
  std::vector<SubRef> prefix;  // positional schemas
  SubRef rest;                 // the items after the prefix
  bool rest_never = false;     // no items after the prefix
  int64_t min = 0, max = -1;
  std::vector<ContainsC> contains;
  bool unique = false;
  std::string unique_ptr;
};

// One object schema's rule for keys outside its `properties` (AND-ed across allOf).
struct ObjBranch {
  std::vector<std::string> names;
  std::vector<std::pair<Loc, Loc>> patterns;  // (pattern string, schema)
  std::optional<Loc> additional;              // absent: anything
};

struct ObjC {
  std::vector<std::string> order;  // defined properties, in order
  std::map<std::string, SubRef> props;
  std::vector<ObjBranch> branches;
  std::vector<std::string> required, forbidden;
  SubRef names;  // propertyNames
  int64_t min = 0, max = -1;
  bool touched = false;  // any object keyword applied
};

struct Conj {
  uint8_t types = kTAll;
  bool no_true = false, no_false = false;
  std::optional<std::vector<JsonValue>> enums;  // allowed values
  NumC num;
  StrC str;
  ArrC arr;
  ObjC obj;
};

enum class Draft { k3 = 3, k4 = 4, k6 = 6, k7 = 7, k2019 = 2019, k2020 = 2020 };

// The schema document: draft, $ref resolution, nodes the compiler synthesizes.
class SchemaDoc {
 public:
  SchemaDoc(const JsonValue& root, const JsonSchemaOptions& opt);
  const Loc& root() const { return root_; }
  Draft draft() const { return draft_; }
  const JsonSchemaOptions& options() const { return opt_; }
  absl::StatusOr<Loc> Resolve(const Loc& from, std::string_view ref) const;
  // Keeps `v` alive for the compilation; `ptr` names it in errors.
  Loc Synth(JsonValue v, std::string ptr);
  // An error naming the pointer and keyword.
  absl::Status Unsupported(const std::string& ptr, std::string_view keyword,
                           std::string_view why) const;

 private:
  Loc root_;
  Draft draft_ = Draft::k2020;
  JsonSchemaOptions opt_;
  std::deque<JsonValue> synth_;
  std::vector<std::pair<std::string, Loc>> ids_;  // $id / id values
  std::vector<std::pair<std::string, Loc>> anchors_;
};

// Normalizes schemas into disjunctions of Conj.
class Normalizer {
 public:
  explicit Normalizer(SchemaDoc& doc) : doc_(doc) {}
  absl::StatusOr<std::vector<Conj>> Normalize(const SubRef& refs);

 private:
  absl::Status Apply(const Loc& s, std::vector<Conj>* alts, int depth);
  absl::Status ApplyKeyword(const Loc& s, const std::string& key, const JsonValue& val,
                            std::vector<Conj>* alts, int depth);
  absl::Status ApplyNot(const Loc& s, std::vector<Conj>* alts, int depth);
  absl::Status ApplyIf(const Loc& s, std::vector<Conj>* alts, int depth);
  absl::Status ApplyOneOf(const Loc& s, std::vector<Conj>* alts, int depth);
  absl::Status Cap(const Loc& s, const std::vector<Conj>& alts) const;
  // Conservative: true only if no value satisfies both.
  bool Disjoint(const Conj& a, const Conj& b, int depth = 0) const;

  SchemaDoc& doc_;
};

// Appends `suffix` (a key or index) to a JSON pointer.
std::string PtrJoin(const std::string& ptr, std::string_view suffix);

}  // namespace phx::grammar
