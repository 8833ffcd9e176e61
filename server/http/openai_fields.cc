#include "server/http/openai_fields.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/strings.h"
#include "server/http/json_fields.h"

namespace phx::server {
namespace {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using namespace json_fields;  // NOLINT: the parsers' shared helpers

// Implemented on both endpoints (parsed by openai_json.cc or here).
constexpr std::string_view kBoth[] = {
    "model", "temperature", "top_p", "min_p", "top_k", "presence_penalty", "frequency_penalty",
    "repetition_penalty", "seed", "max_tokens", "max_completion_tokens", "stop", "ignore_eos", "n",
    "stream", "stream_options", "priority", "user", "logit_bias", "stop_token_ids", "min_tokens",
    "response_format", "json_schema", "grammar", "guided_json", "guided_regex", "guided_grammar",
    "guided_choice", "structured_outputs", "logprobs",
    // Backend choice only: the one engine here is always used.
    "guided_decoding_backend"};
constexpr std::string_view kCompletionsOnly[] = {"prompt", "echo", "add_special_tokens", "best_of"};
// Chat: the template's variables (chat::ChatRenderer) and the tool fields (their own parser).
constexpr std::string_view kChatOnly[] = {
    "messages",    "add_generation_prompt", "chat_template_kwargs",
    "documents",   "top_logprobs",          "tools",
    "tool_choice", "parallel_tool_calls",   "thinking_token_budget"};
// Harmless to ignore: they do not change what is generated (docs/api.md, "Ignored fields").
// Sent by the openai SDK, the Vercel AI SDK and LangChain.js when their users set them.
constexpr std::string_view kIgnored[] = {
    "metadata",           // OpenAI: tags for the dashboard (with store)
    "store",              // OpenAI: keep the completion for distillation/evals
    "service_tier",       // OpenAI: which capacity pool bills it
    "prompt_cache_key",   // OpenAI: a prefix-cache routing hint (Phalanx caches prefixes anyway)
    "safety_identifier",  // OpenAI: end-user id for abuse detection (like user)
    "prediction",         // OpenAI: predicted output, a latency optimisation only
    // A hint to reasoning models, ignored: thinking_token_budget (or --reasoning-budget) is
    // the budget; Responses maps reasoning.effort "none" to the template's thinking switch.
    "reasoning_effort",
    "verbosity",  // a hint to GPT-5 models (the Vercel AI SDK's textVerbosity)
};

bool IsIgnored(std::string_view key) { return In(key, kIgnored); }

bool IsImplemented(std::string_view key, Endpoint ep) {
  if (In(key, kBoth)) return true;
  return ep == Endpoint::kChat ? In(key, kChatOnly) : In(key, kCompletionsOnly);
}

// Why a known but unimplemented field is refused ("" for an unknown one).
std::string_view Unsupported(std::string_view key) {
  if (key == "functions" || key == "function_call") {
    return "the deprecated function-calling fields are not supported: use tools and tool_choice";
  }
  if (key == "suffix") return "suffix (insertion) is not supported";
  if (key == "audio" || key == "modalities") return "only text output is supported";
  if (key == "web_search_options") return "web search is not supported";
  if (key == "use_beam_search") return "beam search is not supported";
  return "";
}

// A JSON schema given as an object (or true/false) or as its JSON text.
Error SchemaText(const ojson& v, const std::string& param, std::string* out) {
  if (v.is_object() || v.is_boolean()) {
    *out = v.dump();
  } else if (v.is_string()) {
    *out = v.get<std::string>();
  } else {
    return Invalid(param, StrCat(param, " must be a JSON schema (an object)"));
  }
  return std::nullopt;
}

Error StringField(const ojson& v, const std::string& param, std::string* out) {
  if (!v.is_string()) return Invalid(param, StrCat(param, " must be a string"));
  *out = v.get<std::string>();
  if (out->empty()) return Invalid(param, StrCat(param, " must not be empty"));
  return std::nullopt;
}

Error Choices(const ojson& v, const std::string& param, std::string* regex) {
  if (!v.is_array() || v.empty()) {
    return Invalid(param, StrCat(param, " must be a non-empty array of strings"));
  }
  std::vector<std::string> choices;
  for (const ojson& e : v) {
    if (!e.is_string()) return Invalid(param, StrCat(param, " must be an array of strings"));
    choices.push_back(e.get<std::string>());
  }
  *regex = ChoiceRegex(choices);
  return std::nullopt;
}

Error ResponseFormat(const ojson& rf, StructuredSpec* s) {
  if (!rf.is_object()) return Invalid("response_format", "response_format must be an object");
  const ojson* type = Member(rf, "type");
  if (type == nullptr || !type->is_string()) {
    return Invalid("response_format.type",
                   "response_format.type must be one of text, json_object, json_schema");
  }
  const std::string t = type->get<std::string>();
  if (t == "text") return OnlyKeys(rf, "response_format", {"type"});
  if (t == "json_object") {
    // llama-server and vLLM also take a schema here.
    if (auto e = OnlyKeys(rf, "response_format", {"type", "schema"})) return e;
    if (const ojson* schema = Member(rf, "schema")) {
      s->kind = StructuredSpec::Kind::kJsonSchema;
      s->param = "response_format.schema";
      return SchemaText(*schema, s->param, &s->text);
    }
    s->kind = StructuredSpec::Kind::kJsonObject;
    s->param = "response_format";
    return std::nullopt;
  }
  if (t != "json_schema") {
    return Invalid(
        "response_format.type",
        StrCat("response_format.type '", t, "' is not one of text, json_object, json_schema"));
  }
  if (auto e = OnlyKeys(rf, "response_format", {"type", "json_schema"})) return e;
  const ojson* js = Member(rf, "json_schema");
  if (js == nullptr || !js->is_object()) {
    return Invalid("response_format.json_schema",
                   "response_format.json_schema must be an object with a schema");
  }
  if (auto e = OnlyKeys(*js, "response_format.json_schema",
                        {"name", "description", "schema", "strict"})) {
    return e;
  }
  if (const ojson* n = Member(*js, "name"); n != nullptr && !n->is_string()) {
    return Invalid("response_format.json_schema.name",
                   "response_format.json_schema.name must be a string");
  }
  if (const ojson* d = Member(*js, "description"); d != nullptr && !d->is_string()) {
    return Invalid("response_format.json_schema.description",
                   "response_format.json_schema.description must be a string");
  }
  if (const ojson* st = Member(*js, "strict")) {
    if (!st->is_boolean()) {
      return Invalid("response_format.json_schema.strict",
                     "response_format.json_schema.strict must be a boolean");
    }
    s->strict = st->get<bool>();
  }
  s->kind = StructuredSpec::Kind::kJsonSchema;
  s->param = "response_format.json_schema.schema";
  const ojson* schema = Member(*js, "schema");
  if (schema == nullptr) return Invalid(s->param, StrCat(s->param, " is required"));
  return SchemaText(*schema, s->param, &s->text);
}

// vLLM's structured_outputs: {json | regex | grammar | choice | json_object}.
Error StructuredOutputs(const ojson& so, StructuredSpec* s) {
  if (!so.is_object()) return Invalid("structured_outputs", "structured_outputs must be an object");
  if (auto e = OnlyKeys(so, "structured_outputs",
                        {"json", "regex", "grammar", "choice", "json_object"})) {
    return e;
  }
  int given = 0;
  for (const auto& [k, v] : so.items()) given += v.is_null() ? 0 : 1;
  if (given != 1) {
    return Invalid("structured_outputs",
                   "structured_outputs must give exactly one of json, regex, grammar, choice, "
                   "json_object");
  }
  if (const ojson* v = Member(so, "json")) {
    s->kind = StructuredSpec::Kind::kJsonSchema;
    s->param = "structured_outputs.json";
    return SchemaText(*v, s->param, &s->text);
  }
  if (const ojson* v = Member(so, "regex")) {
    s->kind = StructuredSpec::Kind::kRegex;
    s->param = "structured_outputs.regex";
    return StringField(*v, s->param, &s->text);
  }
  if (const ojson* v = Member(so, "grammar")) {
    s->kind = StructuredSpec::Kind::kGbnf;
    s->param = "structured_outputs.grammar";
    return StringField(*v, s->param, &s->text);
  }
  if (const ojson* v = Member(so, "choice")) {
    s->kind = StructuredSpec::Kind::kRegex;
    s->param = "structured_outputs.choice";
    return Choices(*v, s->param, &s->text);
  }
  const ojson* v = Member(so, "json_object");
  if (!v->is_boolean() || !v->get<bool>()) {
    return Invalid("structured_outputs.json_object", "structured_outputs.json_object must be true");
  }
  s->kind = StructuredSpec::Kind::kJsonObject;
  s->param = "structured_outputs.json_object";
  return std::nullopt;
}

bool AsTokenId(const json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
      return false;
    }
    *out = static_cast<int64_t>(v.get<uint64_t>());
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return *out >= 0 && *out <= std::numeric_limits<int32_t>::max();
  }
  return false;
}

}  // namespace

