#include "runtime/scheduler/scheduler.h"

#include <algorithm>

#include "base/strings.h"

namespace phx::scheduler {
namespace {

bool RunsBefore(const SeqState& a, const SeqState& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.arrival != b.arrival) return a.arrival < b.arrival;
  return a.id < b.id;
}

}  // namespace

std::string BatchPlan::DebugString() const {
  std::string s;
  for (const auto& it : items) {
    s += StrCat(s.empty() ? "" : " ", it.id, ":+", it.num_new, it.sample ? "s" : "",
                it.admitted ? "a" : "");
  }
  if (!preempted.empty()) s += StrCat(s.empty() ? "" : " ", "| preempt ", StrJoin(preempted, ","));
  return s.empty() ? "idle" : s;
}

BatchPlan Schedule(const SchedulerConfig& cfg, const SchedulerState& state) {
  BatchPlan plan;
  std::vector<SeqState> running = state.running;
  std::sort(running.begin(), running.end(), RunsBefore);
  int32_t budget = cfg.max_tokens_per_step;
  int32_t free = state.free_blocks;
  const int32_t bs = cfg.block_size;

  // 1. Running sequences; victims are taken from the back of `running`.
  size_t end = running.size();  // running[end..] have been preempted
  for (size_t i = 0; i < end && budget > 0; ++i) {
    const SeqState& s = running[i];
    const int32_t remaining = s.num_tokens - s.num_computed;
    if (remaining <= 0 || (s.whole && remaining > budget)) continue;
    const int32_t n = std::min(remaining, budget);
    const int32_t need = std::max(0, BlocksFor(s.num_computed + n, bs) - s.blocks_held);
    while (need > free && end > i + 1) {
      --end;
      plan.preempted.push_back(running[end].id);
      free += running[end].blocks_held;
    }
    if (need > free) {  // nothing left to preempt but itself
      plan.preempted.push_back(s.id);
      free += s.blocks_held;
      end = i;
      break;
    }
    free -= need;
    budget -= n;
    plan.blocks_needed += need;
    plan.items.push_back({s.id, n, s.num_computed + n == s.num_tokens, false});
    plan.num_tokens += n;
  }
  // Victims always sit after the sequence being scheduled, so no scheduled item is preempted.

  // 2. Admission, only when nothing was preempted.
  if (plan.preempted.empty()) {
    std::vector<SeqState> waiting = state.waiting;
    std::sort(waiting.begin(), waiting.end(), RunsBefore);
    int32_t batch = static_cast<int32_t>(end);
    for (const SeqState& s : waiting) {
      if (batch >= cfg.max_num_seqs || budget <= 0) break;
      const int32_t computed = std::max(s.num_computed, s.prefix_hit_tokens);
      const int32_t remaining = s.num_tokens - computed;
      if (remaining <= 0) break;  // engine always leaves at least one token to compute
      if ((!cfg.chunked_prefill || s.whole) && remaining > budget) break;
      const int32_t n = std::min(remaining, budget);
      const int32_t held = std::max(s.blocks_held, computed / bs);
      const int32_t need = std::max(0, BlocksFor(computed + n, bs) - held) + s.prefix_revive_blocks;
      // The watermark keeps headroom for running sequences to grow; with nothing running it
      // would only stop a prompt that needs (nearly) the whole cache from ever starting.
      const bool alone = batch == 0;
      if (need > free || (!alone && free - need < cfg.watermark_blocks)) break;
      free -= need;
      budget -= n;
      ++batch;
      plan.blocks_needed += need - s.prefix_revive_blocks;
      plan.items.push_back({s.id, n, computed + n == s.num_tokens, true});
      plan.num_tokens += n;
    }
  }
  return plan;
}

}  // namespace phx::scheduler
