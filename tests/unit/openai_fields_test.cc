// The OpenAI API's field table (strict by default, the documented harmless fields, lenient
// mode), the structured-output fields (response_format, llama-server's json_schema/grammar,
// vLLM's guided_* and structured_outputs) into StructuredSpec, and logit_bias,
// stop_token_ids, min_tokens into SamplingParams. Each implemented field is checked to land
// where the engine reads it, so a field the parser ignored fails here.
#include "server/http/openai_fields.h"

#include <gtest/gtest.h>

#include "server/core/status_map.h"
#include "server/http/openai_json.h"

namespace phx::server {
namespace {

using Kind = StructuredSpec::Kind;
constexpr Endpoint C = Endpoint::kCompletions;
constexpr Endpoint H = Endpoint::kChat;

std::optional<ApiError> Try(const std::string& body, Endpoint ep, OpenAiRequest* r,
                            bool lenient = false) {
  ParseOptions o;
  o.lenient = lenient;
  return ParseRequest(body, ep, o, r);
}

OpenAiRequest Ok(const std::string& body, Endpoint ep = C, bool lenient = false) {
  OpenAiRequest r;
  const auto e = Try(body, ep, &r, lenient);
  EXPECT_FALSE(e.has_value()) << body << " -> " << (e ? e->status.ToString() : "");
  return r;
}

// A 400 invalid_request_error whose param is `param` and whose message names it.
void ExpectBad(const std::string& body, Endpoint ep, const std::string& param) {
  OpenAiRequest r;
  const auto e = Try(body, ep, &r);
  ASSERT_TRUE(e.has_value()) << body;
  EXPECT_EQ(HttpStatus(e->status), 400) << body;
  EXPECT_EQ(e->param, param) << body << ": " << e->status;
  EXPECT_NE(e->status.message().find(param), absl::string_view::npos) << e->status;
}

const std::string kChat = R"("messages": [{"role": "user", "content": "hi"}])";

TEST(OpenAiFields, UnknownFieldsAreRefusedByName) {
  ExpectBad(R"({"prompt": "x", "frobnicate": 1})", C, "frobnicate");
  ExpectBad("{" + kChat + R"(, "frobnicate": {"a": 1}})", H, "frobnicate");
  // Chat-only fields on /v1/completions and the other way round.
  ExpectBad(R"({"prompt": "x", "messages": []})", C, "messages");
  ExpectBad(R"({"prompt": "x", "tools": []})", C, "tools");
  ExpectBad("{" + kChat + R"(, "prompt": "x"})", H, "prompt");
  ExpectBad("{" + kChat + R"(, "echo": true})", H, "echo");
  // Known OpenAI fields Phalanx does not implement: refused with the reason.
  ExpectBad(R"({"prompt": "x", "suffix": "end"})", C, "suffix");
  ExpectBad("{" + kChat + R"(, "functions": [{"name": "f"}]})", H, "functions");
  ExpectBad("{" + kChat + R"(, "audio": {"voice": "alloy"}})", H, "audio");
  ExpectBad("{" + kChat + R"(, "modalities": ["text", "audio"]})", H, "modalities");
  OpenAiRequest r;
  const auto e = Try(R"({"prompt": "x", "frobnicate": 1})", C, &r);
  EXPECT_NE(e->status.message().find("Unrecognized request argument supplied: frobnicate"),
            absl::string_view::npos)
      << e->status;
  // Null means absent, as in OpenAI's API.
  EXPECT_TRUE(Ok(R"({"prompt": "x", "suffix": null, "functions": null})").ignored_fields.empty());
  EXPECT_TRUE(Ok("{" + kChat + R"(, "modalities": ["text"]})", H).ignored_fields.empty());
}

TEST(OpenAiFields, HarmlessFieldsAreIgnoredAndCounted) {
  const OpenAiRequest r = Ok("{" + kChat + R"(, "metadata": {"a": "b"}, "store": false,
      "service_tier": "auto", "reasoning_effort": "low", "verbosity": "low",
      "prompt_cache_key": "k", "safety_identifier": "s", "prediction": {"type": "content",
      "content": "x"}})",
                             H);
  EXPECT_EQ(r.ignored_fields,
            (std::vector<std::string>{"metadata", "store", "service_tier", "reasoning_effort",
                                      "verbosity", "prompt_cache_key", "safety_identifier",
                                      "prediction"}));
  for (const std::string& f : r.ignored_fields) {
    EXPECT_EQ(IgnoredFieldLabel(f), f);
  }
}

