// Issue 26's API surface against a real in-process server on stories260K: strict request
// validation (an unknown field is a 400 naming it; --lenient-api accepts it and counts it in
// phalanx_api_ignored_fields_total), --served-model-name aliases and the 404 for other names,
// structured-output fields compiled by the Frontend (a bad schema is a 400 naming the field
// and the JSON pointer, never a 500; hostile schemas cost bounded time), the token-id fields
// checked against the vocabulary, the same through gRPC (StructuredOutput, logit_bias,
// stop_token_ids, min_tokens), and each field's effect on what is generated.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <regex>
#include <set>

#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/integration/grpc_test_server.h"

namespace phx {
namespace {

using json = nlohmann::json;
using phalanx::v1::GenerateRequest;
using phalanx::v1::GenerateResponse;
const std::string kStories = std::string(PHX_SHARED_DIR) + "/models/stories260K.gguf";

class StructuredApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = testing::TestConfig(kStories);
    c.runtime.threads = 1;
    c.chat_template = "chatml";       // stories260K has none
    c.max_grammar_bytes = 256 << 10;  // room for the hostile cases below
    c.served_model_names = {"alias-a", "alias-b"};
    strict_ = testing::TestServer::Start(c).release();
    c.served_model_names.clear();
    c.lenient_api = true;
    c.json_max_whitespace = 4;  // --json-max-whitespace (the strict server keeps the default 1)
    lenient_ = testing::TestServer::Start(c).release();
  }
  static void TearDownTestSuite() {
    delete strict_;
    delete lenient_;
  }
  void SetUp() override {
    ASSERT_NE(strict_, nullptr);
    ASSERT_NE(lenient_, nullptr);
  }

  static httplib::Result Post(const testing::TestServer& s, const std::string& path,
                              const std::string& body) {
    httplib::Client c("127.0.0.1", s.app->api_port());
    c.set_read_timeout(120, 0);
    return c.Post(path, body, "application/json");
  }
  static httplib::Result Complete(const std::string& body) {
    return Post(*strict_, "/v1/completions", body);
  }
  // A 400 invalid_request_error whose param is `param`; returns the message.
  static std::string Expect400(const std::string& body, const std::string& param,
                               const std::string& path = "/v1/completions") {
    auto r = Post(*strict_, path, body);
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 400) << body << " -> " << r->body;
    const json e = json::parse(r->body)["error"];
    EXPECT_EQ(e["type"], "invalid_request_error") << r->body;
    EXPECT_EQ(e["param"], param) << r->body;
    return e["message"].get<std::string>();
  }
  static std::string MetricsOf(const testing::TestServer& s) {
    httplib::Client c("127.0.0.1", s.app->http_port());
    auto r = c.Get("/metrics");
    return r ? r->body : "";
  }
  static double Counter(const std::string& metrics, const std::string& series) {
    const size_t at = metrics.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(metrics.substr(at + series.size() + 2));
  }
  static grpc::Status Generate(const GenerateRequest& req, GenerateResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return strict_->Stub()->Generate(&ctx, req, resp);
  }

  static testing::TestServer* strict_;
  static testing::TestServer* lenient_;
};
testing::TestServer* StructuredApi::strict_ = nullptr;
testing::TestServer* StructuredApi::lenient_ = nullptr;

TEST_F(StructuredApi, UnknownFieldIs400NamingIt) {
  const std::string m =
      Expect400(R"({"prompt": "Once", "max_tokens": 2, "frobnicate": 1})", "frobnicate");
  EXPECT_NE(m.find("frobnicate"), std::string::npos);
  Expect400(R"({"messages": [{"role": "user", "content": "hi"}], "frobnicate": 1})", "frobnicate",
            "/v1/chat/completions");
  Expect400(R"({"prompt": "Once", "suffix": "x"})", "suffix");
}

