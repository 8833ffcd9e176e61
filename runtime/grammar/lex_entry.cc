// Builds a lexer state's LexEntry by walking the vocabulary tries from it (see lexer.h).
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "runtime/grammar/lexer.h"

namespace phx::grammar {
namespace {

// Sparse entries hold at most this many tokens.
constexpr size_t kSparseMax = 1024;

struct Rec {
  uint32_t boundary;
  DeadRef ref;
};

class EntryBuilder {
 public:
  EntryBuilder(Lexer& lex, uint32_t s)
      : lex_(lex), v_(lex.vocab()), start_(s), slice_chars_(SliceChars()) {
    bits_.assign(v_.mask_words(), 0);
    slot_next_.reserve(64 * 256);
  }

  void Run(LexEntry* out) {
    out_ = out;
    // The longest run of slice text any terminal of the state can still take.
    int64_t max_run = 0;
    for (const auto& [t, ts] : lex_.state(start_).pairs) {
      const int64_t r =
          TermStepper::MaxRun(lex_.grammar().term(t), lex_.term_state(t, ts), slice_chars_);
      if (r < 0) {
        max_run = -1;
        break;
      }
      max_run = std::max(max_run, r);
    }
    // Slices 0..upto-1 are all contained: their union is added at once (vocab.h upto_bits).
    size_t upto = 0;
    for (size_t i = 0; i < v_.slices().size(); ++i) {
      const auto& slice = v_.slices()[i];
      // Tokens of the slice are longer than any text the state can still take: none fits,
      // and none ends a lexeme on the way (slice text has no quote).
      if (max_run >= 0 && slice.min_chars > max_run) continue;
      // Text longer than the state can take is in the slice: some of it does not fit (exact:
      // max_run bounds every terminal of the state), so the slice is walked, not searched.
      const bool too_long = max_run >= 0 && (slice.max_chars < 0 || slice.max_chars > max_run);
      if (!too_long && SliceContained(slice.max_chars)) {
        if (upto == i) {
          ++upto;
        } else {
          for (size_t w = 0; w < bits_.size(); ++w) bits_[w] |= slice.bits[w];
        }
      } else {
        Walk(slice.trie, static_cast<uint8_t>(i));
      }
    }
    if (upto > 0) {
      const uint64_t* src = v_.slices()[upto - 1].upto_bits.data();
      for (size_t w = 0; w < bits_.size(); ++w) bits_[w] |= src[w];
    }
    Walk(v_.rest(), kRestTrie);
    Finish(out);
  }

 private:
  void Set(int32_t tok) { bits_[tok >> 6] |= uint64_t{1} << (tok & 63); }

  // Every string of up to `max_chars` slice characters (-1: any number) keeps a lexeme alive
  // from the start state.
  bool SliceContained(int max_chars) {
    // One terminal of the state that stays alive through all such text is enough.
    // Slices come shortest first, so a terminal that failed a shorter one fails this one.
    const LexState& st = lex_.state(start_);
    pair_failed_.resize(st.pairs.size(), 0);
    for (size_t i = 0; i < st.pairs.size(); ++i) {
      if (pair_failed_[i]) continue;
      const auto [t, ts] = st.pairs[i];
      if (TermStepper::Contains(lex_.grammar().term(t), lex_.term_state(t, ts), slice_chars_,
                                max_chars)) {
        return true;
      }
      pair_failed_[i] = 1;
    }
    if (safe_chars_ == kSafeUnknown) safe_chars_ = SafeChars();
    return safe_chars_ == kSafeAny || (max_chars >= 0 && max_chars <= safe_chars_);
  }