TEST(OpenAiFields, ThinkingTokenBudgetOnChatOnly) {
  EXPECT_FALSE(Ok("{" + kChat + "}", H).api.reasoning_budget.has_value());
  EXPECT_EQ(Ok("{" + kChat + R"(, "thinking_token_budget": 64})", H).api.reasoning_budget, 64);
  EXPECT_EQ(Ok("{" + kChat + R"(, "thinking_token_budget": 0})", H).api.reasoning_budget, 0);
  EXPECT_EQ(Ok("{" + kChat + R"(, "thinking_token_budget": -1})", H).api.reasoning_budget, -1);
  ExpectBad("{" + kChat + R"(, "thinking_token_budget": -2})", H, "thinking_token_budget");
  ExpectBad("{" + kChat + R"(, "thinking_token_budget": "8"})", H, "thinking_token_budget");
  ExpectBad(R"({"prompt": "x", "thinking_token_budget": 8})", C, "thinking_token_budget");
}

TEST(OpenAiFields, LenientIgnoresUnknownFieldsUnderOneLabel) {
  const OpenAiRequest r =
      Ok(R"({"prompt": "x", "frobnicate": 1, "zzz": [1], "store": true})", C, /*lenient=*/true);
  EXPECT_EQ(r.ignored_fields, (std::vector<std::string>{"other", "other", "store"}));
  // Lenient does not relax the fields it knows: a bad value is still a 400.
  OpenAiRequest bad;
  const auto e = Try(R"({"prompt": "x", "frobnicate": 1, "temperature": "hot"})", C, &bad, true);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->param, "temperature");
  // The label set is bounded: every label is one of the documented fields or "other".
  const auto& labels = IgnoredFieldLabels();
  EXPECT_EQ(IgnoredFieldLabel("anything-at-all"), "other");
  EXPECT_NE(std::find(labels.begin(), labels.end(), "other"), labels.end());
  EXPECT_LT(labels.size(), 16u);
}

// What the client libraries send with strict checking on (their request builders: the openai
// SDK passes the caller's fields through; @ai-sdk/openai-compatible getArgs; @langchain/openai
// invocationParams), tools fields included (their own parser; known here).
TEST(OpenAiFields, ClientLibraryBodiesAreAccepted) {
  // Vercel AI SDK: generateText with Output.object, streaming with usage.
  const OpenAiRequest v = Ok("{" + kChat + R"(, "model": "m", "user": "u", "max_tokens": 20,
      "temperature": 0, "top_p": 1, "frequency_penalty": 0, "presence_penalty": 0,
      "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"},
        "strict": true, "name": "response", "description": "d"}},
      "stop": ["x"], "seed": 1, "reasoning_effort": "low", "verbosity": "low",
      "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
      "tool_choice": "auto", "stream": true, "stream_options": {"include_usage": true}})",
                             H);
  EXPECT_EQ(v.api.structured.kind, Kind::kJsonSchema);
  EXPECT_TRUE(v.api.structured.strict);
  // LangChain.js ChatOpenAI (withStructuredOutput, tools, logprobs).
  const OpenAiRequest l = Ok("{" + kChat + R"(, "model": "m", "temperature": 0.5, "top_p": 1,
      "frequency_penalty": 0, "presence_penalty": 0, "logprobs": true, "top_logprobs": 2, "n": 1,
      "logit_bias": {"5": 1}, "stop": ["x"], "user": "u", "stream": false,
      "parallel_tool_calls": false, "max_completion_tokens": 30, "seed": 3,
      "service_tier": "auto", "prompt_cache_key": "k", "store": false,
      "response_format": {"type": "json_schema", "json_schema": {"name": "extract",
        "description": "d", "schema": {"type": "object"}, "strict": false}}})",
                             H);
  EXPECT_FALSE(l.api.structured.strict);
  EXPECT_EQ(l.api.sampling.logit_bias.size(), 1u);
}

TEST(OpenAiFields, ResponseFormatKinds) {
  EXPECT_EQ(Ok(R"({"prompt": "x", "response_format": {"type": "text"}})").api.structured.kind,
            Kind::kNone);
  const auto jo = Ok(R"({"prompt": "x", "response_format": {"type": "json_object"}})");
  EXPECT_EQ(jo.api.structured.kind, Kind::kJsonObject);
  EXPECT_EQ(jo.api.structured.param, "response_format");
  // The schema keeps its key order: `properties` order is the output's.
  const auto js = Ok("{" + kChat + R"(, "response_format": {"type": "json_schema",
      "json_schema": {"name": "n", "schema": {"type": "object", "properties":
      {"zeta": {"type": "integer"}, "alpha": {"type": "string"}}}}}})",
                     H);
  const StructuredSpec& s = js.api.structured;
  EXPECT_EQ(s.kind, Kind::kJsonSchema);
  EXPECT_EQ(s.param, "response_format.json_schema.schema");
  EXPECT_TRUE(s.strict);  // absent: strict
  ASSERT_NE(s.text.find("zeta"), std::string::npos) << s.text;
  EXPECT_LT(s.text.find("zeta"), s.text.find("alpha")) << s.text;
  // llama-server's schema inside json_object.
  const auto ls = Ok(R"({"prompt": "x", "response_format": {"type": "json_object",
      "schema": {"type": "integer"}}})");
  EXPECT_EQ(ls.api.structured.kind, Kind::kJsonSchema);
  EXPECT_EQ(ls.api.structured.param, "response_format.schema");
  EXPECT_EQ(ls.api.structured.text, R"({"type":"integer"})");
}

