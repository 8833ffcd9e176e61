// JSON-schema compiler: per keyword, texts the grammar must accept and texts it must refuse;
// keywords it cannot enforce are compile errors naming the JSON pointer and the keyword.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/grammar/engine.h"
#include "runtime/grammar/json_value.h"
#include "tests/unit/grammar_test_util.h"

namespace phx::grammar {
namespace {

using testing::Accepts;
using testing::AcceptsByTokens;
using testing::SmallEngine;

struct Case {
  const char* name;
  const char* schema;
  std::vector<std::string> accepted;
  std::vector<std::string> refused;
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"type_string",
       R"({"type":"string"})",
       {R"("")", R"("a\n\u00e9")", "\"é日本\""},
       {"1", "\"a", R"("\x")", "null"}},
      {"type_integer", R"({"type":"integer"})", {"0", "-12", "123"}, {"1.5", "01", "\"1\"", "-"}},
      {"type_number", R"({"type":"number"})", {"0", "-1.5e+3", "0.25", "1E-7"}, {".5", "1.", "+1"}},
      {"type_boolean_null",
       R"({"type":["boolean","null"]})",
       {"true", "false", "null"},
       {"0", "\"true\""}},
      {"enum_any",
       R"({"enum":[1,"a",null,[1,2],{"k":true}]})",
       {"1", "\"a\"", "null", "[1, 2]", "[1,2]", R"({"k": true})"},
       {"2", "\"b\"", "[1]", "{}"}},
      {"const", R"({"const":{"a":[1,"x"]}})", {R"({"a": [1, "x"]})"}, {R"({"a": [1]})", "{}"}},
      {"properties_order",
       R"({"type":"object","properties":{"a":{"type":"integer"},
         "b":{"type":"string"}},"required":["a"],"additionalProperties":false})",
       {R"({"a": 1})", R"({"a": 1, "b": "x"})"},
       {R"({"b": "x"})", R"({"a": 1, "c": 2})", R"({"a": "1"})", "{}"}},
      {"additional_schema",
       R"({"type":"object","properties":{"a":{"type":"integer"}},
         "additionalProperties":{"type":"boolean"}})",
       {R"({"a": 1, "z": true})", "{}", R"({"q": false})"},
       {R"({"z": 1})"}},
      {"pattern_properties",
       R"({"type":"object","patternProperties":{"^x-":{"type":"integer"}},
         "additionalProperties":false})",
       {R"({"x-a": 1})", "{}"},
       {R"({"y": 1})", R"({"x-a": "s"})"}},
      {"min_max_properties",
       R"({"type":"object","minProperties":1,"maxProperties":2})",
       {R"({"a": 1})", R"({"a": 1, "b": 2})"},
       {"{}", R"({"a": 1, "b": 2, "c": 3})"}},
      {"property_names",
       R"({"type":"object","propertyNames":{"maxLength":2}})",
       {R"({"ab": 1})", "{}"},
       {R"({"abc": 1})"}},
      {"items",
       R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})",
       {"[1]", "[1, 2, 3]"},
       {"[]", "[1, 2, 3, 4]", "[\"a\"]"}},
      {"prefix_items",
       R"({"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],
         "items":false})",
       {"[\"a\", 1]", "[\"a\"]", "[]"},
       {"[1]", "[\"a\", 1, 2]"}},
      {"contains",
       R"({"type":"array","items":{"type":"integer"},"contains":{"const":5}})",
       {"[5]", "[1, 5, 2]"},
       {"[]", "[1, 2]"}},
      {"string_length",
       R"({"type":"string","minLength":2,"maxLength":3})",
       {"\"ab\"", "\"abc\"", "\"é日\""},
       {"\"a\"", "\"abcd\""}},
      // Long bounds are counted at run time; where they are further apart than the longest
      // token, mask entries freeze the count.
      {"long_string_length",
       R"({"type":"string","minLength":130,"maxLength":140})",
       {"\"" + std::string(130, 'a') + "\"", "\"" + std::string(140, 'b') + "\"",
        "\"" + std::string(135, 'x') + "\\n\u00e9" + "\""},
       {"\"" + std::string(129, 'a') + "\"", "\"" + std::string(141, 'a') + "\"",
        "\"" + std::string(139, 'a') + "\\u00e9\u00e9\""}},
      {"long_max_short_min",
       R"({"type":"string","minLength":3,"maxLength":140})",
       {"\"abc\"", "\"" + std::string(140, 'b') + "\"", "\"\\n\\t\u00e9\""},
       {"\"ab\"", "\"\"", "\"" + std::string(141, 'a') + "\"", "\"\\n\""}},
      {"pattern",
       R"({"type":"string","pattern":"^[a-z]{2,3}-\\d+$"})",
       {"\"ab-1\"", "\"abc-42\""},
       {"\"a-1\"", "\"ab-\"", "\"AB-1\""}},
      {"pattern_search",
       R"({"type":"string","pattern":"a|bc"})",
       {"\"xxa\"", "\"bcz\""},
       {"\"b\"", "\"\""}},
      {"format_date",
       R"({"type":"string","format":"date"})",
       {"\"2026-12-06\""},
       {"\"2026-13-06\"", "\"2026-1-06\""}},
      {"format_date_time",
       R"({"type":"string","format":"date-time"})",
       {"\"2026-12-06T10:20:30Z\"", "\"2026-12-06T10:20:30.5+01:00\""},
       {"\"2026-12-06 10:20\"", "\"2026-12-06T25:00:00Z\""}},
      {"format_uuid",
       R"({"type":"string","format":"uuid"})",
       {"\"123e4567-e89b-12d3-a456-426614174000\""},
       {"\"123e4567\""}},
      {"format_ipv4",
       R"({"type":"string","format":"ipv4"})",
       {"\"192.168.0.1\""},
       {"\"256.1.1.1\"", "\"1.2.3\""}},
      {"format_email",
       R"({"type":"string","format":"email"})",
       {"\"a.b@example.com\""},
       {"\"ab\"", "\"@x.com\""}},
      {"integer_bounds",
       R"({"type":"integer","minimum":-5,"exclusiveMaximum":100})",
       {"-5", "0", "99"},
       {"-6", "100", "1000"}},
      {"number_bounds",
       R"({"type":"number","minimum":0,"maximum":1.5})",
       {"0", "1.5", "0.75"},
       {"-0.1", "1.51", "2"}},
      {"multiple_of", R"({"type":"integer","multipleOf":3})", {"0", "9", "-3"}, {"4", "10"}},
      {"any_of",
       R"({"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]})",
       {"1", "\"a\""},
       {"\"ab\"", "true"}},
      {"one_of", R"({"oneOf":[{"type":"integer"},{"type":"boolean"}]})", {"1", "true"}, {"\"a\""}},
      {"all_of",
       R"({"allOf":[{"type":"integer"},{"minimum":3}],"maximum":5})",
       {"3", "5"},
       {"2", "6"}},
      {"ref_defs",
       R"({"$defs":{"n":{"type":"integer"}},"type":"array","items":{"$ref":"#/$defs/n"}})",
       {"[1, 2]"},
       {"[\"a\"]"}},
      {"ref_recursive",
       R"({"definitions":{"t":{"type":"object","properties":{"c":{"type":"array",
         "items":{"$ref":"#/definitions/t"}}},"additionalProperties":false}},"$ref":"#/definitions/t"})",
       {"{}", R"({"c": [{}, {"c": [{"c": []}]}]})"},
       {R"({"c": [1]})", R"({"d": 1})"}},
      {"dependent_required",
       R"({"type":"object","properties":{"a":{},"b":{}},
         "dependentRequired":{"a":["b"]},"additionalProperties":false})",
       {"{}", R"({"b": 1})", R"({"a": 1, "b": 2})"},
       {R"({"a": 1})"}},
      {"not_type", R"({"not":{"type":"string"}})", {"1", "null", "[]"}, {"\"a\""}},
      {"if_then_else",
       R"({"type":"object","properties":{"a":{"type":"integer"},"b":{}},
         "if":{"properties":{"a":{"const":1}},"required":["a"]},"then":{"required":["b"]}})",
       {R"({"a": 1, "b": 2})", R"({"a": 2})", "{}"},
       {R"({"a": 1})"}},
      {"json_whitespace",
       R"({"type":"object","properties":{"a":{"type":"array"}}})",
       {"{ \"a\" : [ 1 , 2 ] }", "{\n  \"a\": [\n    1\n  ]\n}", "{\"a\":[]}"},
       {"{\"a\": [1,]}"}},
  };
  return cases;
}

