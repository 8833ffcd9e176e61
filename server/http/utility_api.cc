#include "server/http/utility_api.h"

#include "base/strings.h"
#include "server/core/frontend.h"
#include "server/http/json_fields.h"

namespace phx::server {
namespace {

using json = nlohmann::json;
using namespace json_fields;  // NOLINT: the parsers' shared helpers

// The body as a JSON object within the request limits.
std::optional<ApiError> Object(std::string_view body, const ParseOptions& opts,
                               nlohmann::ordered_json* o) {
  if (auto e = ParseJsonBody(body, opts, o)) return e;
  if (!o->is_object()) return Invalid("", "the request body must be a JSON object");
  return std::nullopt;
}

}  // namespace

std::optional<UtilityEndpoint> UtilityEndpointOf(std::string_view path) {
  if (path == "/tokenize") return UtilityEndpoint::kTokenize;
  if (path == "/detokenize") return UtilityEndpoint::kDetokenize;
  if (path == "/apply-template") return UtilityEndpoint::kApplyTemplate;
  return std::nullopt;
}

std::string UtilityRpcName(UtilityEndpoint ep) {
  switch (ep) {
    case UtilityEndpoint::kTokenize:
      return "Tokenize";  // as gRPC Tokenize and Gate::Tokenize record it
    case UtilityEndpoint::kDetokenize:
      return "http_detokenize";
    case UtilityEndpoint::kApplyTemplate:
      return "http_apply_template";
  }
  return "";
}

std::variant<TokenizeBody, ApiError> ParseTokenizeBody(std::string_view body,
                                                       const ParseOptions& opts) {
  nlohmann::ordered_json o;
  if (auto e = Object(body, opts, &o)) return *e;
  TokenizeBody t;
  if (!o.contains("content") || !o["content"].is_string()) {
    return Invalid("content", "content must be a string");
  }
  t.content = o["content"].get<std::string>();
  for (auto [key, out] :
       {std::pair{"add_special", &t.add_special}, std::pair{"parse_special", &t.parse_special},
        std::pair{"with_pieces", &t.with_pieces}}) {
    if (!o.contains(key) || o[key].is_null()) continue;
    if (!o[key].is_boolean()) return Invalid(key, StrCat(key, " must be a boolean"));
    *out = o[key].get<bool>();
  }
  return t;
}

json TokenizeAnswer(const std::vector<int32_t>& ids, bool with_pieces,
                    const tok::Tokenizer& tokenizer) {
  json tokens = json::array();
  for (int32_t id : ids) {
    if (!with_pieces) {
      tokens.push_back(id);
      continue;
    }
    const std::string piece = tokenizer.TokenToPiece(id, true);
    json p = piece;
    if (!IsValidUtf8(piece)) {
      p = json::array();
      for (unsigned char c : piece) p.push_back(static_cast<int>(c));
    }
    tokens.push_back({{"id", id}, {"piece", std::move(p)}});
  }
  return {{"tokens", std::move(tokens)}};
}

std::variant<json, ApiError> DetokenizeAnswer(std::string_view body, const ParseOptions& opts,
                                              const tok::Tokenizer& tokenizer) {
  nlohmann::ordered_json o;
  if (auto e = Object(body, opts, &o)) return *e;
  if (!o.contains("tokens") || !o["tokens"].is_array()) {
    return Invalid("tokens", "tokens must be an array of token ids");
  }
  const int64_t vocab = tokenizer.vocab_size();
  std::vector<tok::TokenId> ids;
  ids.reserve(o["tokens"].size());
  for (size_t i = 0; i < o["tokens"].size(); ++i) {
    const auto& v = o["tokens"][i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab) {
      return Invalid("tokens", StrCat("tokens[", i, "] must be a token id in [0, ", vocab, ")"));
    }
    ids.push_back(static_cast<tok::TokenId>(v.get<int64_t>()));
  }
  return json{{"content", ToValidUtf8(tokenizer.Decode(ids, /*render_special=*/true))}};
}

std::variant<json, ApiError> ApplyTemplateAnswer(std::string_view body, const ParseOptions& opts,
                                                 const chat::ChatRenderer* chat) {
  nlohmann::ordered_json o;
  if (auto e = Object(body, opts, &o)) return *e;
  if (chat == nullptr || !chat->available()) {
    return Invalid("messages", chat ? chat->problem() : "no chat template");
  }
  auto p = chat->Render(o);
  if (!p.ok()) return Invalid(chat::ChatErrorField(p.status()), std::string(p.status().message()));
  return json{{"prompt", std::move(p->text)}};
}

}  // namespace phx::server
