// The inference engine: requests in (Submit/Cancel, any thread), tokens out (TokenSink), one
// iteration of continuous batching per Step() on a single engine thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "ops/backend.h"
#include "runtime/engine/mask_worker.h"
#include "runtime/engine/request.h"
#include "runtime/engine/sequence.h"
#include "runtime/kv/kv_cache.h"
#include "runtime/kv/prefix_cache.h"
#include "runtime/model/forward.h"
#include "runtime/model/model.h"
#include "runtime/scheduler/scheduler.h"

namespace phx::engine {

struct EngineConfig {
  int32_t max_num_seqs = 64;          // sequences per step
  int32_t max_tokens_per_step = 512;  // token budget per step (chunked prefill)
  int32_t block_size = 16;
  int32_t num_blocks = 0;  // KV blocks; 0: kv_cache_bytes / bytes per block
  int64_t kv_cache_bytes = int64_t{256} << 20;
  DType kv_dtype = DType::kF16;
  float watermark = 0.01f;  // fraction of blocks admission keeps free
  bool prefix_cache = true;
  int32_t max_model_len = 0;  // 0: the model's context length
  // Decode steps recorded once per batch size and replayed, where the backend can (the CUDA
  // backend's graphs; model::Forward).
  bool step_graphs = true;
  // Embedding requests (GenerateRequest::embed). A model whose metadata names a pooling type
  // serves them with it; a model without one only when `embeddings` is on (--embeddings), with
  // `pooling`, or kLast (what llama.cpp returns for a decoder). `pooling` other than kNone
  // overrides the model's (--pooling).
  bool embeddings = false;
  model::Pooling pooling = model::Pooling::kNone;
};

struct EngineStats {
  int32_t running = 0;
  int32_t waiting = 0;
  int32_t blocks_total = 0;
  int32_t blocks_free = 0;
  int32_t blocks_cached = 0;
  int32_t blocks_used = 0;
  uint64_t steps = 0;
  uint64_t preemptions = 0;
  uint64_t prefix_queries = 0;  // tokens looked up in the prefix cache at admission
  uint64_t prefix_hits = 0;     // of those, tokens found cached
  uint64_t prompt_tokens = 0;   // computed prefill tokens
  uint64_t generated_tokens = 0;
  uint64_t embedding_tokens = 0;  // computed tokens of embedding requests (not in prompt_tokens)
  uint64_t embeddings = 0;        // embedding vectors produced
  uint64_t graph_steps = 0;       // forward steps run through Backend::RunGraph (decode)
  double last_step_seconds = 0;
  // Constrained decoding: masks computed (on a helper thread, overlapped with the forward
  // pass), the CPU seconds spent computing them, and the wall seconds the engine thread waited
  // for them after the forward pass (the part not hidden by the overlap).
  uint64_t grammar_masks = 0;
  double grammar_mask_seconds = 0;
  double grammar_wait_seconds = 0;
  bool failed = false;  // sticky: a step failed (e.g. a device error); see Engine::failed()
  double kv_usage() const {
    return blocks_total == 0 ? 0 : static_cast<double>(blocks_used) / blocks_total;
  }
};

class Engine {
 public:
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const model::Model& model,
                                                        ops::Backend& backend,
                                                        const EngineConfig& cfg);
  ~Engine();

  // Validates and queues a request. Errors (INVALID_ARGUMENT naming the field, or
  // RESOURCE_EXHAUSTED when it can never fit the cache) leave nothing queued.
  absl::StatusOr<RequestId> Submit(GenerateRequest req, std::shared_ptr<TokenSink> sink);
  // Cancels a request; its blocks are freed at the next step. Unknown ids are ignored.
  void Cancel(RequestId id);

  // One iteration. Returns true when it did work. Call from one thread only (the loop thread
  // once Start() was called).
  absl::StatusOr<bool> Step();
  // Steps until no request is left (tests and the CLI, without the loop thread).
  absl::Status RunUntilIdle();

  // The engine loop on its own thread.
  void Start();
  void Stop();

  EngineStats stats() const;
  const EngineConfig& config() const { return cfg_; }
  const model::Model& model() const { return model_; }
  const kv::KvCache& cache() const { return *cache_; }
  int32_t max_model_len() const { return max_model_len_; }
  // How embedding requests are pooled; kNone: this engine serves no embeddings.
  model::Pooling embedding_pooling() const { return embed_pooling_; }
  // The longest embedding input in tokens (a non-causal model's input runs in one step).
  int32_t max_embedding_tokens() const;
  // Seconds the current step has been running (0 when idle): for liveness checks.
  double current_step_age() const;
  // Seconds since the loop thread last went round (0 when no loop thread runs).
  double loop_heartbeat_age() const;
  // A forward pass failed: sticky until restart (like a sticky device error).
  bool failed() const { return failed_.load(); }
  absl::Status last_error() const;
  // Test hook: every following forward pass fails with `s` (like a sticky device error).
  void InjectFaultForTesting(absl::Status s);
  // Called on the engine thread after every step that did work, with its duration.
  void SetStepObserver(std::function<void(double)> fn) { step_observer_ = std::move(fn); }