std::string IgnoredFieldLabel(std::string_view field) {
  return IsIgnored(field) ? std::string(field) : "other";
}

const std::vector<std::string>& IgnoredFieldLabels() {
  static const std::vector<std::string> labels = [] {
    std::vector<std::string> v(std::begin(kIgnored), std::end(kIgnored));
    v.push_back("other");
    return v;
  }();
  return labels;
}

std::optional<ApiError> CheckFields(const ojson& body, Endpoint ep, bool lenient,
                                    std::vector<std::string>* ignored) {
  for (const auto& [k, v] : body.items()) {
    if (v.is_null() || IsImplemented(k, ep)) continue;
    // Text output is what is generated: modalities ["text"] asks for nothing more.
    if (k == "modalities" && v == ojson::array({"text"})) continue;
    if (IsIgnored(k) || lenient) {
      ignored->push_back(IgnoredFieldLabel(k));
      continue;
    }
    const std::string_view why = Unsupported(k);
    const std::string where = ep == Endpoint::kChat ? "/v1/chat/completions" : "/v1/completions";
    return Invalid(k, why.empty()
                          ? StrCat("Unrecognized request argument supplied: ", k, " (", where,
                                   " does not implement it; see docs/api.md, or start the server "
                                   "with --lenient-api to ignore unknown fields)")
                          : StrCat(k, ": ", why));
  }
  return std::nullopt;
}

