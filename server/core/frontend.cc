#include "server/core/frontend.h"

#include <chrono>
#include <random>

#include "base/status.h"
#include "base/strings.h"

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

Frontend::Frontend(engine::Engine& engine, const std::string& backend_name, FrontendLimits limits)
    : engine_(engine), backend_name_(backend_name), limits_(limits) {
  boot_nonce_ = std::random_device{}() ^
                static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

std::string Frontend::NewRequestId() {
  return fmt::format("req-{:08x}-{}", static_cast<uint32_t>(boot_nonce_), ++counter_);
}

absl::Status Frontend::Validate(const ApiRequest& req, bool* too_long) const {
  if (too_long != nullptr) *too_long = false;
  const tok::Tokenizer& tok = engine_.model().tokenizer();
  const int32_t ctx = engine_.max_model_len();
  if (req.has_text) {
    if (static_cast<int64_t>(req.text.size()) > limits_.max_prompt_bytes) {
      if (too_long != nullptr) *too_long = true;
      return absl::InvalidArgumentError(
          StrCat("prompt is ", req.text.size(), " bytes; the limit is ", limits_.max_prompt_bytes));
    }
    if (!IsValidUtf8(req.text)) return absl::InvalidArgumentError("prompt is not valid UTF-8");
  } else {
    if (req.token_ids.empty()) return absl::InvalidArgumentError("prompt must not be empty");
    for (int32_t id : req.token_ids) {
      if (id < 0 || id >= tok.vocab_size()) {
        return absl::InvalidArgumentError(StrCat(
            "prompt token id ", id, " is outside the vocabulary [0, ", tok.vocab_size(), ")"));
      }
    }
    if (static_cast<int64_t>(req.token_ids.size()) > MaxPromptTokens(ctx)) {
      if (too_long != nullptr) *too_long = true;
      return absl::InvalidArgumentError(StrCat("prompt has ", req.token_ids.size(),
                                               " tokens; the limit is ", MaxPromptTokens(ctx)));
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
  if (req.priority < -1000 || req.priority > 1000) {
    return absl::InvalidArgumentError("priority must be in [-1000, 1000]");
  }
  if (req.request_id.size() > kMaxRequestIdBytes || !IsValidUtf8(req.request_id)) {
    return absl::InvalidArgumentError(
        StrCat("request_id must be valid UTF-8 of at most ", kMaxRequestIdBytes, " bytes"));
  }
  return absl::OkStatus();
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
    if (out.prompt.empty()) return absl::InvalidArgumentError("prompt must not be empty");
    for (int32_t id : out.prompt) {
      if (id < 0 || id >= tok.vocab_size()) {
        return absl::InvalidArgumentError(StrCat(
            "prompt token id ", id, " is outside the vocabulary [0, ", tok.vocab_size(), ")"));
      }
    }
    const int32_t max_prompt = MaxPromptTokens(engine_.max_model_len());
    if (static_cast<int32_t>(out.prompt.size()) > max_prompt) {
      if (too_long != nullptr) *too_long = true;
      return absl::InvalidArgumentError(
          StrCat("prompt has ", out.prompt.size(), " tokens; the limit is ", max_prompt));
    }
  } else {
    out.prompt = req.token_ids;
  }
  out.sampling = req.sampling;
  out.priority = req.priority;
  out.deadline = req.deadline;
  out.client_id = req.request_id;
  return out;
}

double Frontend::EstimateTokens(const ApiRequest& req) const {
  const double prompt = req.has_text ? static_cast<double>(req.text.size()) / 4 + 1
                                     : static_cast<double>(req.token_ids.size());
  const double total = prompt + static_cast<double>(req.sampling.max_tokens);
  return std::clamp(total, 1.0, static_cast<double>(std::max(1, engine_.max_model_len())));
}

double Frontend::ReservedTokens(const engine::GenerateRequest& g) const {
  const double total =
      static_cast<double>(g.prompt.size()) + static_cast<double>(g.sampling.max_tokens);
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
