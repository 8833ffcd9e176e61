// Constrained decoding in the engine: each constrained sequence owns a grammar::Matcher. Its
// mask for the next token depends only on the tokens it already committed, so the masks of a
// step are computed on a helper thread while the forward pass runs; the sampler then sees only
// the allowed tokens. Lazy grammars (triggers) start when the output contains a trigger.
#include <algorithm>
#include <bit>
#include <chrono>
#include <ctime>

#include "runtime/engine/engine.h"

namespace phx::engine {
namespace {

// CPU time of the calling thread: mask time stays meaningful on a loaded host, where wall time
// would count the time other processes hold the core.
int64_t ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

void Engine::ComputeMask(Sequence& s) {
  s.matcher->ComputeMask(s.mask.data());
  s.mask_ready = true;
}

bool Engine::StartMasks(const std::vector<Sequence*>& sampling) {
  std::vector<Sequence*> need;
  for (Sequence* s : sampling) {
    if (s->grammar_active && !s->mask_ready) need.push_back(s);
  }
  if (need.empty()) return false;
  grammar_masks_ += need.size();
  masks_in_flight_ = true;
  mask_worker_.Run([this, need = std::move(need)] {
    const int64_t t0 = ThreadCpuNs();
    for (Sequence* s : need) ComputeMask(*s);
    grammar_mask_ns_ += ThreadCpuNs() - t0;
  });
  return true;
}

void Engine::WaitMasks() {
  if (!masks_in_flight_) return;
  masks_in_flight_ = false;
  const auto t0 = Clock::now();
  mask_worker_.Wait();
  grammar_wait_ns_ +=
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

bool Engine::GrammarComplete(Sequence& s) {
  if (!s.matcher->IsAccepting()) return false;
  // Accepting states are few (the end of the value, or inside a number that may go on): only
  // there is the next mask computed now, on the engine thread, and kept for the next step.
  const int64_t t0 = ThreadCpuNs();
  ComputeMask(s);
  ++grammar_masks_;
  grammar_mask_ns_ += ThreadCpuNs() - t0;
  int ends = 0;
  for (int32_t t : s.matcher->compiled().vocab().eog()) {
    ends += (s.mask[static_cast<size_t>(t) >> 6] >> (t & 63)) & 1;
  }
  int allowed = 0;
  for (uint64_t w : s.mask) allowed += std::popcount(w);
  return allowed == ends;
}

void Engine::WatchTriggers(Sequence& s, int32_t token) {
  const grammar::TokenVocab& v = s.matcher->compiled().vocab();
  const size_t before = s.raw.size();
  s.raw += v.bytes(token);
  size_t at = std::string::npos, longest = 0;
  for (const std::string& trig : s.req.constraint.triggers) {
    // Only a match that ends in the new bytes is new; the earliest trigger wins.
    const size_t from = before >= trig.size() ? before - trig.size() + 1 : 0;
    at = std::min(at, s.raw.find(trig, from));
    longest = std::max(longest, trig.size());
  }
  if (at == std::string::npos) {
    // A later match starts at most longest - 1 bytes back: keep no more than that.
    if (s.raw.size() >= longest) s.raw.erase(0, s.raw.size() - (longest - 1));
    return;
  }
  // The grammar applies from the trigger's first byte: the text since then is forced.
  if (s.matcher->CommitBytes(std::string_view(s.raw).substr(at))) {
    s.grammar_active = true;
    s.mask_ready = false;
  } else {
    s.lazy_off = true;  // the trigger's text does not fit the grammar: free to the end
  }
  s.raw.clear();
  s.raw.shrink_to_fit();
}

}  // namespace phx::engine
