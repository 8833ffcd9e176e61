// One iteration of the engine: drain requests, reap cancelled ones, schedule, run the forward
// pass, sample and emit.
#include <algorithm>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/engine/engine.h"

namespace phx::engine {

absl::StatusOr<bool> Engine::Step() {
  const Clock::time_point t0 = Clock::now();
  step_started_ns_ = t0.time_since_epoch().count();
  DrainInbox();
  ReapCancelled(t0);
  std::map<RequestId, kv::PrefixMatch> matches;
  const scheduler::SchedulerState state = BuildState(&matches);
  scheduler::SchedulerConfig sc;
  sc.max_num_seqs = cfg_.max_num_seqs;
  sc.max_tokens_per_step = cfg_.max_tokens_per_step;
  sc.block_size = cfg_.block_size;
  sc.watermark_blocks = static_cast<int32_t>(cfg_.watermark * cache_->config().num_blocks);
  const scheduler::BatchPlan plan = scheduler::Schedule(sc, state);
  ApplyPreemptions(plan);
  absl::Status s = absl::OkStatus();
  if (!plan.items.empty()) s = Execute(plan, matches);
  ++steps_;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  step_started_ns_ = 0;
  PublishStats(secs);
  if (!plan.items.empty() && step_observer_) step_observer_(secs);
  if (!s.ok()) return s;
  return !plan.items.empty() || !plan.preempted.empty();
}

void Engine::DrainInbox() {
  std::deque<std::unique_ptr<Sequence>> incoming;
  std::vector<RequestId> cancels;
  {
    std::lock_guard<std::mutex> lock(mu_);
    incoming.swap(inbox_);
    cancels.swap(cancels_);
  }
  for (auto& s : incoming) {
    s->arrival = arrival_counter_++;
    waiting_.push_back(s->id);
    seqs_.emplace(s->id, std::move(s));
  }
  for (RequestId id : cancels) {
    auto it = seqs_.find(id);
    if (it != seqs_.end()) it->second->cancel = true;
  }
}

void Engine::ReapCancelled(Clock::time_point now) {
  std::vector<Sequence*> done;
  for (auto& [id, s] : seqs_) {
    if (s->cancel || (s->req.deadline && now >= *s->req.deadline)) done.push_back(s.get());
  }
  for (Sequence* s : done)
    Finish(*s, s->cancel ? FinishReason::kCancelled : FinishReason::kDeadline);
}

scheduler::SchedulerState Engine::BuildState(std::map<RequestId, kv::PrefixMatch>* matches) {
  scheduler::SchedulerState st;
  const kv::BlockAllocator& alloc = cache_->allocator();
  st.free_blocks = alloc.num_available();
  auto view = [](const Sequence& s) {
    scheduler::SeqState v;
    v.id = static_cast<int64_t>(s.id);
    v.priority = s.req.priority;
    v.arrival = s.arrival;
    v.num_tokens = s.num_tokens();
    v.num_computed = s.num_computed;
    v.blocks_held = static_cast<int32_t>(s.table.blocks().size());
    return v;
  };
  for (RequestId id : running_) st.running.push_back(view(*seqs_.at(id)));
  // Each prompt group's leader: its lowest live id (seqs_ is ordered by id).
  std::map<uint64_t, const Sequence*> leaders;
  if (cfg_.prefix_cache) {
    for (const auto& [id, s] : seqs_) {
      if (s->req.prompt_group != 0) leaders.emplace(s->req.prompt_group, s.get());
    }
  }
  for (RequestId id : waiting_) {
    const Sequence& s = *seqs_.at(id);
    if (HeldBackByLeader(s, leaders)) continue;
    scheduler::SeqState v = view(s);
    v.whole = s.req.embed && !model_.config().causal;
    // An embedding computes every row it pools (and a non-causal model's KV depends on the
    // whole input): no prefix-cache hits.
    if (cfg_.prefix_cache && !s.req.embed) {
      // At least one token must be computed to produce logits.
      const int32_t max_blocks = (s.num_tokens() - 1) / cfg_.block_size;
      kv::PrefixMatch m = kv::MatchPrefix(alloc, s.tokens, max_blocks);
      v.prefix_hit_tokens = m.blocks * cfg_.block_size;
      v.prefix_revive_blocks = m.revive_blocks;
      matches->emplace(id, std::move(m));
    }
    st.waiting.push_back(v);
  }
  return st;
}

bool Engine::HeldBackByLeader(const Sequence& s,
                              const std::map<uint64_t, const Sequence*>& leaders) const {
  if (s.req.prompt_group == 0) return false;
  auto it = leaders.find(s.req.prompt_group);
  if (it == leaders.end() || it->second == &s) return false;
  return it->second->num_computed < it->second->prompt_len;
}

void Engine::ApplyPreemptions(const scheduler::BatchPlan& plan) {
  for (int64_t pid : plan.preempted) {
    const RequestId id = static_cast<RequestId>(pid);
    Sequence& s = *seqs_.at(id);
    s.table.Release(cache_->allocator());
    s.num_computed = 0;
    s.hashed_blocks = 0;
    s.last_hash = 0;
    s.pooled.clear();
    s.pooled_rows = 0;
    running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
    waiting_.push_back(id);
    ++preemptions_;
  }
}

absl::Status Engine::Execute(const scheduler::BatchPlan& plan,
                             const std::map<RequestId, kv::PrefixMatch>& matches) {
  kv::BlockAllocator& alloc = cache_->allocator();
  std::vector<kv::StepSeq> step;
  std::vector<int32_t> tokens;
  std::vector<int32_t> logit_rows;
  std::vector<int32_t> hidden_rows;  // embedding requests' rows to pool
  std::vector<size_t> hidden_end;    // per item: its rows end at hidden_rows[hidden_end[i]]
  std::vector<Sequence*> order;
  const Clock::time_point now = Clock::now();
  for (const auto& item : plan.items) {
    const RequestId id = static_cast<RequestId>(item.id);
    Sequence& s = *seqs_.at(id);
    if (item.admitted) {
      auto m = matches.find(id);
      if (m != matches.end() && m->second.blocks > 0) {
        for (kv::BlockId b : kv::AcquirePrefix(alloc, m->second)) s.table.AppendShared(b);
        s.num_computed = m->second.blocks * cfg_.block_size;
        s.hashed_blocks = m->second.blocks;
        s.last_hash = m->second.hashes.back();
      }
      if (cfg_.prefix_cache) {
        prefix_queries_ += static_cast<uint64_t>(s.num_tokens());
        prefix_hits_ += static_cast<uint64_t>(s.num_computed);
      }
      if (!s.admitted_once) {
        s.admitted_once = true;
        s.timing.first_scheduled = now;
        s.usage.cached_prompt_tokens = std::min(s.num_computed, s.prompt_len);
      }
      waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
      running_.push_back(id);
    }
    PHX_RETURN_IF_ERROR(s.table.Reserve(alloc, s.num_computed + item.num_new));
    step.push_back({&s.table, s.num_computed, item.num_new});
    const int32_t base = static_cast<int32_t>(tokens.size());
    tokens.insert(tokens.end(), s.tokens.begin() + s.num_computed,
                  s.tokens.begin() + s.num_computed + item.num_new);
    if (s.req.embed) {
      EmbedRows(s, item.num_new, base, hidden_rows);
    } else if (item.sample) {
      logit_rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
    }
    hidden_end.push_back(hidden_rows.size());
    order.push_back(&s);
  }
  auto layout = kv::BuildStepLayout(step, cfg_.block_size);
  std::vector<Sequence*> sampling;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    if (plan.items[i].sample && !order[i]->req.embed) sampling.push_back(order[i]);
  }
  // Masks depend on committed tokens only: computed while the forward pass runs.
  StartMasks(sampling);
  absl::Status fault;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fault = injected_fault_;
  }
  absl::StatusOr<model::Forward::Outputs> out = absl::InternalError("forward: not run");
  if (!fault.ok()) {
    out = fault;
  } else if (!layout.ok()) {
    out = layout.status();
  } else {
    if (hidden_rows.empty()) {  // generation only: Run may replay a step graph
      auto logits = forward_->Run(tokens, *layout, *cache_, logit_rows);
      out = logits.ok()
                ? absl::StatusOr<model::Forward::Outputs>(model::Forward::Outputs{*logits, {}})
                : logits.status();
    } else {
      out = forward_->RunWithHidden(tokens, *layout, *cache_, logit_rows, hidden_rows);
    }
  }
  WaitMasks();
  if (!out.ok()) {
    // Sticky, and visible before any caller learns of the failure.
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_error_ = out.status();
    }
    failed_ = true;
    for (Sequence* s : order) Finish(*s, FinishReason::kError, out.status());
    return out.status();
  }
  const int64_t vocab = model_.config().vocab_size;
  const size_t d = static_cast<size_t>(model_.config().n_embd);
  size_t row = 0;
  for (size_t i = 0; i < plan.items.size(); ++i) {
    Sequence& s = *order[i];
    s.num_computed += plan.items[i].num_new;
    if (s.req.embed) {  // may finish (and free) s
      embedding_tokens_ += plan.items[i].num_new;
      const size_t first = i == 0 ? 0 : hidden_end[i - 1];
      PoolChunk(s, out->hidden.subspan(first * d, (hidden_end[i] - first) * d));
      continue;
    }
    if (s.num_computed <= s.prompt_len) prompt_tokens_ += plan.items[i].num_new;
    if (cfg_.prefix_cache) RegisterFullBlocks(s);
    if (plan.items[i].sample) {
      EmitSample(s, out->logits.subspan(row * vocab, vocab));
      ++row;
    }
  }
  return absl::OkStatus();
}

