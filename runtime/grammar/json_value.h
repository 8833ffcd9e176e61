// A JSON document model for schemas and instances: objects keep their key order (as Python's
// json.loads does: a repeated key keeps its first position and takes its last value), numbers
// keep their source text so integers of any size stay exact, and PyDumps serializes like
// Python's json.dumps(value, ensure_ascii=False).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace phx::grammar {

class JsonValue {
 public:
  enum class Kind : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;
  static JsonValue Null() { return JsonValue(); }
  static JsonValue Bool(bool b);
  // `text` is a JSON number literal (or NaN, Infinity, -Infinity).
  static JsonValue Number(std::string text);
  static JsonValue String(std::string s);
  static JsonValue Array(std::vector<JsonValue> items = {});
  static JsonValue Object(std::vector<Member> members = {});

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::kNull; }
  bool is_bool() const { return kind_ == Kind::kBool; }
  bool is_number() const { return kind_ == Kind::kNumber; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_array() const { return kind_ == Kind::kArray; }
  bool is_object() const { return kind_ == Kind::kObject; }

  bool as_bool() const { return bool_; }
  // Number: the literal as written; string: the decoded UTF-8 text.
  const std::string& str() const { return text_; }
  // Number: true when the literal has no fraction or exponent (Python int).
  bool is_integer_literal() const { return bool_; }
  // Number value (inf for overflow, as Python's float()).
  double number() const { return num_; }
  // Number: integral in value (1, 1.0, 1e3); Python's float.is_integer() for float literals.
  bool is_integral() const;

  const std::vector<JsonValue>& items() const { return items_; }
  std::vector<JsonValue>& items() { return items_; }
  const std::vector<Member>& members() const { return members_; }
  std::vector<Member>& members() { return members_; }
  // The member named `key`, or nullptr.
  const JsonValue* Find(std::string_view key) const;
  size_t size() const { return kind_ == Kind::kArray ? items_.size() : members_.size(); }

  // JSON-schema equality: numbers by value (1 == 1.0), bool never equals a number, objects
  // ignore key order.
  bool Equals(const JsonValue& other) const;

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;  // kBool: the value; kNumber: integer literal
  double num_ = 0;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

struct JsonParseOptions {
  // Accept NaN, Infinity and -Infinity as Python's json module does.
  bool allow_nan = true;
  // Nesting deeper than this is an error (bounded recursion on hostile input).
  int max_depth = 512;
};

// Parses one JSON text (surrounding whitespace allowed). Errors name the byte offset.
absl::StatusOr<JsonValue> ParseJson(std::string_view text, const JsonParseOptions& opt = {});

// Python's json.dumps(value, ensure_ascii=False): ", " and ": " separators, floats as Python's
// repr, integers exact.
std::string PyDumps(const JsonValue& v);

// Python's repr() of a float (shortest round-trip digits; exponent form below 1e-4 and from
// 1e16 on; "inf" is written as JSON's "Infinity").
std::string PyFloatRepr(double d);

// Appends `s` as a JSON string literal the way Python's json.dumps(ensure_ascii=False) does.
void AppendPyJsonString(std::string_view s, std::string* out);

// Compact serialization for cache keys and error messages (no spaces).
std::string CompactDump(const JsonValue& v);

}  // namespace phx::grammar
