#include "runtime/grammar/lexer.h"

#include <algorithm>

namespace phx::grammar {

size_t LexEntry::MemoryBytes() const {
  size_t n = dense.size() * 8 + sparse.size() * 4 + sizeof(LexEntry) + paths.size();
  for (const auto& g : groups) n += g.refs.size() * sizeof(DeadRef) + sizeof(LexGroup);
  return n;
}

Lexer::Lexer(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenVocab> vocab,
             size_t max_states)
    : g_(std::move(g)), vocab_(std::move(vocab)), max_states_(max_states) {
  term_states_.resize(g_->num_terms());
  std::lock_guard<std::mutex> lock(mu_);
  InternLocked({});  // state 0: dead
}

int32_t Lexer::TermId(uint32_t t, const TermState& ts) {
  TermTable& tab = term_states_[t];
  auto it = tab.ids.find(ts);
  if (it != tab.ids.end()) return it->second;
  const auto id = static_cast<int32_t>(tab.states.size());
  tab.states.push_back(ts);
  std::array<uint64_t, 4> first = {};
  TermStepper::FirstBytes(g_->term(t), ts, first.data());
  tab.first.push_back(first);
  tab.ids.emplace(ts, id);
  return id;
}

Lexer::~Lexer() {
  for (auto& c : chunks_) delete[] c.load();
}

uint32_t Lexer::InternLocked(const std::vector<std::pair<uint32_t, int32_t>>& pairs) {
  std::vector<uint64_t>& key = key_scratch_;
  key.clear();
  for (const auto& [t, s] : pairs) key.push_back((uint64_t{t} << 32) | static_cast<uint32_t>(s));
  auto it = ids_.find(key);
  if (it != ids_.end()) return it->second;
  const size_t id = count_.load(std::memory_order_relaxed);
  if (id >= max_states_ || (id >> kChunkBits) >= static_cast<size_t>(kMaxChunks)) {
    exhausted_.store(true, std::memory_order_relaxed);
    return kDeadLex;
  }
  LexState* chunk = chunks_[id >> kChunkBits].load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = new LexState[size_t{1} << kChunkBits];
    chunks_[id >> kChunkBits].store(chunk, std::memory_order_release);
  }
  LexState& st = chunk[id & kChunkMask];
  st.next = std::make_unique<std::atomic<int32_t>[]>(256);
  for (int c = 0; c < 256; ++c) {
    st.next[c].store(id == kDeadLex ? static_cast<int32_t>(kDeadLex) : kUnknown,
                     std::memory_order_relaxed);
  }
  bool counted = false;
  for (const auto& [t, ts] : pairs) {
    const Terminal& term = g_->term(t);
    const TermState& x = term_states_[t].states[ts];
    if (TermStepper::Accepts(term, x)) st.accepted.push_back(t);
    st.has_out |= TermStepper::HasOut(term, x);
    const auto& first = term_states_[t].first[ts];
    for (int w = 0; w < 4; ++w) st.live[w] |= first[w];
    const auto& pieces = term.spec->pieces();
    for (size_t j = x.piece; j < pieces.size() && !counted && !x.frozen; ++j) {
      counted |= pieces[j].counted;
    }
  }
  st.accepted.erase(std::unique(st.accepted.begin(), st.accepted.end()), st.accepted.end());
  st.pairs = pairs;
  st.entry_state = static_cast<uint32_t>(id);
  ids_.emplace(key, static_cast<uint32_t>(id));
  count_.store(id + 1, std::memory_order_release);
  if (counted) {
    // Counts that cannot change which tokens fit share one mask entry (lexer.h).
    std::vector<std::pair<uint32_t, int32_t>> canon = st.pairs;
    const int64_t slack = vocab_->max_token_bytes();
    bool changed = false;
    for (auto& [t, ts] : canon) {
      const TermState& x = term_states_[t].states[ts];
      const TermState c = TermStepper::CanonicalCount(g_->term(t), x, slack);
      if (!(c == x)) {
        ts = TermId(t, c);
        changed = true;
      }
    }
    if (changed) {
      std::sort(canon.begin(), canon.end());
      canon.erase(std::unique(canon.begin(), canon.end()), canon.end());
      const uint32_t e = InternLocked(canon);
      chunks_[id >> kChunkBits].load(std::memory_order_relaxed)[id & kChunkMask].entry_state = e;
    }
  }
  return static_cast<uint32_t>(id);
}