TEST(OpenAiFields, ServerExtensions) {
  struct Case {
    const char* body;
    Kind kind;
    const char* param;
    const char* text;
  };
  const Case cases[] = {
      {R"("json_schema": {"type": "boolean"})", Kind::kJsonSchema, "json_schema",
       R"({"type":"boolean"})"},
      {R"("grammar": "root ::= \"a\"")", Kind::kGbnf, "grammar", R"(root ::= "a")"},
      {R"("guided_json": {"type": "null"})", Kind::kJsonSchema, "guided_json",
       R"({"type":"null"})"},
      {R"("guided_json": "{\"type\": \"null\"}")", Kind::kJsonSchema, "guided_json",
       R"({"type": "null"})"},
      {R"("guided_regex": "[0-9]+")", Kind::kRegex, "guided_regex", "[0-9]+"},
      {R"("guided_grammar": "root ::= \"b\"")", Kind::kGbnf, "guided_grammar", R"(root ::= "b")"},
      {R"("guided_choice": ["yes", "no"])", Kind::kRegex, "guided_choice", "(yes)|(no)"},
      {R"("structured_outputs": {"json": {"type": "null"}})", Kind::kJsonSchema,
       "structured_outputs.json", R"({"type":"null"})"},
      {R"("structured_outputs": {"regex": "a+"})", Kind::kRegex, "structured_outputs.regex", "a+"},
      {R"("structured_outputs": {"grammar": "root ::= \"c\""})", Kind::kGbnf,
       "structured_outputs.grammar", R"(root ::= "c")"},
      {R"("structured_outputs": {"choice": ["a b"]})", Kind::kRegex, "structured_outputs.choice",
       "(a\\x20b)"},
      {R"("structured_outputs": {"json_object": true})", Kind::kJsonObject,
       "structured_outputs.json_object", ""},
      {R"("guided_decoding_backend": "xgrammar", "guided_regex": "x")", Kind::kRegex,
       "guided_regex", "x"},
  };
  for (const Case& c : cases) {
    for (Endpoint ep : {C, H}) {
      const std::string body =
          std::string("{") + (ep == C ? R"("prompt": "x")" : kChat) + ", " + c.body + "}";
      const OpenAiRequest r = Ok(body, ep);
      EXPECT_EQ(r.api.structured.kind, c.kind) << body;
      EXPECT_EQ(r.api.structured.param, c.param) << body;
      EXPECT_EQ(r.api.structured.text, c.text) << body;
    }
  }
}

TEST(OpenAiFields, ChoiceRegexEscapesEverythingButLettersAndDigits) {
  EXPECT_EQ(ChoiceRegex({"a.b", "(x)|y*", "é"}), "(a\\x2eb)|(\\x28x\\x29\\x7cy\\x2a)|(é)");
}