TEST_F(StructuredApi, LenientAcceptsAndCountsIgnoredFields) {
  const std::string before = MetricsOf(*lenient_);
  EXPECT_EQ(Counter(before, R"(phalanx_api_ignored_fields_total{field="other"})"), 0) << before;
  auto r = Post(*lenient_, "/v1/completions",
                R"({"prompt": "Once", "max_tokens": 2, "frobnicate": 1, "zzz": 2, "store": true})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  const std::string after = MetricsOf(*lenient_);
  EXPECT_EQ(Counter(after, R"(phalanx_api_ignored_fields_total{field="other"})"), 2) << after;
  EXPECT_EQ(Counter(after, R"(phalanx_api_ignored_fields_total{field="store"})"), 1) << after;
  // The strict server counts the documented harmless fields too.
  auto s = Complete(R"({"prompt": "Once", "max_tokens": 2, "metadata": {"k": "v"}})");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->status, 200) << s->body;
  EXPECT_EQ(Counter(MetricsOf(*strict_), R"(phalanx_api_ignored_fields_total{field="metadata"})"),
            1);
}

TEST_F(StructuredApi, ModelNamesAndAliases) {
  httplib::Client c("127.0.0.1", strict_->app->api_port());
  auto models = c.Get("/v1/models");
  ASSERT_TRUE(models);
  ASSERT_EQ(models->status, 200);
  std::vector<std::string> ids;
  const json list = json::parse(models->body);
  for (const json& m : list["data"]) ids.push_back(m["id"]);
  ASSERT_EQ(ids.size(), 3u) << models->body;
  EXPECT_EQ(ids[0], "alias-a");
  EXPECT_EQ(ids[1], "alias-b");
  for (const std::string& id : ids) {
    auto r = Complete(R"({"prompt": "Once", "max_tokens": 1, "model": ")" + id + "\"}");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << id << ": " << r->body;
    EXPECT_EQ(json::parse(r->body)["model"], "alias-a");
    auto one = c.Get("/v1/models/" + id);
    ASSERT_TRUE(one);
    EXPECT_EQ(one->status, 200) << id;
  }
  auto r = Complete(R"({"prompt": "Once", "max_tokens": 1, "model": "gpt-4o"})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->body;
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "model_not_found");
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "model");
  auto none = c.Get("/v1/models/gpt-4o");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  // model stays optional.
  auto anon = Complete(R"({"prompt": "Once", "max_tokens": 1})");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->status, 200);
}

TEST_F(StructuredApi, BadSchemaIs400WithTheJsonPointer) {
  const std::string m = Expect400(
      R"({"prompt": "Once", "max_tokens": 4, "response_format": {"type": "json_schema",
          "json_schema": {"name": "x", "schema": {"type": "object", "properties":
          {"a": {"type": "number", "multipleOf": 0.3}}}}}})",
      "response_format.json_schema.schema");
  EXPECT_NE(m.find("#/properties/a"), std::string::npos) << m;
  EXPECT_NE(m.find("multipleOf"), std::string::npos) << m;
  // Not valid JSON inside guided_json's string, a bad regex, a bad grammar, a bad choice.
  Expect400(R"({"prompt": "Once", "guided_json": "{not json"})", "guided_json");
  Expect400(R"({"prompt": "Once", "guided_regex": "(unbalanced"})", "guided_regex");
  Expect400(R"({"prompt": "Once", "grammar": "root ::= missing"})", "grammar");
  Expect400(R"({"prompt": "Once", "structured_outputs": {"grammar": "root ::= ("}})",
            "structured_outputs.grammar");
  Expect400(R"({"messages": [{"role": "user", "content": "hi"}],
      "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "strng"}}}})",
            "response_format.json_schema.schema", "/v1/chat/completions");
  // Two structured-output fields at once.
  Expect400(R"({"prompt": "Once", "guided_regex": "a", "grammar": "root ::= \"a\""})",
            "guided_regex");
}

TEST_F(StructuredApi, TokenIdsAreCheckedAgainstTheVocabulary) {
  std::string m = Expect400(R"({"prompt": "Once", "logit_bias": {"100000": 5}})", "logit_bias");
  EXPECT_NE(m.find("outside the vocabulary"), std::string::npos) << m;
  Expect400(R"({"prompt": "Once", "stop_token_ids": [1, 100000]})", "stop_token_ids");
  Expect400(R"({"prompt": "Once", "min_tokens": 10, "max_tokens": 5})", "min_tokens");
  auto ok = Complete(
      R"({"prompt": "Once", "max_tokens": 3, "logit_bias": {"5": -100}, "stop_token_ids": [7],
          "min_tokens": 1})");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