uint32_t Lexer::StartState(const std::vector<uint32_t>& terms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = starts_.find(terms);
  if (it != starts_.end()) return it->second;
  std::vector<std::pair<uint32_t, int32_t>> pairs;
  for (uint32_t t : terms) pairs.push_back({t, TermId(t, TermStepper::Start(g_->term(t)))});
  std::sort(pairs.begin(), pairs.end());
  const uint32_t id = InternLocked(pairs);
  starts_.emplace(terms, id);
  return id;
}

uint32_t Lexer::Compute(uint32_t s, uint8_t b) {
  std::lock_guard<std::mutex> lock(mu_);
  const LexState& st = state(s);
  const int32_t known = st.next[b].load(std::memory_order_acquire);
  if (known >= 0) return static_cast<uint32_t>(known);
  std::vector<std::pair<uint32_t, int32_t>>& pairs = pairs_scratch_;
  pairs.clear();
  TermState out[2];
  const uint64_t bit = uint64_t{1} << (b & 63);
  // A byte no terminal takes is dead without stepping them (the state's `live` bytes).
  if ((st.live[b >> 6] & bit) != 0) {
    for (const auto& [t, ts] : st.pairs) {
      TermTable& tab = term_states_[t];
      if ((tab.first[ts][b >> 6] & bit) == 0) continue;  // the terminal dies on b
      const uint64_t key = (static_cast<uint64_t>(ts) << 8) | b;
      auto it = tab.next.find(key);
      if (it == tab.next.end()) {
        const TermState x = tab.states[ts];
        const int n = TermStepper::Step(g_->term(t), x, b, out);
        std::pair<int32_t, int32_t> succ = {n > 0 ? TermId(t, out[0]) : -1,
                                            n > 1 ? TermId(t, out[1]) : -1};
        it = tab.next.emplace(key, succ).first;
      }
      if (it->second.first >= 0) pairs.push_back({t, it->second.first});
      if (it->second.second >= 0) pairs.push_back({t, it->second.second});
    }
  }
  std::sort(pairs.begin(), pairs.end());
  pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
  const uint32_t id = pairs.empty() ? kDeadLex : InternLocked(pairs);
  // A budget overflow leaves the transition unknown so that it is retried (and reads dead).
  if (id != kDeadLex || !exhausted()) {
    state(s).next[b].store(static_cast<int32_t>(id), std::memory_order_release);
  }
  return id;
}

const LexEntry& Lexer::Entry(uint32_t s0) {
  const uint32_t s = state(s0).entry_state;
  const LexState& st = state(s);
  const LexEntry* e = st.entry.load(std::memory_order_acquire);
  if (e != nullptr) return *e;
  auto fresh = std::make_unique<LexEntry>();
  BuildLexEntry(*this, s, fresh.get());
  std::lock_guard<std::mutex> lock(mu_);
  e = st.entry.load(std::memory_order_acquire);
  if (e != nullptr) return *e;  // another thread published first
  e = fresh.get();
  entry_bytes_.fetch_add(fresh->MemoryBytes(), std::memory_order_relaxed);
  entries_.push_back(std::move(fresh));
  const_cast<LexState&>(st).entry.store(e, std::memory_order_release);
  return *e;
}

size_t Lexer::MemoryBytes() const {
  const size_t n = num_states();
  return n * (sizeof(LexState) + 256 * 4 + 32) + entry_bytes_.load(std::memory_order_relaxed);
}

}  // namespace phx::grammar