TEST(OpenAiFields, StructuredErrorsNameTheField) {
  const std::string p = R"({"prompt": "x", )";
  ExpectBad(p + R"("response_format": "json"})", C, "response_format");
  ExpectBad(p + R"("response_format": {"type": "xml"}})", C, "response_format.type");
  ExpectBad(p + R"("response_format": {}})", C, "response_format.type");
  ExpectBad(p + R"("response_format": {"type": "text", "x": 1}})", C, "response_format.x");
  ExpectBad(p + R"("response_format": {"type": "json_schema"}})", C, "response_format.json_schema");
  ExpectBad(p + R"("response_format": {"type": "json_schema", "json_schema": {"name": "n"}}})", C,
            "response_format.json_schema.schema");
  ExpectBad(p + R"("response_format": {"type": "json_schema", "json_schema": {"schema": 5}}})", C,
            "response_format.json_schema.schema");
  ExpectBad(p + R"("response_format": {"type": "json_schema", "json_schema":
      {"schema": {}, "strict": "yes"}}})",
            C, "response_format.json_schema.strict");
  ExpectBad(p + R"("response_format": {"type": "json_schema", "json_schema":
      {"schema": {}, "frob": 1}}})",
            C, "response_format.json_schema.frob");
  ExpectBad(p + R"("grammar": 5})", C, "grammar");
  ExpectBad(p + R"("grammar": ""})", C, "grammar");
  ExpectBad(p + R"("json_schema": "text"})", C, "json_schema");
  ExpectBad(p + R"("guided_regex": ["a"]})", C, "guided_regex");
  ExpectBad(p + R"("guided_choice": []})", C, "guided_choice");
  ExpectBad(p + R"("guided_choice": ["a", 1]})", C, "guided_choice");
  ExpectBad(p + R"("structured_outputs": {"regex": "a", "choice": ["b"]}})", C,
            "structured_outputs");
  ExpectBad(p + R"("structured_outputs": {}})", C, "structured_outputs");
  ExpectBad(p + R"("structured_outputs": {"structural_tag": {}}})", C,
            "structured_outputs.structural_tag");
  ExpectBad(p + R"("structured_outputs": {"json_object": false}})", C,
            "structured_outputs.json_object");
  // More than one structured-output field: the second one is named.
  ExpectBad(p + R"("response_format": {"type": "json_object"}, "guided_json": {}})", C,
            "guided_json");
  ExpectBad(p + R"("json_schema": {}, "grammar": "root ::= \"a\""})", C, "grammar");
  ExpectBad(p + R"("guided_regex": "a", "guided_choice": ["b"]})", C, "guided_choice");
  ExpectBad(p + R"("guided_json": {}, "structured_outputs": {"regex": "a"}})", C,
            "structured_outputs");
  // response_format text does not count as one.
  EXPECT_EQ(
      Ok(p + R"("response_format": {"type": "text"}, "guided_regex": "a"})").api.structured.kind,
      Kind::kRegex);
}

TEST(OpenAiFields, TokenFields) {
  const OpenAiRequest r = Ok(R"({"prompt": "x", "max_tokens": 9, "logit_bias": {"5": -100,
      "17": 2.5}, "stop_token_ids": [2, 3], "min_tokens": 4})");
  const auto& p = r.api.sampling;
  EXPECT_EQ(p.logit_bias,
            (std::vector<std::pair<int32_t, float>>{{17, 2.5f}, {5, -100.f}}));  // key order
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(p.min_tokens, 4);
  const std::string b = R"({"prompt": "x", )";
  ExpectBad(b + R"("logit_bias": [1]})", C, "logit_bias");
  ExpectBad(b + R"("logit_bias": {"a": 1}})", C, "logit_bias");
  ExpectBad(b + R"("logit_bias": {"-1": 1}})", C, "logit_bias");
  ExpectBad(b + R"("logit_bias": {"99999999999": 1}})", C, "logit_bias");
  ExpectBad(b + R"("logit_bias": {"5": 101}})", C, "logit_bias");
  ExpectBad(b + R"("logit_bias": {"5": "1"}})", C, "logit_bias");
  ExpectBad(b + R"("stop_token_ids": 2})", C, "stop_token_ids");
  ExpectBad(b + R"("stop_token_ids": [-1]})", C, "stop_token_ids");
  ExpectBad(b + R"("stop_token_ids": [1.5]})", C, "stop_token_ids");
  ExpectBad(b + R"("min_tokens": -1})", C, "min_tokens");
  ExpectBad(b + R"("min_tokens": "3"})", C, "min_tokens");
  ExpectBad(b + R"("min_tokens": 20, "max_tokens": 10})", C, "min_tokens");
  ExpectBad("{" + kChat + R"(, "min_tokens": 20, "max_completion_tokens": 10})", H, "min_tokens");
}

TEST(OpenAiFields, ParamOfFrontendMessages) {
  EXPECT_EQ(ParamOfMessage("response_format.json_schema.schema: /properties/a: bad", H),
            "response_format.json_schema.schema");
  EXPECT_EQ(ParamOfMessage("guided_regex: unbalanced (", C), "guided_regex");
  EXPECT_EQ(ParamOfMessage("logit_bias token id 9 is outside the vocabulary [0, 5)", C),
            "logit_bias");
  EXPECT_EQ(ParamOfMessage("stop_token_ids token id 9 is outside", C), "stop_token_ids");
  EXPECT_EQ(ParamOfMessage("min_tokens 5 exceeds max_tokens 3", C), "min_tokens");
  EXPECT_EQ(ParamOfMessage("server overloaded: 3", C), "");
}

}  // namespace
}  // namespace phx::server
