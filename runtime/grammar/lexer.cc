#include "runtime/grammar/lexer.h"

#include <algorithm>
#include <map>

namespace phx::grammar {

size_t LexEntry::MemoryBytes() const {
  size_t n = dense.size() * 8 + sparse.size() * 4 + sizeof(LexEntry) + paths.size();
  for (const auto& g : groups) n += g.refs.size() * sizeof(DeadRef) + sizeof(LexGroup);
  return n;
}

Lexer::Lexer(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenVocab> vocab,
             size_t max_states)
    : g_(std::move(g)), vocab_(std::move(vocab)), max_states_(max_states) {
  // Byte classes: bytes that every terminal DFA treats alike.
  std::array<int32_t, 256> cls{};
  int n = 1;
  for (size_t t = 0; t < g_->num_terms(); ++t) {
    const ByteDfa& d = *g_->term(t).dfa;
    std::map<std::pair<int32_t, int32_t>, int32_t> ids;
    for (int b = 0; b < 256; ++b) {
      auto it = ids.emplace(std::pair{cls[b], static_cast<int32_t>(d.cls[b])},
                            static_cast<int32_t>(ids.size()))
                    .first;
      cls[b] = it->second;
    }
    n = static_cast<int>(ids.size());
  }
  ncls_ = std::max(n, 1);
  for (int b = 255; b >= 0; --b) {
    cls_[b] = static_cast<uint8_t>(cls[b]);
    rep_[cls[b]] = static_cast<uint8_t>(b);
  }
  std::lock_guard<std::mutex> lock(mu_);
  InternLocked({});  // state 0: dead
}

Lexer::~Lexer() {
  for (auto& c : chunks_) delete[] c.load();
}

uint32_t Lexer::InternLocked(std::vector<std::pair<uint32_t, int32_t>> pairs) {
  std::vector<uint64_t> key;
  key.reserve(pairs.size());
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
  st.next = std::make_unique<std::atomic<int32_t>[]>(ncls_);
  for (int c = 0; c < ncls_; ++c) {
    st.next[c].store(id == kDeadLex ? static_cast<int32_t>(kDeadLex) : kUnknown,
                     std::memory_order_relaxed);
  }
  for (const auto& [t, s] : pairs) {
    const ByteDfa& d = *g_->term(t).dfa;
    if (d.accept[s]) st.accepted.push_back(t);
    st.has_out |= d.has_out[s] != 0;
  }
  st.pairs = std::move(pairs);
  ids_.emplace(std::move(key), static_cast<uint32_t>(id));
  count_.store(id + 1, std::memory_order_release);
  return static_cast<uint32_t>(id);
}

uint32_t Lexer::StartState(const std::vector<uint32_t>& terms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = starts_.find(terms);
  if (it != starts_.end()) return it->second;
  std::vector<std::pair<uint32_t, int32_t>> pairs;
  for (uint32_t t : terms) pairs.push_back({t, g_->term(t).dfa->start});
  const uint32_t id = InternLocked(std::move(pairs));
  starts_.emplace(terms, id);
  return id;
}

uint32_t Lexer::Compute(uint32_t s, uint8_t b) {
  std::lock_guard<std::mutex> lock(mu_);
  const LexState& st = state(s);
  const int c = cls_[b];
  const int32_t known = st.next[c].load(std::memory_order_acquire);
  if (known >= 0) return static_cast<uint32_t>(known);
  std::vector<std::pair<uint32_t, int32_t>> pairs;
  for (const auto& [t, ds] : st.pairs) {
    const int32_t n = g_->term(t).dfa->Step(ds, b);
    if (n >= 0) pairs.push_back({t, n});
  }
  const uint32_t id = pairs.empty() ? kDeadLex : InternLocked(std::move(pairs));
  // A budget overflow leaves the transition unknown so that it is retried (and reads dead).
  if (id != kDeadLex || !exhausted()) {
    state(s).next[c].store(static_cast<int32_t>(id), std::memory_order_release);
  }
  return id;
}

const LexEntry& Lexer::Entry(uint32_t s) {
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
  return n * (sizeof(LexState) + ncls_ * 4 + 32) + entry_bytes_.load(std::memory_order_relaxed);
}

}  // namespace phx::grammar