  // The most slice characters every string of which keeps some terminal of the start state
  // alive (kSafeAny: no bound), found once per entry by a breadth-first search over lexer
  // states at character boundaries: the first level where a character kills every terminal
  // bounds it, and so does the level where the search gives up (states beyond kSafeStates).
  static constexpr int64_t kSafeUnknown = -2, kSafeAny = -1;
  static constexpr size_t kSafeStates = 64;
  int64_t SafeChars() {
    const Terminal& u = v_.slice_char();
    std::vector<std::pair<uint32_t, int64_t>> work = {{start_, 0}};  // (state, level)
    absl::flat_hash_set<uint32_t> seen = {start_};
    std::vector<std::pair<TermState, uint32_t>> stack;  // (char state, lexer state) inside a char
    absl::flat_hash_set<std::pair<TermState, uint32_t>> inner_seen;
    TermState next[2];
    // Breadth first: states come in level order, each first reached at its lowest level.
    for (size_t wi = 0; wi < work.size(); ++wi) {
      const auto [ls, level] = work[wi];
      // Every string of `level` characters was checked (all lower levels are expanded).
      if (seen.size() > kSafeStates) return level;
      stack.assign(1, {TermStepper::Start(u), ls});
      inner_seen.clear();
      while (!stack.empty()) {
        auto [us, cur] = stack.back();
        stack.pop_back();
        for (int b = 0; b < 256; ++b) {
          if (TermStepper::Step(u, us, static_cast<uint8_t>(b), next) == 0) continue;
          const uint32_t ln = lex_.Next(cur, static_cast<uint8_t>(b));
          if (ln == kDeadLex) return level;  // a string of level + 1 characters dies
          if (TermStepper::Accepts(u, next[0])) {
            if (seen.insert(ln).second) work.push_back({ln, level + 1});
          } else if (inner_seen.insert({next[0], ln}).second) {
            stack.push_back({next[0], ln});
          }
        }
      }
    }
    return kSafeAny;
  }

  // A walk-local copy of the lexer states it meets ("slots"): 256 next-slot entries each,
  // filled on demand, so that a trie node costs one table load.
  static constexpr int32_t kUnset = -2;
  int32_t Slot(uint32_t lex_state) {
    auto it = slot_of_.find(lex_state);
    if (it != slot_of_.end()) return it->second;
    const auto slot = static_cast<int32_t>(slot_state_.size());
    slot_state_.push_back(lex_state);
    slot_accepting_.push_back(lex_.accepting(lex_state) ? 1 : 0);
    slot_live_.push_back(lex_.state(lex_state).live);
    slot_next_.resize(slot_next_.size() + 256, kUnset);
    slot_of_.emplace(lex_state, slot);
    return slot;
  }
  int32_t NextSlot(int32_t slot, uint8_t b) {
    int32_t& e = slot_next_[static_cast<size_t>(slot) * 256 + b];
    if (e == kUnset) {
      // A byte outside the state's live set is dead without asking the lexer.
      if ((slot_live_[slot][b >> 6] >> (b & 63) & 1) == 0) return e = -1;
      const uint32_t n = lex_.Next(slot_state_[slot], b);
      const int32_t v = n == kDeadLex ? -1 : Slot(n);
      slot_next_[static_cast<size_t>(slot) * 256 + b] = v;  // `e` may dangle after resize
      return v;
    }
    return e;
  }

  void Walk(const TokenTrie& t, uint8_t trie_index) {
    if (t.nodes.size() <= 1) return;
    path_.resize(static_cast<size_t>(t.max_depth) + 1);
    trie_ = &t;
    trie_index_ = trie_index;
    Descend(0, 0, Slot(start_), -1, 0);
  }

  // Visits the children of the live node p at depth d (walk slot `slot`); fb_d and fb_state:
  // the first lexeme end on the path (depth, lexer state), fb_d -1 for none.
  void Descend(uint32_t p, int d, int32_t slot, int fb_d, uint32_t fb_state) {
    const TrieNode* nodes = trie_->nodes.data();
    if (nodes[p].fat && fb_d < 0) {
      // No lexeme end behind: a dead child records nothing, so only the bytes the state can
      // take are visited (from the fat node's child list, without touching the others).
      const std::array<uint64_t, 4> live = slot_live_[slot];  // a copy: slots may grow
      uint32_t k, end;
      trie_->FatKids(p, &k, &end);
      const uint8_t* bytes = trie_->kid_byte.data();
      for (; k < end; ++k) {
        const uint8_t b = bytes[k];
        if ((live[b >> 6] >> (b & 63) & 1) != 0) Visit(trie_->kid_node[k], d + 1, slot, -1, 0);
      }
      return;
    }
    const uint32_t end = p + nodes[p].subtree;
    for (uint32_t q = p + 1; q < end; q += nodes[q].subtree) Visit(q, d + 1, slot, fb_d, fb_state);
  }

