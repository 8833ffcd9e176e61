// POST /v1/embeddings' JSON side: each input shape, every field and its errors (the param named),
// strict unknown fields, dimensions against the model, normalization, base64 bytes.
#include "server/http/embeddings_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

namespace phx::server {
namespace {

using ::testing::HasSubstr;

EmbeddingsRequest Parse(const std::string& body, bool lenient = false) {
  ParseOptions o;
  o.lenient = lenient;
  EmbeddingsRequest r;
  auto e = ParseEmbeddingsRequest(body, o, &r);
  EXPECT_FALSE(e.has_value()) << body << ": " << (e ? e->status.message() : "");
  return r;
}

ApiError Error(const std::string& body) {
  EmbeddingsRequest r;
  auto e = ParseEmbeddingsRequest(body, ParseOptions{}, &r);
  EXPECT_TRUE(e.has_value()) << body;
  return e.value_or(ApiError{});
}

TEST(EmbeddingsJson, InputShapes) {
  EmbeddingsRequest r = Parse(R"({"model": "m", "input": "hello"})");
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_TRUE(r.inputs[0].has_text);
  EXPECT_EQ(r.inputs[0].text, "hello");
  EXPECT_FALSE(r.input_is_array);
  EXPECT_EQ(r.model, "m");

  r = Parse(R"({"input": ["a", "b c"]})");
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[1].text, "b c");
  EXPECT_TRUE(r.input_is_array);