// The compiler's limits bound what a hostile schema, regex or grammar costs: each answer (a
// 400 or a 200) comes within seconds, never a 500.
TEST_F(StructuredApi, HostileGrammarsCostBoundedTime) {
  std::string deep = R"({"type": "integer"})";
  for (int i = 0; i < 28; ++i) {
    deep = R"({"type": "object", "properties": {"a": )" + deep +
           R"(, "b": {"type": "string"}}, "required": ["a", "b"]})";
  }
  std::string many_enum = "[";
  for (int i = 0; i < 20000; ++i) many_enum += (i ? ",\"v" : "\"v") + std::to_string(i) + "\"";
  many_enum += "]";
  std::string props = "{";
  for (int i = 0; i < 300; ++i) {
    props += (i ? ",\"p" : "\"p") + std::to_string(i) + R"(": {"type": "integer"})";
  }
  props += "}";
  std::string any_of = "[";
  for (int i = 0; i < 500; ++i) {
    any_of += (i ? "," : "") + std::string(R"({"type": "string", "pattern": "^a{)") +
              std::to_string(i) + R"(}b$"})";
  }
  any_of += "]";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"guided_json", deep},
      {"guided_json", R"({"enum": )" + many_enum + "}"},
      {"guided_json", R"({"type": "object", "properties": )" + props + R"(, "required": ["p0"]})"},
      {"guided_json", R"({"anyOf": )" + any_of + "}"},
      {"guided_json", R"({"type": "string", "minLength": 1000000, "maxLength": 2000000})"},
      {"guided_json", R"({"type": "array", "minItems": 1000000})"},
      {"guided_json", R"({"type": "integer", "minimum": -1e300, "maximum": 1e300})"},
      {"guided_json", R"({"type": "string", "pattern": "(a|b)*a(a|b){40}"})"},
      {"guided_regex", R"("(a|b)*a(a|b){40}")"},
      {"guided_regex", R"("((a{1000}){1000}){1000}")"},
      {"guided_regex", R"("[a-z]{0,100000}")"},
      {"grammar", R"("root ::= x\nx ::= x x | \"a\"")"},
      {"grammar", R"("root ::= \"a\"{1000}{1000}")"},
  };
  for (const auto& [field, value] : cases) {
    const std::string value_json =
        field == "guided_json" ? json(value).dump() : value;  // schemas as JSON text
    const std::string body =
        R"({"prompt": "Once", "max_tokens": 1, ")" + field + "\": " + value_json + "}";
    const auto t0 = std::chrono::steady_clock::now();
    auto r = Complete(body);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(r) << field << " " << value.substr(0, 80);
    EXPECT_TRUE(r->status == 200 || r->status == 400)
        << field << " " << value.substr(0, 80) << " -> " << r->status << " " << r->body;
    if (r->status == 400) {
      EXPECT_EQ(json::parse(r->body)["error"]["param"], field) << r->body;
    }
    EXPECT_LT(s, 20 * testing::TimeScale()) << field << " " << value.substr(0, 80);
    std::printf("%-12s %-60.60s %d %.3f s\n", field.c_str(), value.c_str(), r->status, s);
  }
  // Past --max-grammar-bytes: refused before compiling.
  const std::string big = R"({"enum": [")" + std::string(300 << 10, 'x') + R"("]})";
  const std::string m =
      Expect400(R"({"prompt": "Once", "guided_json": )" + json(big).dump() + "}", "guided_json");
  EXPECT_NE(m.find("--max-grammar-bytes"), std::string::npos) << m;
}

