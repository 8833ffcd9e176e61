// The lexer of one compiled grammar: its states are sets of (terminal, DFA state) pairs (the
// terminals that can still match the bytes since the lexeme began), interned, with transitions
// built lazily and shared by every matcher of the grammar. Each state also caches what the
// vocabulary looks like from it (LexEntry, computed by BuildLexEntry):
//   - the tokens it accepts without finishing a lexeme on the way ("context-independent":
//     allowed whatever the parser stack is), as a bitset or a list;
//   - the tokens that finish a lexeme before their last byte, grouped by the state at the first
//     lexeme end and stored as a trie of the rest of their bytes, which the matcher walks with
//     its parser stack (xgrammar's context-dependent tokens).
// Thread-safe: transitions and entries are published with atomics; creation takes a mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "runtime/grammar/grammar.h"
#include "runtime/grammar/vocab.h"

namespace phx::grammar {

inline constexpr uint32_t kDeadLex = 0;  // the empty set: no terminal alive

// Tokens that finish a lexeme before their last byte, for one boundary state: the vocabulary
// trie nodes where the lexeme could not go on (after the boundary), sorted by the first byte
// after the boundary, so that one parser step per distinct byte rules most of them out.
struct DeadRef {
  uint32_t node;      // node index in the trie
  uint32_t path_off;  // bytes between the boundary and the node: paths[path_off, +path_len)
  uint16_t path_len;
  uint8_t trie;   // a vocabulary slice, or kRestTrie
  uint8_t first;  // first byte after the boundary
};

inline constexpr uint8_t kRestTrie = 255;

struct LexGroup {
  uint32_t boundary;          // lexer state at the first lexeme end (accepting)
  std::vector<DeadRef> refs;  // sorted by `first`
};

struct LexEntry {
  // Context-independent tokens: a bitset (dense) or a sorted id list (sparse).
  std::vector<uint64_t> dense;
  std::vector<int32_t> sparse;
  std::vector<LexGroup> groups;
  std::string paths;
  size_t MemoryBytes() const;
};

struct LexState {
  std::vector<std::pair<uint32_t, int32_t>> pairs;  // (terminal, TermState id), sorted
  std::vector<uint32_t> accepted;                   // terminals whose DFA accepts here
  bool has_out = false;                             // some byte continues a lexeme
  // A superset of the bytes after which some terminal is alive (TermStepper::FirstBytes of
  // every pair): any other byte is dead without stepping the terminals.
  std::array<uint64_t, 4> live = {};
  std::unique_ptr<std::atomic<int32_t>[]> next;  // per byte; kUnknown until computed
  std::atomic<const LexEntry*> entry{nullptr};
  // The state whose entry this one uses: itself, or for a string length count whose maximum
  // no token can reach, the same state with the count frozen (TermStepper::CanonicalCount).
  uint32_t entry_state = 0;
};

class Lexer {
 public:
  static constexpr int32_t kUnknown = -2;

  Lexer(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenVocab> vocab,
        size_t max_states = 1 << 18);
  ~Lexer();

  // The state where all `terms` (sorted, unique) start a lexeme.
  uint32_t StartState(const std::vector<uint32_t>& terms);
  // The state after byte `b` (kDeadLex when no terminal survives).
  uint32_t Next(uint32_t s, uint8_t b) {
    const int32_t n = state(s).next[b].load(std::memory_order_acquire);
    return n >= 0 ? static_cast<uint32_t>(n) : Compute(s, b);
  }
  const LexState& state(uint32_t s) const {
    return chunks_[s >> kChunkBits].load(std::memory_order_acquire)[s & kChunkMask];
  }
  bool accepting(uint32_t s) const { return !state(s).accepted.empty(); }

  // The cached entry of `s`, built on first use.
  const LexEntry& Entry(uint32_t s);

  const Grammar& grammar() const { return *g_; }
  const TokenVocab& vocab() const { return *vocab_; }
  size_t num_states() const { return count_.load(std::memory_order_acquire); }
  // Memory held by states, transitions and entries.
  size_t MemoryBytes() const;
  // Terminal t's state `id` (a copy: the table may grow meanwhile).
  TermState term_state(uint32_t t, int32_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    return term_states_[t].states[id];
  }
  // True once the state budget ran out (transitions beyond it read as dead).
  bool exhausted() const { return exhausted_.load(std::memory_order_relaxed); }

 private:
  static constexpr int kChunkBits = 10;
  static constexpr uint32_t kChunkMask = (1u << kChunkBits) - 1;
  static constexpr int kMaxChunks = 4096;

  uint32_t Compute(uint32_t s, uint8_t b);
  // Interns `pairs` (sorted); caller holds mu_.
  uint32_t InternLocked(const std::vector<std::pair<uint32_t, int32_t>>& pairs);
  // The id of terminal t's state `ts` (interned); caller holds mu_.
  int32_t TermId(uint32_t t, const TermState& ts);

  std::shared_ptr<const Grammar> g_;
  std::shared_ptr<const TokenVocab> vocab_;
  size_t max_states_;
  // Per terminal: its states met so far.
  struct TermTable {
    absl::flat_hash_map<TermState, int32_t> ids;
    std::vector<TermState> states;
    std::vector<std::array<uint64_t, 4>> first;  // TermStepper::FirstBytes per state
    // (state id << 8 | byte) -> up to two successor ids (-1: none).
    absl::flat_hash_map<uint64_t, std::pair<int32_t, int32_t>> next;
  };
  std::vector<TermTable> term_states_;

  std::mutex mu_;
  // Scratch of Compute and InternLocked (under mu_): no allocation when a state is known.
  std::vector<std::pair<uint32_t, int32_t>> pairs_scratch_;
  std::vector<uint64_t> key_scratch_;
  std::atomic<LexState*> chunks_[kMaxChunks] = {};
  std::atomic<size_t> count_{0};
  std::atomic<bool> exhausted_{false};
  absl::flat_hash_map<std::vector<uint64_t>, uint32_t, absl::Hash<std::vector<uint64_t>>> ids_;
  absl::flat_hash_map<std::vector<uint32_t>, uint32_t, absl::Hash<std::vector<uint32_t>>> starts_;
  std::vector<std::unique_ptr<LexEntry>> entries_;
  std::atomic<size_t> entry_bytes_{0};
};

// Walks the vocabulary from lexer state `s` and fills `out` (what Lexer::Entry caches).
void BuildLexEntry(Lexer& lex, uint32_t s, LexEntry* out);

}  // namespace phx::grammar
