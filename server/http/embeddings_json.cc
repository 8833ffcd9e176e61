#include "server/http/embeddings_json.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "base/strings.h"
#include "server/http/openai_fields.h"

namespace phx::server {
namespace {

using json = nlohmann::json;

ApiError Invalid(std::string message, std::string param) {
  return ApiError{absl::InvalidArgumentError(std::move(message)), std::move(param), ""};
}

bool IsTokenId(const json& v) {
  return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
}

std::optional<ApiError> TokenIds(const json& a, const std::string& param,
                                 std::vector<int32_t>* out) {
  if (a.empty()) return Invalid(StrCat(param, " must not be empty"), param);
  for (size_t i = 0; i < a.size(); ++i) {
    if (!IsTokenId(a[i])) {
      return Invalid(StrCat(param, "[", i, "] must be a token id (an integer >= 0)"), param);
    }
    out->push_back(a[i].get<int32_t>());
  }
  return std::nullopt;
}

std::optional<ApiError> ParseInput(const json& in, EmbeddingsRequest* out) {
  const std::string kShape =
      "input must be a string, an array of strings, an array of token ids or an array of arrays "
      "of token ids";
  if (in.is_string()) {
    if (in.get_ref<const std::string&>().empty()) {
      return Invalid("input must not be an empty string", "input");
    }
    out->inputs.push_back({true, in.get<std::string>(), {}});
    return std::nullopt;
  }
  if (!in.is_array()) return Invalid(kShape, "input");
  if (in.empty()) return Invalid("input must not be an empty array", "input");
  if (in[0].is_number()) {  // one input as token ids
    EmbeddingInput e;
    e.has_text = false;
    if (auto err = TokenIds(in, "input", &e.token_ids)) return err;
    out->inputs.push_back(std::move(e));
    return std::nullopt;
  }
  if (in.size() > kMaxEmbeddingInputs) {
    return Invalid(StrCat("input has ", in.size(), " items; the limit is ", kMaxEmbeddingInputs),
                   "input");
  }
  out->input_is_array = true;
  const bool strings = in[0].is_string();
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string param = StrCat("input[", i, "]");
    const json& item = in[i];
    if (strings) {
      if (!item.is_string())
        return Invalid(StrCat(kShape, " (", param, " is not a string)"), "input");
      if (item.get_ref<const std::string&>().empty()) {
        return Invalid(StrCat(param, " must not be an empty string"), "input");
      }
      out->inputs.push_back({true, item.get<std::string>(), {}});
    } else {
      if (!item.is_array())
        return Invalid(StrCat(kShape, " (", param, " is not an array)"), "input");
      EmbeddingInput e;
      e.has_text = false;
      if (auto err = TokenIds(item, param, &e.token_ids)) {
        err->param = "input";
        return err;
      }
      out->inputs.push_back(std::move(e));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseEmbeddingsRequest(std::string_view body, const ParseOptions& opts,
                                               EmbeddingsRequest* out) {
  json j;
  if (auto e = ParseJsonBody(body, opts, &j)) return e;
  if (!j.is_object()) return Invalid("the request body must be a JSON object", "");
  for (const auto& [key, value] : j.items()) {
    if (value.is_null()) continue;  // as absent
    if (key == "model") {
      if (!value.is_string()) return Invalid("model must be a string", "model");
      out->model = value.get<std::string>();
    } else if (key == "input") {
      if (auto e = ParseInput(value, out)) return e;
    } else if (key == "encoding_format") {
      const std::string f = value.is_string() ? value.get<std::string>() : "";
      if (f != "float" && f != "base64") {
        return Invalid("encoding_format must be \"float\" or \"base64\"", "encoding_format");
      }
      out->base64 = f == "base64";
    } else if (key == "dimensions") {
      if (!value.is_number_integer()) return Invalid("dimensions must be an integer", "dimensions");
      out->dimensions = value.get<int64_t>();
      if (*out->dimensions < 1) return Invalid("dimensions must be at least 1", "dimensions");
    } else if (key == "user") {
      if (!value.is_string()) return Invalid("user must be a string", "user");
      out->user = value.get<std::string>();
    } else if (opts.lenient) {
      out->ignored_fields.push_back(IgnoredFieldLabel(key));
    } else {
      return Invalid(StrCat("Unrecognized request argument supplied: ", key), key);
    }
  }
  if (out->inputs.empty()) return Invalid("input is required", "input");
  return std::nullopt;
}

std::optional<ApiError> CheckDimensions(const EmbeddingsRequest& r, int64_t n_embd) {
  if (r.dimensions && (*r.dimensions < 1 || *r.dimensions > n_embd)) {
    return Invalid(StrCat("dimensions must be in [1, ", n_embd,
                          "] (the model's embedding size); got ", *r.dimensions),
                   "dimensions");
  }
  return std::nullopt;
}

std::string Base64Floats(const std::vector<float>& v) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string bytes(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], 4);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((u >> (8 * b)) & 0xFF);
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t chunk = 0;
    for (size_t k = 0; k < 3; ++k) {
      chunk = (chunk << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    }
    for (size_t k = 0; k < 4; ++k) {
      out.push_back(k <= n ? kAlphabet[(chunk >> (18 - 6 * k)) & 63] : '=');
    }
  }
  return out;
}

json EmbeddingsAnswer(const std::vector<std::vector<float>>& vectors, bool base64,
                      const std::string& model, int64_t prompt_tokens) {
  json data = json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    json e = {{"object", "embedding"}, {"index", i}};
    if (base64) {
      e["embedding"] = Base64Floats(vectors[i]);
    } else {
      json a = json::array();
      for (float x : vectors[i]) a.push_back(x);
      e["embedding"] = std::move(a);
    }
    data.push_back(std::move(e));
  }
  return {{"object", "list"},
          {"data", std::move(data)},
          {"model", model},
          {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}};
}

}  // namespace phx::server
