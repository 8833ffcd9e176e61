// JSON schema -> GBNF rules (tool-call grammars wrap the arguments' schemas in each format's
// literal text). Enforced: type (and type lists), properties/required (in `properties` order),
// additionalProperties (undeclared members only when it is true or a schema), items,
// minItems/maxItems, minLength/maxLength, enum, const, anyOf/oneOf (as anyOf), a single allOf,
// local $ref (#, #/$defs/.., #/definitions/.., recursive). Approximated by a superset: pattern,
// format, numeric bounds, multipleOf, not, if/then/else, allOf of several, prefixItems, and
// every other keyword (the grammar engine's JSON-schema compiler validates the schema first).
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace phx::chat {

// A GBNF literal ("...") for raw bytes.
std::string GbnfLiteral(std::string_view bytes);

class GbnfBuilder {
 public:
  GbnfBuilder();
  // A rule matching the instances of `schema`, whose local $refs resolve in `root`; returns its
  // name. `hint` names the rule.
  std::string Schema(const nlohmann::ordered_json& schema, const nlohmann::ordered_json& root,
                     std::string_view hint);
  // Adds `name ::= body` (a fresh name derived from `name` when taken); returns the name.
  std::string Rule(std::string_view name, const std::string& body);
  // The rules written so far, `root` first when there is one.
  std::string Text() const;

 private:
  std::string Visit(const nlohmann::ordered_json& s, const nlohmann::ordered_json& root,
                    const std::string& hint, int depth);
  std::string Object(const nlohmann::ordered_json& s, const nlohmann::ordered_json& root,
                     const std::string& hint, int depth);
  std::string Array(const nlohmann::ordered_json& s, const nlohmann::ordered_json& root,
                    const std::string& hint, int depth);
  std::string String(const nlohmann::ordered_json& s);
  std::string Ref(const std::string& ref, const nlohmann::ordered_json& root, int depth);

  std::vector<std::pair<std::string, std::string>> rules_;
  std::map<std::string, int> used_;
  // $ref targets already named, per root document (keyed by the root's address and the ref).
  std::map<std::pair<const void*, std::string>, std::string> refs_;
  // $ref rules being built with nothing consumed since they started (no object or array
  // entered): a reference back to one of them would be left recursion, which no grammar
  // compiles ({"$ref": "#"} at the root, or anyOf a branch that refers to the schema itself).
  std::set<std::string> left_open_;
};

}  // namespace phx::chat
