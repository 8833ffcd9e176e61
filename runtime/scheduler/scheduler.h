// Iteration-level continuous batching as a pure function: Schedule(state) -> BatchPlan. No
// threads, no clocks, no allocation of real blocks: the engine applies the plan.
//
// Policy (vLLM-like):
//  1. Running sequences first, highest priority then oldest first. Each gets its remaining
//     tokens (1 when decoding; a prefill chunk otherwise) up to the step's token budget. When
//     the blocks it needs are not free, running sequences are preempted from the back of that
//     order (lowest priority, then newest) and recomputed later; if none is left to preempt,
//     the sequence itself is preempted.
//  2. Then, if nothing was preempted this step, waiting sequences are admitted in the same
//     order, strictly (the head of the queue is never overtaken within a priority class), while
//     the batch has room, the budget has tokens, and the blocks of the first chunk keep the
//     free pool above the watermark. A prompt longer than the budget is prefilled in chunks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace phx::scheduler {

struct SchedulerConfig {
  int32_t max_num_seqs = 64;          // sequences in one batch
  int32_t max_tokens_per_step = 512;  // token budget of one step (prefill chunks + decodes)
  int32_t block_size = 16;
  int32_t watermark_blocks = 0;  // free blocks admission must leave untouched
  bool chunked_prefill = true;   // false: a prompt is admitted only whole
};

struct SeqState {
  int64_t id = 0;
  int32_t priority = 0;      // higher runs first
  int64_t arrival = 0;       // FCFS order within a priority (smaller = older)
  int32_t num_tokens = 0;    // tokens that must be in the cache before the next sample
  int32_t num_computed = 0;  // tokens already in the cache (prefix-cache hits included)
  int32_t blocks_held = 0;   // blocks in its block table
  // Waiting sequences only: tokens a prefix-cache hit would supply, and how many of the hit
  // blocks are currently unreferenced (reviving them takes them out of the free pool).
  int32_t prefix_hit_tokens = 0;
  int32_t prefix_revive_blocks = 0;
  // The remaining tokens run in one step or not at all (a non-causal model's embedding input,
  // whose hidden states depend on the whole input): never chunked, admitted only when the
  // step's budget left has room for all of them.
  bool whole = false;
};

struct SchedulerState {
  std::vector<SeqState> running;
  std::vector<SeqState> waiting;
  int32_t free_blocks = 0;  // blocks an allocation can obtain (free + evictable cached)
};

struct PlanItem {
  int64_t id = 0;
  int32_t num_new = 0;    // tokens computed this step, starting at the sequence's num_computed
  bool sample = false;    // the chunk reaches num_tokens: sample the next token
  bool admitted = false;  // came from the waiting queue this step (apply its prefix hit first)
};

struct BatchPlan {
  std::vector<PlanItem> items;     // execution order
  std::vector<int64_t> preempted;  // running -> waiting, blocks released, recompute later
  int32_t num_tokens = 0;          // sum of num_new
  int32_t blocks_needed = 0;       // new blocks the items need after preemptions

  std::string DebugString() const;  // "1:+1s 7:+16 | preempt 3" for test tables
};

BatchPlan Schedule(const SchedulerConfig& cfg, const SchedulerState& state);

// Blocks needed to hold `tokens` positions.
inline int32_t BlocksFor(int32_t tokens, int32_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

}  // namespace phx::scheduler
