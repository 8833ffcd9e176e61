#include "server/core/frontend.h"

#include <chrono>
#include <cmath>
#include <random>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/grammar/engine.h"

namespace phx::server {

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<size_t>(n) >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
    if (n > 0 && i + n <= s.size() && IsValidUtf8(s.substr(i, n))) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

Frontend::Frontend(engine::Engine& engine, const std::string& backend_name, FrontendLimits limits,
                   grammar::GrammarEngine* grammar)
    : engine_(engine), grammar_(grammar), backend_name_(backend_name), limits_(limits) {
  boot_nonce_ = std::random_device{}() ^
                static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  const tok::Tokenizer& tok = engine_.model().tokenizer();
  // Written mid-output: without the dummy-prefix space that an SPM vocabulary puts first.
  auto ids = [&tok](std::string_view text) {
    std::vector<int32_t> v = tok.Encode(text, false, true);
    if (!v.empty() && tok.TokenToPiece(v[0], true) == " ") v.erase(v.begin());
    return v;
  };
  think_markers_.open = ids("<think>");
  think_markers_.close = ids("</think>");
  think_markers_.force = ids("\n</think>\n\n");
}

std::string Frontend::NewRequestId() {
  return fmt::format("req-{:08x}-{}", static_cast<uint32_t>(boot_nonce_), ++counter_);
}

absl::Status Frontend::Validate(const ApiRequest& req, bool* too_long) const {
  if (too_long != nullptr) *too_long = false;
  const tok::Tokenizer& tok = engine_.model().tokenizer();
  const int32_t ctx = engine_.max_model_len();
  const char* what = req.embed ? "input" : "prompt";
  if (req.embed && engine_.embedding_pooling() == model::Pooling::kNone) {
    return absl::FailedPreconditionError(StrCat(
        "embeddings are off: the model has no pooling type (metadata ",
        engine_.model().config().arch, ".pooling_type) and the server runs without --embeddings"));
  }
  if (req.has_text) {
    if (static_cast<int64_t>(req.text.size()) > limits_.max_prompt_bytes) {
      if (too_long != nullptr) *too_long = true;
      return absl::InvalidArgumentError(
          StrCat(what, " is ", req.text.size(), " bytes; the limit is ", limits_.max_prompt_bytes));
    }
    if (!IsValidUtf8(req.text)) {
      return absl::InvalidArgumentError(StrCat(what, " is not valid UTF-8"));
    }
  } else {
    if (req.token_ids.empty()) {
      return absl::InvalidArgumentError(StrCat(what, " must not be empty"));
    }
    for (int32_t id : req.token_ids) {
      if (id < 0 || id >= tok.vocab_size()) {
        return absl::InvalidArgumentError(StrCat(
            what, " token id ", id, " is outside the vocabulary [0, ", tok.vocab_size(), ")"));
      }
    }
    const int32_t max_tokens = req.embed ? engine_.max_embedding_tokens() : MaxPromptTokens(ctx);
    if (static_cast<int64_t>(req.token_ids.size()) > max_tokens) {
      if (too_long != nullptr) *too_long = true;
      return absl::InvalidArgumentError(
          StrCat(what, " has ", req.token_ids.size(), " tokens; the limit is ", max_tokens));
    }
  }
  if (req.sampling.max_tokens > limits_.max_tokens) {
    return absl::InvalidArgumentError(
        StrCat("max_tokens ", req.sampling.max_tokens, " exceeds the limit ", limits_.max_tokens));
  }
  PHX_RETURN_IF_ERROR(req.sampling.Validate());
  for (const auto& s : req.sampling.stop) {
    if (!IsValidUtf8(s)) return absl::InvalidArgumentError("stop strings must be valid UTF-8");
  }
  PHX_RETURN_IF_ERROR(ValidateTokenFields(req.sampling, tok.vocab_size()));
  PHX_RETURN_IF_ERROR(
      ValidateStructured(req.structured, grammar_ != nullptr, limits_.max_grammar_bytes));
  if (req.priority < -1000 || req.priority > 1000) {
    return absl::InvalidArgumentError("priority must be in [-1000, 1000]");
  }
  if (req.request_id.size() > kMaxRequestIdBytes || !IsValidUtf8(req.request_id)) {
    return absl::InvalidArgumentError(
        StrCat("request_id must be valid UTF-8 of at most ", kMaxRequestIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTokenFields(const sampler::SamplingParams& p, int32_t vocab_size) {
  auto outside = [&](std::string_view field, int32_t id) {
    return absl::InvalidArgumentError(
        StrCat(field, " token id ", id, " is outside the vocabulary [0, ", vocab_size, ")"));
  };
  if (p.logit_bias.size() > static_cast<size_t>(vocab_size)) {
    return absl::InvalidArgumentError(StrCat("logit_bias has ", p.logit_bias.size(),
                                             " entries; the vocabulary has ", vocab_size));
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= vocab_size) return outside("logit_bias", id);
    if (!std::isfinite(bias) || bias < -100.f || bias > 100.f) {
      return absl::InvalidArgumentError(
          StrCat("logit_bias value for token ", id, " must be a number in [-100, 100]"));
    }
  }
  if (p.stop_token_ids.size() > static_cast<size_t>(vocab_size)) {
    return absl::InvalidArgumentError(StrCat("stop_token_ids has ", p.stop_token_ids.size(),
                                             " ids; the vocabulary has ", vocab_size));
  }
  for (int32_t id : p.stop_token_ids) {
    if (id < 0 || id >= vocab_size) return outside("stop_token_ids", id);
  }
  if (p.min_tokens < 0) return absl::InvalidArgumentError("min_tokens must be >= 0");
  if (p.min_tokens > p.max_tokens) {
    return absl::InvalidArgumentError(
        StrCat("min_tokens ", p.min_tokens, " exceeds max_tokens ", p.max_tokens));
  }
  return absl::OkStatus();
}

absl::Status ValidateStructured(const StructuredSpec& s, bool have_engine, int64_t max_bytes) {
  using Kind = StructuredSpec::Kind;
  if (s.kind == Kind::kNone) {
    if (!s.triggers.empty()) {
      return absl::InvalidArgumentError("triggers need a grammar (a structured-output kind)");
    }
    return absl::OkStatus();
  }
  const std::string param = s.param.empty() ? "structured output" : s.param;
  if (!have_engine) {
    return absl::InvalidArgumentError(
        StrCat(param, ": structured output is not available on this server"));
  }
  if (s.kind != Kind::kJsonObject && s.text.empty()) {
    return absl::InvalidArgumentError(StrCat(param, ": must not be empty"));
  }
  if (static_cast<int64_t>(s.text.size()) > max_bytes) {
    return absl::InvalidArgumentError(StrCat(param, ": is ", s.text.size(), " bytes; the limit is ",
                                             max_bytes, " (--max-grammar-bytes)"));
  }
  if (!IsValidUtf8(s.text)) {
    return absl::InvalidArgumentError(StrCat(param, ": is not valid UTF-8"));
  }
  for (const std::string& t : s.triggers) {
    if (t.empty() || !IsValidUtf8(t)) {
      return absl::InvalidArgumentError(StrCat(param, ": triggers must be non-empty UTF-8"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const grammar::CompiledGrammar>> Frontend::Compile(
    const StructuredSpec& s) const {
  using Kind = StructuredSpec::Kind;
  absl::StatusOr<grammar::GrammarEngine::Compiled> g;
  grammar::JsonSchemaOptions jo;
  jo.strict = s.strict;
  jo.max_whitespace = limits_.json_max_whitespace;
  switch (s.kind) {
    case Kind::kJsonSchema:
      g = grammar_->CompileJsonSchema(s.text, jo);
      break;
    case Kind::kJsonObject:
      g = grammar_->CompileJsonObject(jo);
      break;
    case Kind::kRegex:
      g = grammar_->CompileRegex(s.text);
      break;
    case Kind::kGbnf:
      g = grammar_->CompileGbnf(s.text);
      break;
    case Kind::kNone:
      return nullptr;
  }
  if (!g.ok()) {
    // Whatever the compiler's code (InvalidArgument, Unimplemented, a limit's), the request
    // is at fault: never a 500.
    return absl::InvalidArgumentError(
        StrCat(s.param.empty() ? "structured output" : s.param, ": ", g.status().message()));
  }
  return *std::move(g);
}

int32_t Frontend::MaxPromptTokens(int32_t ctx) const {
  return limits_.max_prompt_tokens > 0 ? std::min(limits_.max_prompt_tokens, ctx - 1) : ctx - 1;
}

absl::StatusOr<engine::GenerateRequest> Frontend::Prepare(const ApiRequest& req,
                                                          bool* too_long) const {
  PHX_RETURN_IF_ERROR(Validate(req, too_long));
  const tok::Tokenizer& tok = engine_.model().tokenizer();
  engine::GenerateRequest out;
  if (req.has_text) {
    out.prompt = req.parse_special && !req.plain_spans.empty()
                     ? tok.EncodeWithPlainSpans(req.text, req.add_special, req.plain_spans)
                     : tok.Encode(req.text, req.add_special, req.parse_special);
    const char* what = req.embed ? "input" : "prompt";
    if (out.prompt.empty()) return absl::InvalidArgumentError(StrCat(what, " must not be empty"));
    for (int32_t id : out.prompt) {
      if (id < 0 || id >= tok.vocab_size()) {
        return absl::InvalidArgumentError(StrCat(
            what, " token id ", id, " is outside the vocabulary [0, ", tok.vocab_size(), ")"));
      }
    }
    const int32_t max_prompt =
        req.embed ? engine_.max_embedding_tokens() : MaxPromptTokens(engine_.max_model_len());
    if (static_cast<int32_t>(out.prompt.size()) > max_prompt) {
      if (too_long != nullptr) *too_long = true;
      return absl::InvalidArgumentError(
          StrCat(what, " has ", out.prompt.size(), " tokens; the limit is ", max_prompt));
    }
  } else {
    out.prompt = req.token_ids;
  }
  if (req.structured.kind != StructuredSpec::Kind::kNone) {
    PHX_ASSIGN_OR_RETURN(out.constraint.grammar, Compile(req.structured));
    out.constraint.triggers = req.structured.triggers;
  }
  out.sampling = req.sampling;
  out.priority = req.priority;
  out.deadline = req.deadline;
  out.prompt_group = req.prompt_group;
  out.client_id = req.request_id;
  out.embed = req.embed;
  if (req.thinks && !req.embed) {
    const int32_t budget = req.reasoning_budget.value_or(limits_.reasoning_budget);
    if (budget >= 0) {
      out.reasoning = think_markers_;
      out.reasoning.max_tokens = budget;
      out.reasoning.prompt_opens = req.in_reasoning;
    }
  }
  return out;
}

double Frontend::EstimateTokens(const ApiRequest& req) const {
  const double prompt = req.has_text ? static_cast<double>(req.text.size()) / 4 + 1
                                     : static_cast<double>(req.token_ids.size());
  const double total = prompt + (req.embed ? 0.0 : static_cast<double>(req.sampling.max_tokens));
  return std::clamp(total, 1.0, static_cast<double>(std::max(1, engine_.max_model_len())));
}

double Frontend::ReservedTokens(const engine::GenerateRequest& g) const {
  const double total = static_cast<double>(g.prompt.size()) +
                       (g.embed ? 0.0 : static_cast<double>(g.sampling.max_tokens));
  return std::clamp(total, 1.0, static_cast<double>(std::max(1, engine_.max_model_len())));
}

Submitted Frontend::Describe(const ApiRequest& req, const engine::GenerateRequest& g) {
  Submitted s;
  s.request_id = req.request_id.empty() ? NewRequestId() : req.request_id;
  s.prompt_tokens = static_cast<int32_t>(g.prompt.size());
  if (req.echo) s.prompt_text = req.has_text ? req.text : Detokenize(g.prompt);
  return s;
}

absl::Status Frontend::SubmitPrepared(engine::GenerateRequest g,
                                      std::shared_ptr<engine::TokenSink> sink, Submitted* s) {
  g.client_id = s->request_id;
  PHX_ASSIGN_OR_RETURN(s->engine_id, engine_.Submit(std::move(g), std::move(sink)));
  return absl::OkStatus();
}

absl::StatusOr<Submitted> Frontend::Submit(const ApiRequest& req,
                                           std::shared_ptr<engine::TokenSink> sink) {
  PHX_ASSIGN_OR_RETURN(engine::GenerateRequest g, Prepare(req));
  Submitted s = Describe(req, g);
  PHX_RETURN_IF_ERROR(SubmitPrepared(std::move(g), std::move(sink), &s));
  return s;
}

absl::StatusOr<std::vector<int32_t>> Frontend::Tokenize(const std::string& text, bool add_special,
                                                        bool parse_special) const {
  if (static_cast<int64_t>(text.size()) > limits_.max_prompt_bytes) {
    return absl::InvalidArgumentError(
        StrCat("text is ", text.size(), " bytes; the limit is ", limits_.max_prompt_bytes));
  }
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("text is not valid UTF-8");
  return engine_.model().tokenizer().Encode(text, add_special, parse_special);
}

std::string Frontend::TokenText(int32_t id) const {
  return engine_.model().tokenizer().TokenToPiece(id, true);
}

std::string Frontend::Detokenize(const std::vector<int32_t>& ids) const {
  return ToValidUtf8(engine_.model().tokenizer().Decode(ids, false, true));
}

ModelInfoData Frontend::ModelInfo() const {
  const auto& m = engine_.model();
  const auto& c = m.config();
  ModelInfoData d;
  d.name = c.name.empty() ? m.path() : c.name;
  d.architecture = c.arch;
  d.dtype = std::string(DTypeName(c.weight_type));
  d.backend = backend_name_;
  d.parameters = static_cast<int64_t>(c.n_params);
  d.context_length = engine_.max_model_len();
  d.vocab_size = static_cast<int32_t>(c.vocab_size);
  d.layers = static_cast<int32_t>(c.n_layer);
  d.embedding_size = static_cast<int32_t>(c.n_embd);
  d.heads = static_cast<int32_t>(c.n_head);
  d.kv_heads = static_cast<int32_t>(c.n_head_kv);
  d.bos = m.tokenizer().bos();
  d.eos = m.tokenizer().eos();
  d.max_batch = engine_.config().max_num_seqs;
  const auto& kc = engine_.cache().config();
  d.kv_cache_tokens = int64_t{kc.num_blocks} * kc.block_size;
  return d;
}

}  // namespace phx::server