TEST_F(StructuredApi, GrpcStructuredOutputErrorsNameTheField) {
  GenerateRequest req;
  req.set_text("Once");
  req.set_max_tokens(2);
  GenerateResponse resp;
  req.mutable_structured_output();  // present, no kind
  grpc::Status s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("structured_output"), std::string::npos) << s.error_message();
  req.mutable_structured_output()->set_regex("a+");
  req.mutable_structured_output()->set_strict(true);
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("structured_output.strict"), std::string::npos);
  req.mutable_structured_output()->set_json_object(false);
  req.mutable_structured_output()->clear_strict();
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("structured_output.json_object"), std::string::npos);
  req.mutable_structured_output()->set_json_schema(
      R"({"type": "object", "properties": {"a": {"type": "number", "multipleOf": 0.3}}})");
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("structured_output.json_schema"), std::string::npos);
  EXPECT_NE(s.error_message().find("#/properties/a"), std::string::npos) << s.error_message();
  req.mutable_structured_output()->set_gbnf("root ::= (");
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("structured_output.gbnf"), std::string::npos);
  req.mutable_structured_output()->set_regex("[0-9]+");
  s = Generate(req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message();
  // Sampling fields.
  req.clear_structured_output();
  (*req.mutable_sampling()->mutable_logit_bias())[100000] = 1.f;
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("logit_bias"), std::string::npos);
  req.mutable_sampling()->clear_logit_bias();
  (*req.mutable_sampling()->mutable_logit_bias())[3] = 500.f;
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("logit_bias"), std::string::npos);
  req.mutable_sampling()->clear_logit_bias();
  req.mutable_sampling()->add_stop_token_ids(-3);
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("stop_token_ids"), std::string::npos);
  req.mutable_sampling()->clear_stop_token_ids();
  req.mutable_sampling()->set_min_tokens(3);  // > max_tokens 2
  s = Generate(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("min_tokens"), std::string::npos);
}

// --- What each field does to the output (needs the engine's side: h-constrain). ---

// Checks an instance of the schema used below by hand, as the JSON Schema spec reads it:
// exactly name (a string of at most 12 code points: 48 bytes), age (an integral number in
// [0, 120]) and happy (boolean).
void ExpectPerson(const std::string& text) {
  const json v = json::parse(text, nullptr, false);
  ASSERT_FALSE(v.is_discarded()) << text;
  ASSERT_TRUE(v.is_object()) << text;
  EXPECT_EQ(v.size(), 3u) << text;
  ASSERT_TRUE(v.contains("name") && v["name"].is_string()) << text;
  EXPECT_LE(v["name"].get<std::string>().size(), 48u) << text;
  // JSON Schema's integer is a number with an integral value: 7, 7.0, -0.0 and 1e1 all are.
  ASSERT_TRUE(v.contains("age") && v["age"].is_number()) << text;
  const double age = v["age"].get<double>();
  EXPECT_EQ(age, std::floor(age)) << text;
  EXPECT_GE(age, 0) << text;
  EXPECT_LE(age, 120) << text;
  ASSERT_TRUE(v.contains("happy") && v["happy"].is_boolean()) << text;
}

const char* kPerson =
    R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 120}, "happy": {"type": "boolean"}},
        "required": ["name", "age", "happy"], "additionalProperties": false})";

TEST_F(StructuredApi, JsonSchemaOutputValidates) {
  // stories260K fills every gap the grammar allows with blanks (64 per gap) until max_tokens:
  // logit_bias bans the tokens that are only blanks, so the objects end and validate (and
  // logit_bias is applied together with the grammar's mask).
  const tok::Tokenizer& tok = strict_->app->engine().model().tokenizer();
  json bans = json::object();
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    const std::string piece = tok.TokenToPiece(id, false);
    if (!piece.empty() && piece.find_first_not_of(" \t\r\n") == std::string::npos) {
      bans[std::to_string(id)] = -100;
    }
  }
  ASSERT_FALSE(bans.empty());
  int stops = 0;
  for (const char* fmt :
       {R"("response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": %s}})",
        R"("guided_json": %s)", R"("json_schema": %s)", R"("structured_outputs": {"json": %s})"}) {
    char field[2048];
    std::snprintf(field, sizeof(field), fmt, kPerson);
    for (const char* temp : {"0", "1"}) {
      const std::string body = std::string(R"({"prompt": "Once upon a time", "max_tokens": 300,
          "seed": 7, "temperature": )") +
                               temp + ", \"logit_bias\": " + bans.dump() + ", " + field + "}";
      auto r = Complete(body);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      const json c = json::parse(r->body)["choices"][0];
      if (c["finish_reason"] == "stop") {
        ExpectPerson(c["text"]);
        ++stops;
      }
    }
  }
  // Most end inside the 300 tokens (maxLength bounds the only string): the checks above ran.
  EXPECT_GE(stops, 6);
  // Chat with json_schema, and json_object.
  auto r = Post(*strict_, "/v1/chat/completions",
                R"({"messages": [{"role": "user", "content": "Who are you?"}], "max_tokens": 300,
                    "temperature": 0, "logit_bias": )" +
                    bans.dump() +
                    R"(, "response_format": {"type": "json_schema", "json_schema": {"name": "p",
                    "strict": true, "schema": )" +
                    kPerson + "}}}");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json c = json::parse(r->body)["choices"][0];
  ASSERT_EQ(c["finish_reason"], "stop") << r->body;
  ExpectPerson(c["message"]["content"]);
  r = Post(*strict_, "/v1/completions",
           R"({"prompt": "Once", "max_tokens": 300, "temperature": 0, "logit_bias": )" +
               bans.dump() + R"(, "response_format": {"type": "json_object"}})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  c = json::parse(r->body)["choices"][0];
  if (c["finish_reason"] == "stop") {
    const json v = json::parse(c["text"].get<std::string>(), nullptr, false);
    EXPECT_TRUE(v.is_object()) << c["text"];
  } else {
    // Cut by max_tokens inside an object: a prefix that starts one.
    EXPECT_EQ(c["finish_reason"], "length");
    EXPECT_EQ(c["text"].get<std::string>().substr(0, 1), "{") << c["text"];
  }
}

