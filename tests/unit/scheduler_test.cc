// Scheduler tests as iteration tables: a state goes in, a plan comes out. The multi-step tests
// drive a tiny simulated engine (pure bookkeeping: no model, no threads) and compare every
// iteration's plan with the expected row.
#include "runtime/scheduler/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace phx::scheduler {
namespace {

SeqState Seq(int64_t id, int32_t tokens, int32_t computed, int32_t blocks, int32_t prio = 0,
             int64_t arrival = -1) {
  SeqState s;
  s.id = id;
  s.num_tokens = tokens;
  s.num_computed = computed;
  s.blocks_held = blocks;
  s.priority = prio;
  s.arrival = arrival < 0 ? id : arrival;
  return s;
}

struct Row {
  const char* name;
  SchedulerConfig cfg;
  SchedulerState state;
  const char* expected;
  int32_t blocks_needed;
};

// A sequence whose remaining tokens run in one step or not at all (non-causal embeddings).
SeqState Whole(SeqState s) {
  s.whole = true;
  return s;
}

SchedulerConfig Cfg(int32_t seqs, int32_t budget, int32_t bs = 4, int32_t watermark = 0,
                    bool chunked = true) {
  return {seqs, budget, bs, watermark, chunked};
}

TEST(SchedulerTable, SingleStep) {
  const Row rows[] = {
      {"idle", Cfg(4, 16), {{}, {}, 10}, "idle", 0},
      {"admit one whole prompt", Cfg(4, 16), {{}, {Seq(1, 10, 0, 0)}, 10}, "1:+10sa", 3},
      {"chunked prefill over budget", Cfg(4, 8), {{}, {Seq(1, 10, 0, 0)}, 10}, "1:+8a", 2},
      {"no chunking: prompt over budget waits",
       Cfg(4, 8, 4, 0, false),
       {{}, {Seq(1, 10, 0, 0)}, 10},
       "idle",
       0},
      {"whole input over budget waits (never chunked)",
       Cfg(4, 8),
       {{}, {Whole(Seq(1, 10, 0, 0))}, 10},
       "idle",
       0},
      {"whole input fits the budget",
       Cfg(4, 10),
       {{}, {Whole(Seq(1, 10, 0, 0))}, 10},
       "1:+10sa",
       3},
      {"whole input waits for the budget decodes leave; FCFS holds the queue",
       Cfg(4, 10),
       {{Seq(1, 9, 8, 3)}, {Whole(Seq(2, 10, 0, 0)), Seq(3, 2, 0, 0)}, 10},
       "1:+1s",
       0},
      {"decode then admit, FCFS",
       Cfg(4, 16),
       {{Seq(1, 9, 8, 2)}, {Seq(2, 5, 0, 0), Seq(3, 3, 0, 0)}, 10},
       "1:+1s 2:+5sa 3:+3sa",
       4},
      {"decode continuing a partial prefill", Cfg(4, 8), {{Seq(1, 20, 8, 2)}, {}, 10}, "1:+8", 2},
      {"batch size limit",
       Cfg(2, 64),
       {{Seq(1, 9, 8, 3)}, {Seq(2, 4, 0, 0), Seq(3, 4, 0, 0)}, 10},
       "1:+1s 2:+4sa",
       1},
      {"head of queue blocks later ones (strict FCFS)",
       Cfg(4, 64),
       {{}, {Seq(1, 40, 0, 0), Seq(2, 2, 0, 0)}, 5},
       "idle",
       0},
      {"watermark keeps blocks free",
       Cfg(4, 64, 4, 2),
       {{}, {Seq(1, 4, 0, 0), Seq(2, 12, 0, 0)}, 5},
       "1:+4sa",
       1},
      {"watermark allows when enough", Cfg(4, 64, 4, 1), {{}, {Seq(1, 16, 0, 0)}, 5}, "1:+16sa", 4},
      {"watermark ignored when nothing runs (a cache-sized prompt still starts)",
       Cfg(4, 64, 4, 2),
       {{}, {Seq(1, 16, 0, 0)}, 4},
       "1:+16sa",
       4},
      {"watermark applies next to a running sequence",
       Cfg(4, 64, 4, 2),
       {{Seq(1, 5, 4, 2)}, {Seq(2, 16, 0, 0)}, 5},
       "1:+1s",
       0},
      {"priority class first",
       Cfg(4, 64),
       {{}, {Seq(1, 4, 0, 0, 0), Seq(2, 4, 0, 0, 5)}, 10},
       "2:+4sa 1:+4sa",
       2},
      {"running priority order",
       Cfg(4, 64),
       {{Seq(1, 5, 4, 1, 0), Seq(2, 5, 4, 1, 3)}, {}, 10},
       "2:+1s 1:+1s",
       2},
      {"preempt newest lowest priority",
       Cfg(4, 64),
       {{Seq(1, 5, 4, 1, 1, 0), Seq(2, 5, 4, 1, 0, 1), Seq(3, 5, 4, 1, 0, 2)}, {}, 1},
       "1:+1s 2:+1s | preempt 3",
       2},
      {"preempt self when nothing else", Cfg(4, 64), {{Seq(1, 9, 8, 2)}, {}, 0}, "| preempt 1", 0},
      {"no admission in a preempting step",
       Cfg(4, 64),
       {{Seq(1, 5, 4, 1), Seq(2, 5, 4, 1)}, {Seq(3, 1, 0, 0)}, 1},
       "1:+1s | preempt 2",
       1},
      {"budget split: decodes first",
       Cfg(4, 3),
       {{Seq(1, 5, 4, 2), Seq(2, 5, 4, 2)}, {Seq(3, 8, 0, 0)}, 10},
       "1:+1s 2:+1s 3:+1a",
       1},
  };
  for (const Row& r : rows) {
    const BatchPlan p = Schedule(r.cfg, r.state);
    EXPECT_EQ(p.DebugString(), r.expected) << r.name;
    EXPECT_EQ(p.blocks_needed, r.blocks_needed) << r.name;
    int32_t sum = 0;
    for (const auto& it : p.items) sum += it.num_new;
    EXPECT_EQ(p.num_tokens, sum) << r.name;
    EXPECT_LE(p.num_tokens, r.cfg.max_tokens_per_step) << r.name;
  }
}

TEST(SchedulerTable, PrefixHitsSkipPrefill) {
  SeqState w = Seq(1, 20, 0, 0);
  w.prefix_hit_tokens = 16;
  w.prefix_revive_blocks = 2;
  // Only the 4 uncached tokens are computed; 1 new block plus 2 revived ones leave the pool.
  const BatchPlan p = Schedule(Cfg(4, 64), {{}, {w}, 3});
  EXPECT_EQ(p.DebugString(), "1:+4sa");
  EXPECT_EQ(p.blocks_needed, 1);
  EXPECT_EQ(Schedule(Cfg(4, 64), {{}, {w}, 2}).DebugString(), "idle");
}

// A simulated engine applying plans: sequences generate `gen` tokens each, then finish.
struct Sim {
  SchedulerConfig cfg;
  int32_t total_blocks;
  std::map<int64_t, SeqState> seqs;
  std::map<int64_t, int32_t> gen_left;
  std::vector<int64_t> running, waiting;