TEST(GrammarSchemaTest, KeywordsAcceptAndRefuse) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    auto g = SmallEngine().CompileJsonSchema(c.schema);
    ASSERT_TRUE(g.ok()) << g.status();
    for (const std::string& t : c.accepted) {
      EXPECT_TRUE(Accepts(*g, t)) << "should accept: " << t;
      EXPECT_TRUE(AcceptsByTokens(*g, t)) << "should accept by tokens: " << t;
    }
    for (const std::string& t : c.refused) EXPECT_FALSE(Accepts(*g, t)) << "should refuse: " << t;
  }
}

// A keyword that cannot be enforced exactly is a compile error naming its pointer and itself;
// with strict off it is approximated instead.
TEST(GrammarSchemaTest, UnsupportedKeywordsNamePointer) {
  struct Bad {
    const char* schema;
    const char* pointer;
    const char* keyword;
  };
  const Bad bad[] = {
      {R"({"type":"object","properties":{"a":{"type":"number","multipleOf":0.1}}})",
       "#/properties/a", "multipleOf"},
      {R"({"type":"array","items":{"type":"object"},"uniqueItems":true})", "#", "uniqueItems"},
      {R"({"properties":{"x":{"$ref":"#/$defs/missing"}}})", "#/properties/x", "$ref"},
      {R"({"type":"string","pattern":"(a)\\1"})", "#", "pattern"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.schema);
    auto g = SmallEngine().CompileJsonSchema(b.schema);
    ASSERT_FALSE(g.ok());
    const std::string msg(g.status().message());
    EXPECT_NE(msg.find(b.pointer), std::string::npos) << msg;
    EXPECT_NE(msg.find(b.keyword), std::string::npos) << msg;
  }
  JsonSchemaOptions loose;
  loose.strict = false;
  auto g = SmallEngine().CompileJsonSchema(R"({"type":"number","multipleOf":0.1})", loose);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Accepts(*g, "0.3"));
}