  // Node q at depth d, reached from walk slot `prev`.
  void Visit(uint32_t q, int d, int32_t prev, int fb_d, uint32_t fb_state) {
    const TrieNode& node = trie_->nodes[q];
    int32_t nx = slot_next_[static_cast<size_t>(prev) * 256 + node.byte];
    if (nx == kUnset) nx = NextSlot(prev, node.byte);
    path_[d] = node.byte;
    if (nx >= 0) {
      if (fb_d < 0 && slot_accepting_[nx]) {
        fb_d = d;
        fb_state = slot_state_[nx];
      }
      const int32_t* toks = trie_->toks.data();
      for (uint32_t k = 0; k < node.tok_count; ++k) Set(toks[node.tok_begin + k]);
      if (node.subtree > 1) Descend(q, d, nx, fb_d, fb_state);
    } else if (fb_d >= 0) {
      // Bytes between the boundary (depth fb_d) and this node.
      DeadRef r;
      r.node = q;
      r.path_off = static_cast<uint32_t>(out_->paths.size());
      r.path_len = static_cast<uint16_t>(d - 1 - fb_d);
      r.trie = trie_index_;
      r.first = r.path_len > 0 ? path_[fb_d + 1] : node.byte;
      for (int i = fb_d + 1; i < d; ++i) out_->paths.push_back(static_cast<char>(path_[i]));
      recs_.push_back({fb_state, r});
    }
  }

  void Finish(LexEntry* out) {
    // Counted only as far as the sparse bound (a dense entry stops early).
    size_t count = 0;
    for (size_t w = 0; w < bits_.size() && count <= kSparseMax; ++w) {
      count += __builtin_popcountll(bits_[w]);
    }
    if (count <= kSparseMax) {
      out->sparse.reserve(count);
      for (size_t w = 0; w < bits_.size(); ++w) {
        uint64_t x = bits_[w];
        while (x) {
          out->sparse.push_back(static_cast<int32_t>(w * 64 + __builtin_ctzll(x)));
          x &= x - 1;
        }
      }
    } else {
      out->dense = std::move(bits_);
    }
    if (recs_.empty()) return;
    std::sort(recs_.begin(), recs_.end(), [](const Rec& a, const Rec& b) {
      if (a.boundary != b.boundary) return a.boundary < b.boundary;
      if (a.ref.first != b.ref.first) return a.ref.first < b.ref.first;
      return a.ref.path_len < b.ref.path_len;
    });
    for (size_t i = 0; i < recs_.size();) {
      LexGroup g;
      g.boundary = recs_[i].boundary;
      size_t j = i;
      while (j < recs_.size() && recs_[j].boundary == g.boundary) g.refs.push_back(recs_[j++].ref);
      out->groups.push_back(std::move(g));
      i = j;
    }
  }

  Lexer& lex_;
  const TokenVocab& v_;
  LexEntry* out_ = nullptr;
  std::vector<uint8_t> path_;
  uint32_t start_;
  CharSet slice_chars_;
  std::vector<uint64_t> bits_;
  int64_t safe_chars_ = kSafeUnknown;
  std::vector<uint8_t> pair_failed_;
  const TokenTrie* trie_ = nullptr;
  uint8_t trie_index_ = 0;
  std::vector<Rec> recs_;
  absl::flat_hash_map<uint32_t, int32_t> slot_of_;
  std::vector<uint32_t> slot_state_;
  std::vector<uint8_t> slot_accepting_;
  std::vector<std::array<uint64_t, 4>> slot_live_;
  std::vector<int32_t> slot_next_;
};

}  // namespace

void BuildLexEntry(Lexer& lex, uint32_t s, LexEntry* out) {
  if (s == kDeadLex) return;
  EntryBuilder(lex, s).Run(out);
}

}  // namespace phx::grammar
