// Fuzzes the OpenAI request body parser (server/http/openai_json.cc) with raw bytes, with the
// default limits and with small ones so the fuzzer reaches them. Checks: no crash; every error
// is INVALID_ARGUMENT with a message, and names a field or is about the whole body (param "");
// within the limits the bounded parser builds exactly what nlohmann::json::parse builds, and
// refuses exactly the documents json::parse refuses; past a limit the error names it; an
// accepted request has the fields the parser promises (max_tokens set, priority in range,
// logprobs consistent, min_tokens within max_tokens, a structured-output kind with the field
// it came from, ignored fields only from the bounded label set; strict parsing ignores only
// documented fields). The small limits also run lenient (--lenient-api).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "server/http/openai_fields.h"
#include "server/http/openai_json.h"
#include "tests/fuzz/api_fuzz_util.h"

namespace {

using json = nlohmann::json;
using phx::server::ApiError;
using phx::server::Endpoint;
using phx::server::OpenAiRequest;
using phx::server::ParseOptions;

void Check(bool ok, const char* what, const std::string& detail = "") {
  if (!ok) {
    std::fprintf(stderr, "openai_json_fuzz: %s %s\n", what, detail.c_str());
    std::abort();
  }
}

// Nesting depth and value count of a parsed document (what the limits count).
void Measure(const json& j, int depth, int* max_depth, size_t* values) {
  ++*values;
  if (j.is_array() || j.is_object()) {
    *max_depth = std::max(*max_depth, depth + 1);
    for (const json& e : j) Measure(e, depth + 1, max_depth, values);
  }
}

void FuzzDocument(std::string_view body, const ParseOptions& o) {
  json got;
  const std::optional<ApiError> e = phx::server::ParseJsonBody(body, o, &got);
  const json ref = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (ref.is_discarded()) {
    Check(e.has_value(), "accepted a document json::parse refuses");
    return;
  }
  int depth = 0;
  size_t values = 0;
  Measure(ref, 0, &depth, &values);
  const bool within =
      body.size() <= o.max_body_bytes && depth <= o.max_depth && values <= o.max_values;
  if (!e) {
    Check(within, "accepted a document past a limit");
    Check(got == ref, "result differs from json::parse");
    return;
  }
  const std::string m(e->status.message());
  if (within) {
    // Values are counted as read: a repeated key's overwritten values count too.
    Check(m.find("JSON values") != std::string::npos, "refused a document within the limits", m);
  } else {
    Check(m.find("limit is") != std::string::npos || m.find("deeper than") != std::string::npos ||
              m.find("JSON values") != std::string::npos,
          "limit error does not name the limit", m);
  }
}

void FuzzRequest(std::string_view body, Endpoint ep, const ParseOptions& o) {
  OpenAiRequest r;
  const std::optional<ApiError> e = phx::server::ParseRequest(body, ep, o, &r);
  if (e) {
    phx::server::fuzz::CheckRequestError("openai_json_fuzz", *e);
    return;
  }
  Check(r.endpoint == ep, "endpoint not set");
  Check(r.api.priority >= -1000 && r.api.priority <= 1000, "priority out of range");
  Check(r.api.sampling.max_tokens >= 1, "max_tokens below 1 accepted");
  Check(r.logprobs == (r.api.sampling.logprobs >= 0), "logprobs flag inconsistent");
  if (ep == Endpoint::kChat) {
    Check(r.chat.is_object() && r.chat.contains("messages") && r.chat["messages"].is_array() &&
              !r.chat["messages"].empty(),
          "chat without messages");
  }
  Check(r.api.sampling.min_tokens >= 0 && r.api.sampling.min_tokens <= r.api.sampling.max_tokens,
        "min_tokens out of range accepted");
  for (const auto& [id, bias] : r.api.sampling.logit_bias) {
    Check(id >= 0 && bias >= -100.f && bias <= 100.f, "logit_bias entry out of range accepted");
  }
  using Kind = phx::server::StructuredSpec::Kind;
  Check((r.api.structured.kind == Kind::kNone) == r.api.structured.param.empty(),
        "structured kind and param disagree");
  const auto& labels = phx::server::IgnoredFieldLabels();
  for (const std::string& f : r.ignored_fields) {
    Check(std::find(labels.begin(), labels.end(), f) != labels.end(), "unbounded label", f);
    Check(o.lenient || f != "other", "strict parsing ignored an unknown field");
  }
  if (ep == Endpoint::kCompletions && !r.api.has_text) {
    Check(!r.api.token_ids.empty(), "empty token-id prompt accepted");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const ParseOptions defaults;
  ParseOptions small;
  small.max_body_bytes = 512;
  small.max_depth = 4;
  small.max_values = 24;
  small.lenient = true;
  FuzzDocument(body, defaults);
  FuzzDocument(body, small);
  for (Endpoint ep : {Endpoint::kCompletions, Endpoint::kChat}) {
    FuzzRequest(body, ep, defaults);
    FuzzRequest(body, ep, small);
  }
  return 0;
}