// --json-max-whitespace bounds the blanks between JSON tokens (stories260K favours blanks: with
// the engine's own default of 64 these answers run to max_tokens). The object has no string
// value, so any run of blanks in the text lies between tokens.
TEST_F(StructuredApi, JsonWhitespaceIsBoundedByTheFlag) {
  const std::string schema =
      R"({"type": "object", "properties": {"age": {"type": "integer", "minimum": 0,
          "maximum": 120}}, "required": ["age"], "additionalProperties": false})";
  for (const auto& [server, most] :
       {std::pair{strict_, size_t{1}}, std::pair{lenient_, size_t{4}}}) {
    int stops = 0;
    for (int seed = 1; seed <= 4; ++seed) {
      auto r = Post(*server, "/v1/completions",
                    R"({"prompt": "Once upon a time", "max_tokens": 120, "temperature": 1,
                        "seed": )" +
                        std::to_string(seed) +
                        R"(, "response_format": {"type": "json_schema", "json_schema":
                        {"name": "a", "schema": )" +
                        schema + "}}}");
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 200) << r->body;
      const json c = json::parse(r->body)["choices"][0];
      const std::string text = c["text"];
      size_t run = 0, longest = 0;
      for (char ch : text) {
        run = (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') ? run + 1 : 0;
        longest = std::max(longest, run);
      }
      EXPECT_LE(longest, most) << text;
      if (c["finish_reason"] == "stop") {
        ++stops;
        const json v = json::parse(text);
        // An integer as JSON Schema reads it (a float form like -0.0 or 1e1 counts).
        ASSERT_TRUE(v["age"].is_number()) << text;
        const double age = v["age"].get<double>();
        EXPECT_TRUE(age == std::floor(age) && age >= 0 && age <= 120) << text;
      }
    }
    EXPECT_GE(stops, 3) << "most answers end within 120 tokens once blanks are bounded";
  }
}

TEST_F(StructuredApi, RegexGrammarAndChoiceOutputsMatch) {
  for (const char* temp : {"0", "1.5"}) {
    const std::string t = temp;
    auto r = Complete(R"({"prompt": "Once", "max_tokens": 20, "seed": 3, "temperature": )" + t +
                      R"(, "guided_regex": "[0-9]{3}-[a-z]{2}"})");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    std::string text = json::parse(r->body)["choices"][0]["text"];
    EXPECT_TRUE(std::regex_match(text, std::regex("[0-9]{3}-[a-z]{2}"))) << text;
    r = Complete(R"({"prompt": "Once", "max_tokens": 20, "seed": 3, "temperature": )" + t +
                 R"(, "guided_choice": ["yes", "no way", "maybe."]})");
    ASSERT_TRUE(r);
    text = json::parse(r->body)["choices"][0]["text"];
    EXPECT_TRUE(text == "yes" || text == "no way" || text == "maybe.") << text;
    r = Complete(R"({"prompt": "Once", "max_tokens": 20, "seed": 3, "temperature": )" + t +
                 R"x(, "grammar": "root ::= (\"cat\" | \"dog\") \" and \" (\"fox\" | \"owl\")"})x");
    ASSERT_TRUE(r);
    text = json::parse(r->body)["choices"][0]["text"];
    EXPECT_TRUE(std::regex_match(text, std::regex("(cat|dog) and (fox|owl)"))) << text;
  }
  // gRPC.
  GenerateRequest req;
  req.set_text("Once");
  req.set_max_tokens(20);
  req.mutable_sampling()->set_temperature(0);
  req.mutable_structured_output()->set_regex("[0-9]{3}-[a-z]{2}");
  GenerateResponse resp;
  ASSERT_TRUE(Generate(req, &resp).ok());
  EXPECT_TRUE(std::regex_match(resp.text(), std::regex("[0-9]{3}-[a-z]{2}"))) << resp.text();
  req.mutable_structured_output()->set_json_schema(kPerson);
  req.set_max_tokens(300);
  ASSERT_TRUE(Generate(req, &resp).ok());
  if (resp.finish_reason() == phalanx::v1::FINISH_REASON_STOP) ExpectPerson(resp.text());
}