TEST(GrammarSchemaTest, MalformedSchemaIsAnError) {
  for (const char* s : {"", "{", "[1,2", R"({"type":"strin"})", R"({"minLength":-1})"}) {
    EXPECT_FALSE(SmallEngine().CompileJsonSchema(s).ok()) << s;
  }
}

TEST(GrammarSchemaTest, JsonObjectAcceptsAnyObject) {
  auto g = SmallEngine().CompileJsonObject();
  ASSERT_TRUE(g.ok()) << g.status();
  for (const char* t : {"{}", R"({"a": [1, {"b": null}], "c": "\u00e9"})", "{ }"}) {
    EXPECT_TRUE(AcceptsByTokens(*g, t)) << t;
  }
  for (const char* t : {"[]", "1", "{\"a\"}", "{} {}"}) EXPECT_FALSE(Accepts(*g, t)) << t;
}

// Blanks: at most max_whitespace in a row, anywhere JSON allows them.
TEST(GrammarSchemaTest, WhitespaceIsBounded) {
  JsonSchemaOptions opt;
  opt.max_whitespace = 64;
  auto g = SmallEngine().CompileJsonSchema(R"({"type":"array"})", opt);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_TRUE(Accepts(*g, "[" + std::string(64, ' ') + "1]"));
  EXPECT_FALSE(Accepts(*g, "[" + std::string(65, ' ') + "1]"));
  EXPECT_TRUE(Accepts(*g, "[\n\t\r 1]"));
}

// Instances serialized with other whitespace (indent 2, no spaces) are accepted too.
TEST(GrammarSchemaTest, OtherSerializationsAccepted) {
  const char* schema = R"({"type":"object","properties":{"id":{"type":"integer"},
    "tags":{"type":"array","items":{"type":"string"}},"meta":{"type":"object",
    "properties":{"ok":{"type":"boolean"}},"additionalProperties":false}},
    "required":["id"],"additionalProperties":false})";
  auto g = SmallEngine().CompileJsonSchema(schema);
  ASSERT_TRUE(g.ok()) << g.status();
  const std::vector<std::string> texts = {
      R"({"id": 1, "tags": ["a", "b"], "meta": {"ok": true}})",
      R"({"id":1,"tags":["a","b"],"meta":{"ok":true}})",
      "{\n  \"id\": 1,\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ],\n  \"meta\": {\n"
      "    \"ok\": true\n  }\n}",
      "{\n\t\"id\": 7\n}\n",
  };
  for (const std::string& t : texts) EXPECT_TRUE(AcceptsByTokens(*g, t)) << t;
}

TEST(GrammarSchemaTest, CacheReturnsSameGrammar) {
  auto a = SmallEngine().CompileJsonSchema(R"({"type":"integer"})");
  auto b = SmallEngine().CompileJsonSchema(R"({"type":"integer"})");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->get(), b->get());
}

TEST(GrammarSchemaTest, EosOnlyWhereAccepting) {
  auto g = SmallEngine().CompileJsonSchema(R"({"type":"array","items":{"type":"integer"}})");
  ASSERT_TRUE(g.ok());
  const int32_t eos = (*g)->vocab().eog()[0];
  Matcher m(*g);
  EXPECT_FALSE(m.Commit(eos));
  ASSERT_TRUE(m.CommitBytes("[1"));
  EXPECT_FALSE(m.Commit(eos));
  ASSERT_TRUE(m.CommitBytes("]"));
  EXPECT_TRUE(m.Commit(eos));
  EXPECT_TRUE(m.IsFinished());
  EXPECT_FALSE(m.CommitBytes(" "));
  // Rollback undoes commits.
  EXPECT_TRUE(m.Rollback(2));
  EXPECT_FALSE(m.IsAccepting());
  EXPECT_TRUE(m.CommitBytes(",2]"));
  EXPECT_TRUE(m.IsAccepting());
}

TEST(GrammarSchemaTest, PythonDumps) {
  auto v = ParseJson(R"({"a": [1e20, 1.5, 1e-7, 123456789012345678901234567890, "é\u0001"]})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(PyDumps(*v),
            "{\"a\": [1e+20, 1.5, 1e-07, 123456789012345678901234567890, "
            "\"é\\u0001\"]}");
}

}  // namespace
}  // namespace phx::grammar