std::optional<ApiError> ParseStructured(const ojson& body, StructuredSpec* out) {
  *out = StructuredSpec();
  std::string first;  // the field that set *out
  auto claim = [&](const char* field) -> Error {
    if (!first.empty()) {
      return Invalid(field, StrCat("only one structured-output field may be given: ", first,
                                   " and ", field, " are both set"));
    }
    first = field;
    return std::nullopt;
  };
  if (const ojson* rf = Member(body, "response_format")) {
    StructuredSpec s;
    if (auto e = ResponseFormat(*rf, &s)) return e;
    if (s.kind != StructuredSpec::Kind::kNone) {
      first = "response_format";
      *out = std::move(s);
    }
  }
  if (const ojson* v = Member(body, "json_schema")) {
    if (auto e = claim("json_schema")) return e;
    if (!v->is_object() && !v->is_boolean()) {
      return Invalid("json_schema", "json_schema must be a JSON schema (an object)");
    }
    out->kind = StructuredSpec::Kind::kJsonSchema;
    out->param = "json_schema";
    out->text = v->dump();
  }
  if (const ojson* v = Member(body, "guided_json")) {
    if (auto e = claim("guided_json")) return e;
    out->kind = StructuredSpec::Kind::kJsonSchema;
    out->param = "guided_json";
    if (auto e = SchemaText(*v, out->param, &out->text)) return e;
  }
  for (const char* key : {"grammar", "guided_grammar"}) {
    if (const ojson* v = Member(body, key)) {
      if (auto e = claim(key)) return e;
      out->kind = StructuredSpec::Kind::kGbnf;
      out->param = key;
      if (auto e = StringField(*v, key, &out->text)) return e;
    }
  }
  if (const ojson* v = Member(body, "guided_regex")) {
    if (auto e = claim("guided_regex")) return e;
    out->kind = StructuredSpec::Kind::kRegex;
    out->param = "guided_regex";
    if (auto e = StringField(*v, out->param, &out->text)) return e;
  }
  if (const ojson* v = Member(body, "guided_choice")) {
    if (auto e = claim("guided_choice")) return e;
    out->kind = StructuredSpec::Kind::kRegex;
    out->param = "guided_choice";
    if (auto e = Choices(*v, out->param, &out->text)) return e;
  }
  if (const ojson* v = Member(body, "structured_outputs")) {
    if (auto e = claim("structured_outputs")) return e;
    if (auto e = StructuredOutputs(*v, out)) return e;
  }
  return std::nullopt;
}

std::optional<ApiError> ParseSamplingExtras(const json& body, sampler::SamplingParams* p) {
  auto member = [&](const char* key) -> const json* {
    auto it = body.find(key);
    return it == body.end() || it->is_null() ? nullptr : &*it;
  };
  if (const json* lb = member("logit_bias")) {
    if (!lb->is_object()) {
      return Invalid("logit_bias", "logit_bias must be an object of token ids to numbers");
    }
    for (const auto& [k, v] : lb->items()) {
      int64_t id = -1;
      const bool digits =
          !k.empty() && k.size() <= 10 &&
          std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (digits) id = std::stoll(k);
      if (!digits || id > std::numeric_limits<int32_t>::max()) {
        return Invalid("logit_bias", StrCat("logit_bias key '", k.substr(0, 32),
                                            "' is not a token id (a decimal integer >= 0)"));
      }
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < -100 ||
          v.get<double>() > 100) {
        return Invalid("logit_bias", StrCat("logit_bias value for token ", id,
                                            " must be a number in [-100, 100]"));
      }
      p->logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(v.get<double>()));
    }
  }
  if (const json* ids = member("stop_token_ids")) {
    if (!ids->is_array()) return Invalid("stop_token_ids", "stop_token_ids must be an array");
    for (const json& e : *ids) {
      int64_t id = 0;
      if (!AsTokenId(e, &id)) {
        return Invalid("stop_token_ids", "stop_token_ids must be token ids (integers >= 0)");
      }
      p->stop_token_ids.push_back(static_cast<int32_t>(id));
    }
  }
  if (const json* m = member("min_tokens")) {
    int64_t n = 0;
    if (!AsTokenId(*m, &n)) {
      return Invalid("min_tokens", "min_tokens must be an integer >= 0");
    }
    p->min_tokens = static_cast<int32_t>(n);
  }
  return std::nullopt;
}

std::string ChoiceRegex(const std::vector<std::string>& choices) {
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += '|';
    out += '(';
    for (unsigned char c : choices[i]) {
      const bool plain =
          (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
      if (plain) {
        out += static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\x%02x", c);
        out += buf;
      }
    }
    out += ')';
  }
  return out;
}

}  // namespace phx::server
