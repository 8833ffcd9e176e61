#include "runtime/engine/engine.h"

#include <algorithm>

#include "base/status.h"
#include "base/strings.h"

namespace phx::engine {

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const model::Model& model,
                                                       ops::Backend& backend,
                                                       const EngineConfig& cfg) {
  if (cfg.max_num_seqs <= 0 || cfg.max_tokens_per_step <= 0 || cfg.block_size <= 0) {
    return absl::InvalidArgumentError(
        "engine: max_num_seqs, max_tokens_per_step and "
        "block_size must be positive");
  }
  if (cfg.max_tokens_per_step < cfg.max_num_seqs) {
    return absl::InvalidArgumentError(
        StrCat("engine: max_tokens_per_step (", cfg.max_tokens_per_step,
               ") must be at least max_num_seqs (", cfg.max_num_seqs, ")"));
  }
  std::unique_ptr<Engine> e(new Engine(model, backend, cfg));
  const model::ModelConfig& mc = model.config();
  e->max_model_len_ =
      cfg.max_model_len > 0
          ? std::min<int32_t>(cfg.max_model_len, static_cast<int32_t>(mc.context_length))
          : static_cast<int32_t>(mc.context_length);
  if (mc.pooling != model::Pooling::kNone) {
    e->embed_pooling_ = cfg.pooling != model::Pooling::kNone ? cfg.pooling : mc.pooling;
  } else if (!mc.lm_head) {  // an encoder (bert) serves embeddings only: it needs a pooling
    if (cfg.pooling == model::Pooling::kNone) {
      return absl::InvalidArgumentError(
          StrCat("engine: ", mc.arch, " is an embedding model without a pooling type (metadata ",
                 mc.arch, ".pooling_type): pass --pooling mean|cls|last"));
    }
    e->embed_pooling_ = cfg.pooling;
  } else if (cfg.embeddings) {
    e->embed_pooling_ = cfg.pooling != model::Pooling::kNone ? cfg.pooling : model::Pooling::kLast;
  } else if (cfg.pooling != model::Pooling::kNone) {
    return absl::InvalidArgumentError(
        StrCat("engine: --pooling ", model::PoolingName(cfg.pooling),
               " needs --embeddings: the model has no pooling type (metadata ", mc.arch,
               ".pooling_type)"));
  }
  kv::KvCacheConfig kc;
  kc.n_layers = static_cast<int32_t>(mc.n_layer);
  kc.n_kv_heads = static_cast<int32_t>(mc.n_head_kv);
  kc.head_dim = static_cast<int32_t>(mc.head_dim);
  kc.block_size = cfg.block_size;
  kc.dtype = cfg.kv_dtype;
  kc.num_blocks = cfg.num_blocks > 0
                      ? cfg.num_blocks
                      : static_cast<int32_t>(std::min<int64_t>(
                            cfg.kv_cache_bytes / kc.BytesPerBlock(), int64_t{1} << 24));
  const int32_t min_blocks = scheduler::BlocksFor(e->max_model_len_, cfg.block_size);
  if (kc.num_blocks < min_blocks) {
    if (cfg.num_blocks > 0) {
      return absl::InvalidArgumentError(
          StrCat("engine: ", kc.num_blocks, " KV blocks cannot hold one sequence of ",
                 e->max_model_len_, " tokens (", min_blocks, " blocks); lower max_model_len"));
    }
    kc.num_blocks = min_blocks;  // the byte budget is a target; one full sequence must fit
  }
  PHX_ASSIGN_OR_RETURN(e->cache_, kv::KvCache::Create(backend, kc));
  PHX_ASSIGN_OR_RETURN(e->forward_, model::Forward::Create(model, backend, cfg.max_tokens_per_step,
                                                           cfg.max_num_seqs, e->max_model_len_));
  e->forward_->set_step_graphs(cfg.step_graphs);
  const tok::Tokenizer& tok = model.tokenizer();
  for (int32_t t = 0; t < tok.vocab_size(); ++t) {
    if (tok.IsEog(t)) e->eog_ids_.push_back(t);
  }
  e->PublishStats(0);
  return e;
}

Engine::~Engine() { Stop(); }

