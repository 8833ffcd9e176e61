// A generator of random JSON schemas of the supported subset (types, bounds, enum/const,
// format, oneOf/not/anyOf, objects with required and additionalProperties, arrays with
// prefixItems/items/contains/minItems/maxItems, a recursive $ref), shared by the grammar property
// test and the engine's constrained-generation tests.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace phx::grammar::testing {

class SchemaGen {
 public:
  explicit SchemaGen(uint32_t seed) : rng_(seed) {}

  std::string Gen(int depth) {
    const int kinds = depth > 0 ? 18 : 11;
    switch (Pick(kinds)) {
      case 0: {
        std::string s = R"({"type":"integer")";
        if (Pick(2)) s += ",\"minimum\":" + std::to_string(Pick(50) - 25);
        if (Pick(2)) s += ",\"maximum\":" + std::to_string(Pick(100) + 25);
        return s + "}";
      }
      case 1: {
        std::string s = R"({"type":"string")";
        if (Pick(2)) s += ",\"maxLength\":" + std::to_string(Pick(6));
        if (Pick(3) == 0) s += R"(,"pattern":"^[a-c]+\\d?$")";
        return s + "}";
      }
      case 2:
        return Pick(2) ? R"({"type":"boolean"})" : R"({"type":["number","null"]})";
      case 3:
        return R"({"enum":["a",1,null,true,[2],{"k":"v"}]})";
      case 4:
        return Pick(2) ? R"({"const":"x"})" : R"({"type":"number","minimum":0})";
      case 5:
        return R"({"type":"string","format":"date"})";
      case 6:
        return R"({"type":"string","minLength":2,"maxLength":5})";
      case 7:
        return R"({"type":"integer","multipleOf":3,"minimum":0})";
      case 8:
        return R"({"oneOf":[{"type":"integer"},{"type":"string","pattern":"^x"}]})";
      case 9:
        return R"({"not":{"type":["string","object","array"]}})";
      case 10:
        return R"({"type":"object","patternProperties":{"^x":{"type":"integer"}},)"
               R"("additionalProperties":false,"minProperties":1,"maxProperties":2})";
      case 11:
        return R"({"type":"array","prefixItems":[)" + Gen(depth - 1) + "," + Gen(depth - 1) +
               R"(],"items":false})";
      case 12:
        return R"({"type":"array","items":{"type":"integer"},"contains":{"const":1}})";
      case 13:  // the root's recursive definition (see Schema())
        return R"({"$ref":"#/$defs/d"})";
      case 14: {
        std::string s = R"({"type":"array","items":)" + Gen(depth - 1);
        if (Pick(2)) s += ",\"minItems\":" + std::to_string(Pick(2));
        if (Pick(2)) s += ",\"maxItems\":" + std::to_string(Pick(3) + 2);
        return s + "}";
      }
      case 15:
      case 16: {
        const int n = Pick(4);
        std::string props, req;
        for (int i = 0; i < n; ++i) {
          const std::string name = "p" + std::to_string(i);
          props += (i ? "," : "") + ("\"" + name + "\":") + Gen(depth - 1);
          if (Pick(2)) req += (req.empty() ? "\"" : ",\"") + name + "\"";
        }
        std::string s = R"({"type":"object","properties":{)" + props + "}";
        if (!req.empty()) s += ",\"required\":[" + req + "]";
        s += Pick(2) ? R"(,"additionalProperties":false)"
                     : R"(,"additionalProperties":{"type":"integer"})";
        return s + "}";
      }
      default:
        return R"({"anyOf":[)" + Gen(depth - 1) + "," + Gen(depth - 1) + "]}";
    }
  }
  // A whole schema: a random one beside a recursive definition that it may reference.
  std::string Schema() {
    return R"({"$defs":{"d":{"anyOf":[{"type":"integer"},{"type":"array",)"
           R"("items":{"$ref":"#/$defs/d"},"maxItems":2}]}},"allOf":[)" +
           Gen(3) + "]}";
  }
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
};

}  // namespace phx::grammar::testing