  r = Parse(R"({"input": [1, 2, 3]})");  // one input as token ids
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_FALSE(r.inputs[0].has_text);
  EXPECT_EQ(r.inputs[0].token_ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_FALSE(r.input_is_array);

  r = Parse(R"({"input": [[1, 2], [7]], "encoding_format": "base64", "dimensions": 8,
               "user": "u1"})");
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_EQ(r.inputs[1].token_ids, (std::vector<int32_t>{7}));
  EXPECT_TRUE(r.base64);
  EXPECT_EQ(r.dimensions, 8);
  EXPECT_EQ(r.user, "u1");
  EXPECT_FALSE(Parse(R"({"input": "x", "encoding_format": "float"})").base64);
  EXPECT_FALSE(Parse(R"({"input": "x", "dimensions": null})").dimensions.has_value());
}

TEST(EmbeddingsJson, ErrorsNameTheField) {
  struct Case {
    std::string body, param, message;
  };
  const Case cases[] = {
      {R"({"model": "m"})", "input", "input is required"},
      {R"({"input": ""})", "input", "input must not be an empty string"},
      {R"({"input": []})", "input", "input must not be an empty array"},
      {R"({"input": 5})", "input", "input must be a string, an array of strings"},
      {R"({"input": ["a", 3]})", "input", "(input[1] is not a string)"},
      {R"({"input": ["a", ""]})", "input", "input[1] must not be an empty string"},
      {R"({"input": [[1], "a"]})", "input", "(input[1] is not an array)"},
      {R"({"input": [[1], []]})", "input", "input[1] must not be empty"},
      {R"({"input": [[1], [-2]]})", "input", "input[1][0] must be a token id"},
      {R"({"input": [1, 2.5]})", "input", "input[1] must be a token id"},
      {R"({"input": [1, 4294967296]})", "input", "input[1] must be a token id"},
      {R"({"input": "x", "encoding_format": "int8"})", "encoding_format",
       "encoding_format must be \"float\" or \"base64\""},
      {R"({"input": "x", "dimensions": 0})", "dimensions", "dimensions must be at least 1"},
      {R"({"input": "x", "dimensions": "8"})", "dimensions", "dimensions must be an integer"},
      {R"({"input": "x", "model": 3})", "model", "model must be a string"},
      {R"({"input": "x", "user": {}})", "user", "user must be a string"},
      {R"({"input": "x", "temperature": 1})", "temperature",
       "Unrecognized request argument supplied: temperature"},
      {R"([1])", "", "the request body must be a JSON object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    const ApiError e = Error(c.body);
    EXPECT_EQ(e.status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(e.param, c.param);
    EXPECT_THAT(std::string(e.status.message()), HasSubstr(c.message));
  }
  // Too many inputs.
  std::string many = R"({"input": [)";
  for (size_t i = 0; i <= kMaxEmbeddingInputs; ++i) many += i ? ",\"a\"" : "\"a\"";
  many += "]}";
  EXPECT_THAT(std::string(Error(many).status.message()),
              HasSubstr("input has 257 items; the limit is 256"));
  // Lenient: unknown fields ignored and reported.
  EXPECT_EQ(Parse(R"({"input": "x", "foo": 1})", true).ignored_fields.size(), 1u);
}

TEST(EmbeddingsJson, Dimensions) {
  EmbeddingsRequest r;
  r.dimensions = 65;
  auto e = CheckDimensions(r, 64);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "dimensions");
  EXPECT_THAT(std::string(e->status.message()), HasSubstr("dimensions must be in [1, 64]"));
  r.dimensions = 64;
  EXPECT_FALSE(CheckDimensions(r, 64).has_value());
  r.dimensions.reset();
  EXPECT_FALSE(CheckDimensions(r, 64).has_value());
}

TEST(EmbeddingsJson, NormalizeTruncatesThenRenormalizes) {
  const std::vector<float> v = {3, 4, 12};
  const auto full = Normalize(v, 0);
  EXPECT_FLOAT_EQ(full[0], 3.f / 13);
  EXPECT_FLOAT_EQ(full[2], 12.f / 13);
  const auto two = Normalize(v, 2);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_FLOAT_EQ(two[0], 0.6f);
  EXPECT_FLOAT_EQ(two[1], 0.8f);
  EXPECT_EQ(Normalize({0, 0}, 0), (std::vector<float>{0, 0}));
  EXPECT_EQ(Normalize(v, 2, false), (std::vector<float>{3, 4}));
}

// base64 of the little-endian float32 bytes, decoded back here independently.
TEST(EmbeddingsJson, Base64IsLittleEndianFloat32) {
  EXPECT_EQ(Base64Floats({1.0f}), "AACAPw==");  // 00 00 80 3F
  EXPECT_EQ(Base64Floats({1.0f, -2.0f}), "AACAPwAAAMA=");
  EXPECT_EQ(Base64Floats({}), "");
  const std::vector<float> v = {0.25f, -1e-7f, 3.5e10f};
  const std::string b = Base64Floats(v);
  auto val = [](char c) -> uint32_t {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : 63;
  };
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < b.size(); i += 4) {
    uint32_t n = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      n = (n << 6) | (b[i + k] == '=' ? (++pad, 0u) : val(b[i + k]));
    }
    for (int k = 0; k < 3 - pad; ++k) bytes.push_back(static_cast<uint8_t>(n >> (16 - 8 * k)));
  }
  ASSERT_EQ(bytes.size(), 12u);
  for (size_t i = 0; i < v.size(); ++i) {
    const uint32_t u = bytes[4 * i] | bytes[4 * i + 1] << 8 | bytes[4 * i + 2] << 16 |
                       static_cast<uint32_t>(bytes[4 * i + 3]) << 24;
    float f;
    std::memcpy(&f, &u, 4);
    EXPECT_EQ(f, v[i]);
  }
}

TEST(EmbeddingsJson, Answer) {
  const auto j = EmbeddingsAnswer({{0.6f, 0.8f}, {1.f, 0.f}}, false, "m", 7);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 7);
  EXPECT_EQ(j["usage"]["total_tokens"], 7);
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][1]["index"], 1);
  EXPECT_EQ(j["data"][1]["object"], "embedding");
  EXPECT_EQ(j["data"][0]["embedding"][1].get<float>(), 0.8f);
  const auto b = EmbeddingsAnswer({{1.0f}}, true, "m", 1);
  EXPECT_EQ(b["data"][0]["embedding"], "AACAPw==");
}

}  // namespace
}  // namespace phx::server