absl::StatusOr<RequestId> Engine::Submit(GenerateRequest req, std::shared_ptr<TokenSink> sink) {
  const int32_t vocab = model_.tokenizer().vocab_size();
  if (req.prompt.empty()) {
    return absl::InvalidArgumentError(req.embed ? "input must not be empty"
                                                : "prompt must not be empty");
  }
  if (req.embed) PHX_RETURN_IF_ERROR(CheckEmbed(req));
  if (!req.embed && !model_.config().lm_head) {
    return absl::FailedPreconditionError(
        StrCat(model_.config().arch,
               " is an embedding model (no output head): it serves embeddings, not text "
               "generation"));
  }
  for (int32_t t : req.prompt) {
    if (t < 0 || t >= vocab) {
      return absl::InvalidArgumentError(StrCat(req.embed ? "input" : "prompt", " token id ", t,
                                               " is outside the vocabulary (", vocab, " tokens)"));
    }
  }
  PHX_RETURN_IF_ERROR(req.sampling.Validate());
  for (const auto& [t, b] : req.sampling.logit_bias) {
    if (t >= vocab) {
      return absl::InvalidArgumentError(
          StrCat("logit_bias token id ", t, " is outside the vocabulary (", vocab, " tokens)"));
    }
  }
  for (int32_t t : req.sampling.stop_token_ids) {
    if (t >= vocab) {
      return absl::InvalidArgumentError(
          StrCat("stop_token_ids token id ", t, " is outside the vocabulary (", vocab, " tokens)"));
    }
  }
  if (req.constraint.grammar && req.constraint.grammar->vocab().size() != vocab) {
    return absl::InvalidArgumentError(
        StrCat("constraint: the grammar was compiled for a vocabulary of ",
               req.constraint.grammar->vocab().size(), " tokens; the model has ", vocab));
  }
  if (!req.constraint.grammar && !req.constraint.triggers.empty()) {
    return absl::InvalidArgumentError("constraint: triggers need a grammar");
  }
  for (const auto& t : req.constraint.triggers) {
    if (t.empty()) return absl::InvalidArgumentError("constraint: a trigger must not be empty");
  }
  const int64_t plen = static_cast<int64_t>(req.prompt.size());
  if (plen >= max_model_len_ && !req.embed) {
    return absl::InvalidArgumentError(
        StrCat("prompt has ", plen, " tokens; the context length is ", max_model_len_));
  }
  // Never generate past the context: max_tokens is clamped to what is left of it.
  req.sampling.max_tokens =
      static_cast<int32_t>(std::min<int64_t>(req.sampling.max_tokens, max_model_len_ - plen));
  req.sampling.min_tokens = std::min(req.sampling.min_tokens, req.sampling.max_tokens);
  if (!sink) return absl::InvalidArgumentError("engine: a request needs a token sink");
  const Clock::time_point now = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  const RequestId id = next_id_++;
  auto seq = std::make_unique<Sequence>(id, std::move(req), std::move(sink), model_.tokenizer(),
                                        cfg_.block_size, 0);
  seq->timing.arrival = now;
  seq->usage.prompt_tokens = seq->prompt_len;
  if (seq->req.sampling.min_tokens > 0) {
    seq->ban = eog_ids_;
    seq->ban.insert(seq->ban.end(), seq->req.sampling.stop_token_ids.begin(),
                    seq->req.sampling.stop_token_ids.end());
  }
  inbox_.push_back(std::move(seq));
  cv_.notify_one();
  return id;
}

void Engine::Cancel(RequestId id) {
  std::lock_guard<std::mutex> lock(mu_);
  cancels_.push_back(id);
  cv_.notify_one();
}

absl::Status Engine::RunUntilIdle() {
  while (true) {
    PHX_ASSIGN_OR_RETURN(bool worked, Step());
    if (!worked) {
      std::lock_guard<std::mutex> lock(mu_);
      if (inbox_.empty() && seqs_.empty()) return absl::OkStatus();
    }
  }
}

void Engine::Start() {
  if (loop_.joinable()) return;
  stop_ = false;
  loop_ = std::thread([this] {
    while (!stop_) {
      heartbeat_ns_ = Clock::now().time_since_epoch().count();
      auto worked = Step();
      if (worked.ok() && *worked) continue;
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(50),
                   [this] { return stop_ || !inbox_.empty() || !cancels_.empty(); });
    }
  });
}

void Engine::Stop() {
  if (!loop_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  loop_.join();
  // Nothing accepted is silently lost: whatever is left ends with an error its caller sees.
  DrainInbox();
  std::vector<Sequence*> left;
  for (auto& [id, s] : seqs_) left.push_back(s.get());
  for (Sequence* s : left) {
    Finish(*s, FinishReason::kError, absl::UnavailableError("the engine stopped"));
  }
  PublishStats(0);
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats s = stats_;
  s.waiting += static_cast<int32_t>(inbox_.size());
  s.failed = failed();
  return s;
}

double Engine::loop_heartbeat_age() const {
  const int64_t hb = heartbeat_ns_.load();
  if (hb == 0 || !loop_.joinable()) return 0;
  const int64_t now = Clock::now().time_since_epoch().count();
  return static_cast<double>(now - hb) * Clock::period::num / Clock::period::den;
}

void Engine::InjectFaultForTesting(absl::Status s) {
  std::lock_guard<std::mutex> lock(mu_);
  injected_fault_ = std::move(s);
}

absl::Status Engine::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

double Engine::current_step_age() const {
  const int64_t started = step_started_ns_.load();
  if (started == 0) return 0;
  const int64_t now = Clock::now().time_since_epoch().count();
  return static_cast<double>(now - started) * Clock::period::num / Clock::period::den;
}

void Engine::PublishStats(double step_seconds) {
  const kv::BlockAllocator& a = cache_->allocator();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.running = static_cast<int32_t>(running_.size());
  stats_.waiting = static_cast<int32_t>(waiting_.size());
  stats_.blocks_total = a.num_blocks();
  stats_.blocks_free = a.num_free();
  stats_.blocks_cached = a.num_cached();
  stats_.blocks_used = a.num_used();
  stats_.steps = steps_;
  stats_.preemptions = preemptions_;
  stats_.prefix_queries = prefix_queries_;
  stats_.prefix_hits = prefix_hits_;
  stats_.prompt_tokens = prompt_tokens_;
  stats_.generated_tokens = generated_tokens_;
  stats_.embedding_tokens = embedding_tokens_;
  stats_.embeddings = embeddings_;
  stats_.graph_steps = forward_->graph_steps();
  stats_.last_step_seconds = step_seconds;
  stats_.grammar_masks = grammar_masks_;
  stats_.grammar_mask_seconds = static_cast<double>(grammar_mask_ns_.load()) * 1e-9;
  stats_.grammar_wait_seconds = static_cast<double>(grammar_wait_ns_) * 1e-9;
}

}  // namespace phx::engine
