// Fuzzes the /v1/embeddings body parser (server/http/embeddings_json.cc) with raw bytes, strict
// and lenient, with the default JSON limits and small ones. Checks: no crash; every error is
// INVALID_ARGUMENT with a message and a param that is "" or a request field; an accepted
// request has 1..kMaxEmbeddingInputs inputs, each non-empty text or non-empty token ids in
// [0, INT32_MAX], dimensions >= 1 when given; and its answer (normalized vectors, float and
// base64) builds without throwing, base64 of 4 bytes per float.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "server/http/embeddings_json.h"

namespace {

using phx::server::ApiError;
using phx::server::EmbeddingsRequest;
using phx::server::ParseOptions;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "embeddings_fuzz: %s\n", what);
    std::abort();
  }
}

bool KnownParam(const std::string& p, bool lenient) {
  if (p.empty() || p == "input" || p == "model" || p == "encoding_format" || p == "dimensions" ||
      p == "user") {
    return true;
  }
  return !lenient;  // strict: an unknown field is named as sent
}

void Run(std::string_view body, const ParseOptions& o) {
  EmbeddingsRequest r;
  const std::optional<ApiError> e = phx::server::ParseEmbeddingsRequest(body, o, &r);
  if (e) {
    Check(e->status.code() == absl::StatusCode::kInvalidArgument, "error is not INVALID_ARGUMENT");
    Check(!e->status.message().empty(), "error without a message");
    Check(KnownParam(e->param, o.lenient), "lenient error names an unknown param");
    return;
  }
  Check(!r.inputs.empty() && r.inputs.size() <= phx::server::kMaxEmbeddingInputs, "input count");
  for (const auto& in : r.inputs) {
    Check(in.has_text ? !in.text.empty() : !in.token_ids.empty(), "empty input accepted");
    for (int32_t id : in.token_ids) Check(id >= 0, "negative token id accepted");
  }
  Check(!r.dimensions || *r.dimensions >= 1, "dimensions < 1 accepted");
  Check(o.lenient || r.ignored_fields.empty(), "strict parse ignored a field");
  // The answer for vectors of the inputs' sizes (bounded), both encodings.
  std::vector<std::vector<float>> vs;
  for (const auto& in : r.inputs) {
    std::vector<float> v(std::min<size_t>(in.has_text ? in.text.size() : in.token_ids.size(), 64));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) - 3.5f;
    vs.push_back(phx::server::Normalize(std::move(v), r.dimensions.value_or(0)));
  }
  const auto f = phx::server::EmbeddingsAnswer(vs, false, r.model, 1);
  const auto b = phx::server::EmbeddingsAnswer(vs, true, r.model, 1);
  for (size_t i = 0; i < vs.size(); ++i) {
    Check(f["data"][i]["embedding"].size() == vs[i].size(), "float answer size");
    const size_t want = (vs[i].size() * 4 + 2) / 3 * 4;
    Check(b["data"][i]["embedding"].get_ref<const std::string&>().size() == want, "base64 size");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  ParseOptions o;
  Run(body, o);
  o.lenient = true;
  Run(body, o);
  ParseOptions small;
  small.max_depth = 3;
  small.max_values = 40;
  small.max_body_bytes = 512;
  Run(body, small);
  return 0;
}