 private:
  Engine(const model::Model& m, ops::Backend& b, const EngineConfig& c)
      : model_(m), backend_(b), cfg_(c) {}

  // Phases of a step (engine_step.cc).
  void DrainInbox();
  void ReapCancelled(Clock::time_point now);
  scheduler::SchedulerState BuildState(std::map<RequestId, kv::PrefixMatch>* matches);
  // A request of a prompt group (GenerateRequest::prompt_group) whose leader (`leaders`: the
  // group's lowest live id) has not yet computed its prompt: left out of this step's waiting list.
  bool HeldBackByLeader(const Sequence& s,
                        const std::map<uint64_t, const Sequence*>& leaders) const;
  void ApplyPreemptions(const scheduler::BatchPlan& plan);
  absl::Status Execute(const scheduler::BatchPlan& plan,
                       const std::map<RequestId, kv::PrefixMatch>& matches);
  void RegisterFullBlocks(Sequence& s);
  void EmitSample(Sequence& s, std::span<const float> logits);
  // Embeddings (engine_embed.cc). The rows of `s`'s chunk [first, first + n) whose hidden
  // states its pooling needs, as indices into the step's tokens starting at `base`.
  void EmbedRows(const Sequence& s, int32_t n, int32_t base, std::vector<int32_t>& rows) const;
  // Pools the chunk's hidden rows (`hidden`: [rows, n_embd]); at the end of the input emits the
  // vector and finishes the request.
  void PoolChunk(Sequence& s, std::span<const float> hidden);
  absl::Status CheckEmbed(const GenerateRequest& req) const;
  // Constrained decoding (engine_grammar.cc).
  // Starts computing the masks of the sequences that sample this step (those whose mask is not
  // ready) on the mask worker; WaitMasks must follow before those sequences change.
  // Returns whether it started any (then WaitMasks must follow).
  bool StartMasks(const std::vector<Sequence*>& sampling);
  void WaitMasks();
  static void ComputeMask(Sequence& s);
  // After a committed token: true when the grammar accepts and allows nothing but its end (the
  // next mask is then computed and kept).
  bool GrammarComplete(Sequence& s);
  // Lazy grammars: appends the token's bytes and turns the grammar on at a trigger.
  void WatchTriggers(Sequence& s, int32_t token);
  void Finish(Sequence& s, FinishReason reason, const absl::Status& status = absl::OkStatus());
  void PublishStats(double step_seconds);

  const model::Model& model_;
  ops::Backend& backend_;
  EngineConfig cfg_;
  int32_t max_model_len_ = 0;
  model::Pooling embed_pooling_ = model::Pooling::kNone;
  std::unique_ptr<kv::KvCache> cache_;
  std::unique_ptr<model::Forward> forward_;

  // Engine-thread state.
  std::map<RequestId, std::unique_ptr<Sequence>> seqs_;
  std::vector<RequestId> running_;  // admission order
  std::vector<RequestId> waiting_;
  uint64_t steps_ = 0, preemptions_ = 0, prefix_queries_ = 0, prefix_hits_ = 0;
  uint64_t prompt_tokens_ = 0, generated_tokens_ = 0;
  uint64_t embedding_tokens_ = 0, embeddings_ = 0;
  int64_t arrival_counter_ = 0;
  std::vector<int32_t> eog_ids_;  // the tokenizer's end-of-generation tokens
  uint64_t grammar_masks_ = 0;
  std::atomic<int64_t> grammar_mask_ns_{0};
  int64_t grammar_wait_ns_ = 0;
  bool masks_in_flight_ = false;
  MaskWorker mask_worker_;  // after the state its jobs read: destroyed (joined) first

  // Shared with Submit/Cancel.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Sequence>> inbox_;
  std::vector<RequestId> cancels_;
  RequestId next_id_ = 1;
  EngineStats stats_;
  std::atomic<int64_t> step_started_ns_{0};
  std::atomic<int64_t> heartbeat_ns_{0};
  std::atomic<bool> failed_{false};
  absl::Status last_error_;      // guarded by mu_
  absl::Status injected_fault_;  // guarded by mu_
  std::function<void(double)> step_observer_;

  std::thread loop_;
  std::atomic<bool> stop_{false};
};

}  // namespace phx::engine
