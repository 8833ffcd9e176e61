// Embedding requests in the engine's steps: which hidden rows a chunk needs for its pooling, and
// pooling them (chunk by chunk for a long input of a causal model) into the vector.
#include <algorithm>

#include "base/strings.h"
#include "runtime/engine/engine.h"

namespace phx::engine {

int32_t Engine::max_embedding_tokens() const {
  if (model_.config().causal) return max_model_len_;
  return std::min(max_model_len_, cfg_.max_tokens_per_step);  // one step, never chunked
}

absl::Status Engine::CheckEmbed(const GenerateRequest& req) const {
  if (embed_pooling_ == model::Pooling::kNone) {
    return absl::FailedPreconditionError(
        StrCat("embeddings are off: the model has no pooling type (metadata ", model_.config().arch,
               ".pooling_type) and the server runs without --embeddings"));
  }
  const int64_t n = static_cast<int64_t>(req.prompt.size());
  if (n > max_embedding_tokens()) {
    const bool one_step = !model_.config().causal && cfg_.max_tokens_per_step < max_model_len_;
    return absl::InvalidArgumentError(
        StrCat("input has ", n, " tokens; the longest embedding input is ", max_embedding_tokens(),
               one_step ? " tokens (this non-causal model embeds an input in one step: "
                          "--max-tokens-per-step)"
                        : " tokens (the context length)"));
  }
  return absl::OkStatus();
}

void Engine::EmbedRows(const Sequence& s, int32_t n, int32_t base,
                       std::vector<int32_t>& rows) const {
  switch (embed_pooling_) {
    case model::Pooling::kMean:
      for (int32_t i = 0; i < n; ++i) rows.push_back(base + i);
      break;
    case model::Pooling::kCls:
      if (s.num_computed == 0) rows.push_back(base);
      break;
    case model::Pooling::kLast:
      if (s.num_computed + n == s.prompt_len) rows.push_back(base + n - 1);
      break;
    case model::Pooling::kNone:
      break;
  }
}

void Engine::PoolChunk(Sequence& s, std::span<const float> hidden) {
  const size_t d = static_cast<size_t>(model_.config().n_embd);
  if (s.pooled.empty()) s.pooled.assign(d, 0.0);
  for (size_t r = 0; r * d < hidden.size(); ++r) {
    const float* row = hidden.data() + r * d;
    if (embed_pooling_ == model::Pooling::kMean) {
      for (size_t j = 0; j < d; ++j) s.pooled[j] += row[j];
    } else {
      for (size_t j = 0; j < d; ++j) s.pooled[j] = row[j];
    }
    ++s.pooled_rows;
  }
  if (s.num_computed < s.prompt_len) return;
  std::vector<float> v(d);
  const double scale =
      embed_pooling_ == model::Pooling::kMean && s.pooled_rows > 0 ? 1.0 / s.pooled_rows : 1.0;
  for (size_t j = 0; j < d; ++j) v[j] = static_cast<float>(s.pooled[j] * scale);
  ++embeddings_;
  const Clock::time_point now = Clock::now();
  s.timing.first_token = now;
  s.sink->OnEmbedding(s.id, std::move(v));
  Finish(s, FinishReason::kStop);
}

}  // namespace phx::engine