void Engine::RegisterFullBlocks(Sequence& s) {
  const int32_t bs = cfg_.block_size;
  kv::BlockAllocator& alloc = cache_->allocator();
  while ((s.hashed_blocks + 1) * bs <= s.num_computed) {
    const std::span<const int32_t> toks(s.tokens.data() + s.hashed_blocks * bs, bs);
    s.last_hash = kv::BlockHash(s.last_hash, toks);
    alloc.SetHash(s.table.blocks()[s.hashed_blocks], s.last_hash);
    ++s.hashed_blocks;
  }
}

void Engine::EmitSample(Sequence& s, std::span<const float> logits) {
  const sampler::SamplingParams& sp = s.req.sampling;
  // A spent thinking budget forces the close sequence (never while a grammar is in force).
  const int32_t forced = s.grammar_active ? -1 : s.budget.Forced();
  sampler::SampleResult r;
  if (forced >= 0) {
    r.token = forced;
  } else {
    sampler::TokenMask tm;
    if (s.grammar_active) {
      if (!s.mask_ready) ComputeMask(s);
      s.mask_ready = false;
      tm.allow = s.mask.data();
      tm.allow_words = s.mask.size();
    }
    if (s.generated() < sp.min_tokens) tm.ban = s.ban;
    r = s.sampler.Sample(logits, tm);
  }
  if (r.token < 0 || (s.grammar_active && !s.matcher->Commit(r.token))) {
    // The grammar's mask allowed no token the model has: never happens for a grammar compiled
    // for this vocabulary (the grammar property tests check that no reachable state dead-ends).
    Finish(s, FinishReason::kError, absl::InternalError("grammar dead end"));
    return;
  }
  const Clock::time_point now = Clock::now();
  if (s.generated() == 0) s.timing.first_token = now;
  s.tokens.push_back(r.token);
  s.sampler.Accept(r.token);
  s.budget.Accept(r.token);
  ++generated_tokens_;
  s.usage.completion_tokens = s.generated();
  const tok::Tokenizer& tok = model_.tokenizer();
  // With a grammar, end-of-generation (allowed only where it accepts) ends even with ignore_eos.
  // A forced token is never an end: neither end-of-generation nor a stop token or string.
  const bool eos = forced < 0 && tok.IsEog(r.token) && (!sp.ignore_eos || s.grammar_active);
  const bool stop_token =
      forced < 0 && std::find(sp.stop_token_ids.begin(), sp.stop_token_ids.end(), r.token) !=
                        sp.stop_token_ids.end();
  // Stop strings apply from min_tokens on: earlier text bypasses the stop matcher.
  const bool check_stops = s.generated() > sp.min_tokens;
  TokenEvent ev;
  ev.token = r.token;
  ev.logprob = r.logprob;
  ev.top = r.top;
  if (!eos && !stop_token) {
    const std::string text = s.detok.Push(r.token);
    if (forced >= 0) {
      // Text held back as a possible stop string's start goes out first; a stop string cannot
      // span the forced text.
      ev.text = s.stop.Flush() + text;
    } else {
      ev.text = check_stops ? s.stop.Push(text) : text;
    }
    if (s.matcher && !s.grammar_active && !s.lazy_off) WatchTriggers(s, r.token);
  }
  // Ends that drop no text (Finish flushes only for reasons other than kStop).
  auto flush = [&] {
    ev.text += check_stops ? s.stop.Push(s.detok.Flush()) : s.detok.Flush();
    ev.text += s.stop.Flush();
  };
  std::optional<FinishReason> finish;
  if (eos) {
    finish = FinishReason::kEos;
  } else if (stop_token) {
    flush();
    finish = FinishReason::kStop;
  } else if (s.stop.stopped()) {
    finish = FinishReason::kStop;
  } else if (s.grammar_active && GrammarComplete(s)) {
    // Nothing but the end is allowed: finish now rather than after one more forward pass.
    flush();
    finish = FinishReason::kStop;
  } else if (s.generated() >= sp.max_tokens || s.num_tokens() >= max_model_len_) {
    finish = FinishReason::kLength;
  }
  ev.last = finish.has_value();
  s.sink->OnTokens(s.id, {ev});
  if (finish) Finish(s, *finish);
}

void Engine::Finish(Sequence& s, FinishReason reason, const absl::Status& status) {
  s.table.Release(cache_->allocator());
  s.timing.finished = Clock::now();
  std::string tail;
  if (reason != FinishReason::kStop && reason != FinishReason::kError) {
    tail = s.stop.Push(s.detok.Flush());
    tail += s.stop.Flush();
  }
  const RequestId id = s.id;
  s.sink->OnFinish(id, reason, status, s.usage, s.timing, std::move(tail));
  running_.erase(std::remove(running_.begin(), running_.end(), id), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
  seqs_.erase(id);
}

}  // namespace phx::engine