// The greedy tokens of "Once upon a time" over gRPC (ids and texts).
std::vector<std::pair<int32_t, std::string>> GreedyTokens(
    const std::function<grpc::Status(const GenerateRequest&, GenerateResponse*)>& gen,
    const std::function<void(GenerateRequest*)>& edit, int n) {
  GenerateRequest req;
  req.set_text("Once upon a time");
  req.set_max_tokens(n);
  req.set_ignore_eos(true);
  req.mutable_sampling()->set_temperature(0);
  edit(&req);
  GenerateResponse resp;
  EXPECT_TRUE(gen(req, &resp).ok());
  std::vector<std::pair<int32_t, std::string>> out;
  for (const auto& t : resp.tokens()) out.emplace_back(t.id(), t.text());
  return out;
}

TEST_F(StructuredApi, LogitBiasStopTokenIdsAndMinTokensChangeTheOutput) {
  auto gen = [](const GenerateRequest& r, GenerateResponse* o) { return Generate(r, o); };
  const auto free = GreedyTokens(
      gen, [](GenerateRequest*) {}, 12);
  ASSERT_EQ(free.size(), 12u);
  // logit_bias -100 on the first greedy token: another token comes first (gRPC and HTTP).
  const auto banned = GreedyTokens(
      gen,
      [&](GenerateRequest* r) {
        (*r->mutable_sampling()->mutable_logit_bias())[free[0].first] = -100;
      },
      1);
  ASSERT_EQ(banned.size(), 1u);
  EXPECT_NE(banned[0].first, free[0].first);
  auto h = Complete(R"({"prompt": "Once upon a time", "max_tokens": 1, "temperature": 0,
      "logit_bias": {")" +
                    std::to_string(free[0].first) + R"(": -100}})");
  ASSERT_TRUE(h);
  EXPECT_NE(json::parse(h->body)["choices"][0]["text"], free[0].second) << h->body;
  // stop_token_ids: generation ends at the first occurrence of token 5's id, text excluded.
  const int32_t stop_id = free[5].first;
  size_t first = 0;
  while (free[first].first != stop_id) ++first;
  std::string prefix;
  for (size_t i = 0; i < first; ++i) prefix += free[i].second;
  auto s = Complete(R"({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0,
      "ignore_eos": true, "stop_token_ids": [)" +
                    std::to_string(stop_id) + "]}");
  ASSERT_TRUE(s);
  const json sc = json::parse(s->body)["choices"][0];
  EXPECT_EQ(sc["finish_reason"], "stop") << s->body;
  EXPECT_EQ(sc["text"], prefix) << s->body;
  // min_tokens past that point: the stop token no longer ends it there.
  auto m = Complete(R"({"prompt": "Once upon a time", "max_tokens": 12, "temperature": 0,
      "ignore_eos": true, "min_tokens": )" +
                    std::to_string(first + 2) + R"(, "stop_token_ids": [)" +
                    std::to_string(stop_id) + "]}");
  ASSERT_TRUE(m);
  const json mc = json::parse(m->body)["choices"][0];
  EXPECT_GT(json::parse(m->body)["usage"]["completion_tokens"].get<int>(),
            static_cast<int>(first) + 1)
      << m->body;
  EXPECT_GT(mc["text"].get<std::string>().size(), prefix.size()) << m->body;
}

}  // namespace
}  // namespace phx
