#include "server/http/openai_json.h"

#include <cmath>
#include <limits>
#include <vector>

#include "base/strings.h"
#include "nlohmann/json.hpp"
#include "server/http/json_fields.h"
#include "server/http/openai_fields.h"

namespace phx::server {
namespace {

using json = nlohmann::json;
using namespace json_fields;  // NOLINT: the parsers' shared helpers

// nlohmann's SAX events built into a json value, as json::parse does, but counting depth and
// values as they come: the first event past a limit stops the parse. J is nlohmann::json or
// nlohmann::ordered_json (the SAX interface is the same).
template <class J>
class BoundedDom {
  using json = J;

 public:
  BoundedDom(json* root, const ParseOptions& o) : root_(root), opts_(o) {}

  bool null() { return Add(nullptr) != nullptr; }
  bool boolean(bool v) { return Add(v) != nullptr; }
  bool number_integer(typename json::number_integer_t v) { return Add(v) != nullptr; }
  bool number_unsigned(typename json::number_unsigned_t v) { return Add(v) != nullptr; }
  bool number_float(typename json::number_float_t v, const std::string&) {
    return Add(v) != nullptr;
  }
  bool string(std::string& v) { return Add(std::move(v)) != nullptr; }
  bool binary(typename json::binary_t& v) { return Add(json::binary(std::move(v))) != nullptr; }
  bool start_object(size_t) { return Open(json::object()); }
  bool key(std::string& k) {
    key_ = std::move(k);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(size_t) { return Open(json::array()); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

  // Why the parse stopped early ("" when it did not stop for a limit).
  const std::string& problem() const { return problem_; }

 private:
  // Places `v` in the innermost open container (or at the root); null past the value limit.
  json* Add(json v) {
    if (++values_ > opts_.max_values) {
      problem_ = StrCat("the request body has more than ", opts_.max_values, " JSON values");
      return nullptr;
    }
    if (stack_.empty()) {
      *root_ = std::move(v);
      return root_;
    }
    json* top = stack_.back();
    if (top->is_array()) {
      top->push_back(std::move(v));
      return &top->back();
    }
    json& slot = (*top)[key_];  // a repeated key: the last value wins, as in json::parse
    slot = std::move(v);
    return &slot;
  }
  bool Open(json container) {
    if (static_cast<int>(stack_.size()) >= opts_.max_depth) {
      problem_ = StrCat("the request body nests arrays and objects deeper than ", opts_.max_depth,
                        " levels");
      return false;
    }
    json* j = Add(std::move(container));
    if (j == nullptr) return false;
    // Pointers stay valid: a container only grows while it is innermost, when no pointer to
    // one of its elements is on the stack.
    stack_.push_back(j);
    return true;
  }

  json* root_;
  const ParseOptions& opts_;
  std::vector<json*> stack_;
  std::string key_;
  size_t values_ = 0;
  std::string problem_;
};

Error GetBool(const json& o, const char* key, bool* out) {
  const json* v = Member(o, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_boolean()) return Invalid(key, StrCat(key, " must be a boolean"));
  *out = v->get<bool>();
  return std::nullopt;
}

Error GetFloat(const json& o, const char* key, float* out) {
  const json* v = Member(o, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return Invalid(key, StrCat(key, " must be a number"));
  const double d = v->get<double>();
  if (!std::isfinite(d)) return Invalid(key, StrCat(key, " must be a finite number"));
  *out = static_cast<float>(d);
  return std::nullopt;
}

// An integer (a float with an integral value is accepted: 16.0) in [lo, hi].
bool AsInt(const json& v, int64_t lo, int64_t hi, int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return false;
    *out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    *out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
        d > static_cast<double>(hi)) {
      return false;
    }
    *out = static_cast<int64_t>(d);
  } else {
    return false;
  }
  return *out >= lo && *out <= hi;
}

Error GetInt(const json& o, const char* key, int64_t lo, int64_t hi, int64_t* out,
             bool* given = nullptr) {
  const json* v = Member(o, key);
  if (given != nullptr) *given = v != nullptr;
  if (v == nullptr) return std::nullopt;
  if (!v->is_number()) return Invalid(key, StrCat(key, " must be an integer"));
  if (!AsInt(*v, lo, hi, out)) {
    return Invalid(key, StrCat(key, " must be an integer in [", lo, ", ", hi, "]"));
  }
  return std::nullopt;
}

Error GetString(const json& o, const char* key, std::string* out) {
  const json* v = Member(o, key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) return Invalid(key, StrCat(key, " must be a string"));
  *out = v->get<std::string>();
  return std::nullopt;
}

bool AllOf(const json& a, bool (json::*pred)() const noexcept) {
  for (const json& e : a) {
    if (!(e.*pred)()) return false;
  }
  return true;
}

Error TokenIds(const json& a, std::vector<int32_t>* ids) {
  for (const json& e : a) {
    int64_t id = 0;
    if (!AsInt(e, 0, std::numeric_limits<int32_t>::max(), &id)) {
      return Invalid("prompt", "prompt token ids must be integers >= 0");
    }
    ids->push_back(static_cast<int32_t>(id));
  }
  if (ids->empty()) return Invalid("prompt", "prompt must not be empty");
  return std::nullopt;
}

Error ParsePrompt(const json& o, ApiRequest* a) {
  const json* p = Member(o, "prompt");
  if (p == nullptr) return Invalid("prompt", "prompt is required");
  const ApiError batched =
      Invalid("prompt", "batched prompts are not supported: send one prompt per request");
  if (p->is_string()) {
    a->has_text = true;
    a->text = p->get<std::string>();
    return std::nullopt;
  }
  if (!p->is_array()) {
    return Invalid("prompt", "prompt must be a string or an array of token ids");
  }
  if (p->empty()) return Invalid("prompt", "prompt must not be empty");
  if (AllOf(*p, &json::is_number)) {
    a->has_text = false;
    return TokenIds(*p, &a->token_ids);
  }
  if (AllOf(*p, &json::is_string)) {
    if (p->size() > 1) return batched;
    a->has_text = true;
    a->text = (*p)[0].get<std::string>();
    return std::nullopt;
  }
  if (AllOf(*p, &json::is_array)) {
    if (p->size() > 1) return batched;
    a->has_text = false;
    return TokenIds((*p)[0], &a->token_ids);
  }
  return Invalid("prompt", "prompt must be a string or an array of token ids");
}

// Chat messages are the template's to interpret (roles, content parts, tool calls: see
// chat::ChatRenderer); here only their shape.
Error CheckMessages(const nlohmann::ordered_json& body) {
  auto m = body.find("messages");
  if (m == body.end() || !m->is_array() || m->empty()) {
    return Invalid("messages", "messages must be a non-empty array");
  }
  for (size_t i = 0; i < m->size(); ++i) {
    const auto& e = (*m)[i];
    const std::string at = StrCat("messages[", i, "]");
    if (!e.is_object()) return Invalid(at, StrCat(at, " must be an object"));
    auto role = e.find("role");
    if (role == e.end() || !role->is_string()) {
      return Invalid(at + ".role", StrCat(at, ".role must be a string"));
    }
  }
  return std::nullopt;
}

Error ParseSampling(const json& o, Endpoint ep, const ParseOptions& opts, OpenAiRequest* r) {
  sampler::SamplingParams& p = r->api.sampling;
  PHX_TRY_FIELD(GetFloat(o, "temperature", &p.temperature));
  PHX_TRY_FIELD(GetFloat(o, "top_p", &p.top_p));
  PHX_TRY_FIELD(GetFloat(o, "min_p", &p.min_p));
  PHX_TRY_FIELD(GetFloat(o, "presence_penalty", &p.presence_penalty));
  PHX_TRY_FIELD(GetFloat(o, "frequency_penalty", &p.frequency_penalty));
  PHX_TRY_FIELD(GetFloat(o, "repetition_penalty", &p.repetition_penalty));
  int64_t v = 0;
  bool given = false;
  PHX_TRY_FIELD(GetInt(o, "top_k", -1, std::numeric_limits<int32_t>::max(), &v, &given));
  if (given) p.top_k = v < 0 ? 0 : static_cast<int32_t>(v);  // vLLM: -1 = off
  if (const json* s = Member(o, "seed")) {
    if (s->is_number_unsigned()) {
      p.seed = s->get<uint64_t>();
    } else if (s->is_number_integer()) {
      p.seed = static_cast<uint64_t>(s->get<int64_t>());
    } else {
      return Invalid("seed", "seed must be an integer");
    }
  }
  // max_completion_tokens (newer chat API) wins over max_tokens.
  const char* max_key = "max_tokens";
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    PHX_TRY_FIELD(GetInt(o, key, std::numeric_limits<int32_t>::min(),
                         std::numeric_limits<int32_t>::max(), &v, &given));
    if (given) {
      p.max_tokens = static_cast<int32_t>(v);
      r->api.explicit_max_tokens = true;
      max_key = key;
    }
  }
  if (!r->api.explicit_max_tokens) {
    p.max_tokens =
        ep == Endpoint::kChat ? opts.default_chat_max_tokens : opts.default_completion_max_tokens;
  }
  if (const json* s = Member(o, "stop")) {
    if (s->is_string()) {
      p.stop.push_back(s->get<std::string>());
    } else if (s->is_array() && AllOf(*s, &json::is_string)) {
      for (const json& e : *s) p.stop.push_back(e.get<std::string>());
    } else {
      return Invalid("stop", "stop must be a string or an array of strings");
    }
  }
  PHX_TRY_FIELD(GetBool(o, "ignore_eos", &p.ignore_eos));
  const char* logprobs_key = "logprobs";
  if (ep == Endpoint::kCompletions) {
    PHX_TRY_FIELD(GetInt(o, "logprobs", 0, opts.max_logprobs, &v, &given));
    if (given) p.logprobs = static_cast<int32_t>(v);
  } else {
    PHX_TRY_FIELD(GetBool(o, "logprobs", &r->logprobs));
    PHX_TRY_FIELD(GetInt(o, "top_logprobs", 0, opts.max_logprobs, &v, &given));
    if (given && !r->logprobs) {
      return Invalid("top_logprobs", "top_logprobs requires logprobs: true");
    }
    if (r->logprobs) p.logprobs = given ? static_cast<int32_t>(v) : 0;
    logprobs_key = "top_logprobs";
  }
  r->logprobs = p.logprobs >= 0;
  PHX_TRY_FIELD(ParseSamplingExtras(o, &p));
  if (p.min_tokens > p.max_tokens) {
    return Invalid("min_tokens",
                   StrCat("min_tokens ", p.min_tokens, " exceeds ", max_key, " ", p.max_tokens));
  }
  if (absl::Status s = p.Validate(opts.max_logprobs); !s.ok()) {
    const std::string message(ToStd(s.message()));
    std::string param = ParamOfMessage(message, ep);
    const std::string field = param;
    if (param == "max_tokens") param = max_key;
    if (param == "logprobs") param = logprobs_key;
    if (param == field) return ApiError{s, param, ""};
    // The field as the request named it ("max_completion_tokens must be >= 1").
    return Invalid(param, param + message.substr(field.size()));
  }
  return std::nullopt;
}

}  // namespace

template <class J>
std::optional<ApiError> ParseJsonBodyAs(std::string_view body, const ParseOptions& opts, J* out) {
  if (body.size() > opts.max_body_bytes) {
    return Invalid("", StrCat("the request body is ", body.size(), " bytes; the limit is ",
                              opts.max_body_bytes));
  }
  *out = J();
  BoundedDom<J> dom(out, opts);
  const bool ok =
      J::sax_parse(body.begin(), body.end(), &dom, J::input_format_t::json, /*strict=*/true);
  if (!dom.problem().empty()) return Invalid("", dom.problem());
  if (!ok) return Invalid("", "the request body is not valid JSON");
  return std::nullopt;
}

std::optional<ApiError> ParseJsonBody(std::string_view body, const ParseOptions& opts, json* out) {
  return ParseJsonBodyAs(body, opts, out);
}

std::optional<ApiError> ParseJsonBody(std::string_view body, const ParseOptions& opts,
                                      nlohmann::ordered_json* out) {
  return ParseJsonBodyAs(body, opts, out);
}

std::optional<ApiError> ParseRequest(std::string_view body, Endpoint ep, const ParseOptions& opts,
                                     OpenAiRequest* r) {
  nlohmann::ordered_json doc;
  if (auto e = ParseJsonBody(body, opts, &doc)) return e;
  if (!doc.is_object()) return Invalid("", "the request body must be a JSON object");
  PHX_TRY_FIELD(CheckFields(doc, ep, opts.lenient, &r->ignored_fields));
  const json o(doc);
  r->endpoint = ep;
  PHX_TRY_FIELD(GetString(o, "model", &r->model));
  if (ep == Endpoint::kCompletions) {
    PHX_TRY_FIELD(ParsePrompt(o, &r->api));
    PHX_TRY_FIELD(GetBool(o, "echo", &r->api.echo));
    PHX_TRY_FIELD(GetBool(o, "add_special_tokens", &r->api.add_special));
  } else {
    PHX_TRY_FIELD(CheckMessages(doc));
    bool add_generation_prompt = true;  // checked here so the error names the field early
    PHX_TRY_FIELD(GetBool(o, "add_generation_prompt", &add_generation_prompt));
  }
  PHX_TRY_FIELD(ParseSampling(o, ep, opts, r));
  PHX_TRY_FIELD(ParseStructured(doc, &r->api.structured));
  if (r->api.echo && r->logprobs) {
    return Invalid("echo", "echo together with logprobs is not supported");
  }
  int64_t v = 0;
  bool given = false;
  PHX_TRY_FIELD(GetInt(o, "n", std::numeric_limits<int32_t>::min(),
                       std::numeric_limits<int32_t>::max(), &v, &given));
  if (given && (v < 1 || v > kMaxChoices)) {
    return Invalid("n", StrCat("n must be between 1 and ", kMaxChoices));
  }
  if (given) r->n = static_cast<int32_t>(v);
  // best_of (completions): generating more than n and returning the best is not implemented;
  // best_of equal to n means no choosing, and is accepted.
  PHX_TRY_FIELD(GetInt(o, "best_of", std::numeric_limits<int32_t>::min(),
                       std::numeric_limits<int32_t>::max(), &v, &given));
  if (given && v != r->n) {
    return Invalid("best_of", StrCat("best_of must equal n (", r->n,
                                     "): choosing the best of more choices is not supported"));
  }
  PHX_TRY_FIELD(GetBool(o, "stream", &r->stream));
  if (const json* so = Member(o, "stream_options")) {
    if (!so->is_object()) return Invalid("stream_options", "stream_options must be an object");
    if (const json* iu = Member(*so, "include_usage")) {
      if (!iu->is_boolean()) {
        return Invalid("stream_options.include_usage",
                       "stream_options.include_usage must be a boolean");
      }
      r->include_usage = iu->get<bool>();
    }
  }
  PHX_TRY_FIELD(GetInt(o, "priority", -1000, 1000, &v, &given));
  if (given) r->api.priority = static_cast<int32_t>(v);
  PHX_TRY_FIELD(GetString(o, "user", &r->user));
  if (ep == Endpoint::kChat) {
    // vLLM's name: the reasoning token budget (-1: unlimited; 0: close the block at once).
    PHX_TRY_FIELD(GetInt(o, "thinking_token_budget", -1, 1 << 30, &v, &given));
    if (given) r->api.reasoning_budget = static_cast<int32_t>(v);
    PHX_TRY_FIELD(ParseTools(doc, &r->tools));
  }
  if (ep == Endpoint::kChat) r->chat = std::move(doc);
  return std::nullopt;
}

std::string ParamOfMessage(std::string_view message, Endpoint ep) {
  std::string_view word = message.substr(0, message.find(' '));
  if (!word.empty() && word.back() == ':') word.remove_suffix(1);
  // Structured output and the token-id fields: the message starts with the field's path
  // ("response_format.json_schema.schema: /properties/a: ...").
  static constexpr std::string_view kPathRoots[] = {
      "response_format", "json_schema",    "grammar",       "guided_json",
      "guided_regex",    "guided_grammar", "guided_choice", "structured_outputs",
      "logit_bias",      "stop_token_ids", "min_tokens"};
  const std::string_view root = word.substr(0, word.find_first_of(".["));
  for (std::string_view f : kPathRoots) {
    if (root == f) return std::string(word);
  }
  static constexpr std::string_view kFields[] = {"temperature",
                                                 "top_k",
                                                 "top_p",
                                                 "min_p",
                                                 "repetition_penalty",
                                                 "presence_penalty",
                                                 "frequency_penalty",
                                                 "penalty_last_n",
                                                 "max_tokens",
                                                 "logprobs",
                                                 "stop",
                                                 "priority",
                                                 "seed"};
  for (std::string_view f : kFields) {
    if (word == f) return std::string(f);
  }
  if (word == "prompt") return ep == Endpoint::kChat ? "messages" : "prompt";
  return "";
}

#undef PHX_TRY_FIELD

}  // namespace phx::server