  int32_t free() const {
    int32_t used = 0;
    for (const auto& [id, s] : seqs) used += s.blocks_held;
    return total_blocks - used;
  }
  void Add(SeqState s, int32_t gen) {
    seqs[s.id] = s;
    gen_left[s.id] = gen;
    waiting.push_back(s.id);
  }
  std::string Step() {
    SchedulerState st;
    for (auto id : running) st.running.push_back(seqs[id]);
    for (auto id : waiting) st.waiting.push_back(seqs[id]);
    st.free_blocks = free();
    const BatchPlan p = Schedule(cfg, st);
    for (auto id : p.preempted) {
      auto& s = seqs[id];
      s.blocks_held = 0;
      s.num_computed = 0;
      running.erase(std::find(running.begin(), running.end(), id));
      waiting.push_back(id);
    }
    for (const auto& it : p.items) {
      auto& s = seqs[it.id];
      if (it.admitted) {
        waiting.erase(std::find(waiting.begin(), waiting.end(), it.id));
        running.push_back(it.id);
      }
      s.num_computed += it.num_new;
      s.blocks_held = std::max(s.blocks_held, BlocksFor(s.num_computed, cfg.block_size));
      EXPECT_LE(total_blocks - free(), total_blocks) << "over-allocated";
      if (it.sample) {
        if (--gen_left[it.id] == 0) {
          running.erase(std::find(running.begin(), running.end(), it.id));
          seqs.erase(it.id);
        } else {
          ++s.num_tokens;
        }
      }
    }
    EXPECT_GE(free(), 0);
    return p.DebugString();
  }
};

TEST(SchedulerTable, IterationsWithChunkingAndFinish) {
  Sim sim{Cfg(8, 6, 4), 100, {}, {}, {}, {}};
  sim.Add(Seq(1, 10, 0, 0), 2);
  sim.Add(Seq(2, 3, 0, 0), 1);
  const char* expected[] = {"1:+6a", "1:+4s 2:+2a", "1:+1s 2:+1s", "idle"};
  for (const char* e : expected) EXPECT_EQ(sim.Step(), e);
}

TEST(SchedulerTable, IterationsWithPreemptionAndRecompute) {
  // 3 blocks of 4 tokens: two sequences of 5 tokens each fit (2 blocks each would not).
  Sim sim{Cfg(8, 64, 4), 3, {}, {}, {}, {}};
  sim.Add(Seq(1, 4, 0, 0), 3);
  sim.Add(Seq(2, 4, 0, 0), 3);
  const char* expected[] = {
      "1:+4sa 2:+4sa",      // 2 blocks used
      "1:+1s | preempt 2",  // seq 1 needs a 2nd block: seq 2 (newer) is preempted
      "1:+1s",              // seq 2 (needs 2 blocks) waits: 1 free; seq 1 finishes
      "2:+5sa",             // seq 2 recomputes its prompt and first generated token
      "2:+1s",
      "idle",
  };
  for (size_t i = 0; i < std::size(expected); ++i) {
    EXPECT_EQ(sim.Step(), expected[i]) << "iteration " << i;
  }
}

}  // namespace
}  // namespace phx::scheduler
