// The per-sequence side of constrained decoding. A CompiledGrammar (grammar + its shared lexer
// caches) is shared by every sequence that uses the same grammar; each sequence owns a Matcher:
//
//   Matcher m(compiled);
//   m.ComputeMask(words);      // bit t of words[t / 64] set: token t may come next
//   m.Commit(token);           // false (state unchanged) if the token is not allowed
//   m.IsAccepting();           // the text so far is complete: end-of-generation is allowed
//
// The parser is a generalized LL parser over lexemes: its state is a small set of items, each a
// lexer state (lexer.h) and a row (the parser stacks, interned in a graph-structured stack with
// tail calls folded, so right recursion does not grow it). A lexeme that can end makes the
// next row eagerly, so ambiguity (anyOf branches, a number that may go on) is exact, not
// greedy. Row transitions are memoized per matcher; after warm-up a step allocates nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "runtime/grammar/grammar.h"
#include "runtime/grammar/lexer.h"
#include "runtime/grammar/vocab.h"

namespace phx::grammar {

class CompiledGrammar {
 public:
  CompiledGrammar(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenVocab> vocab);
  const Grammar& grammar() const { return *grammar_; }
  const TokenVocab& vocab() const { return *vocab_; }
  // The lexer caches are filled as matchers run (thread-safe).
  Lexer& lexer() const { return *lexer_; }
  size_t MemoryBytes() const { return grammar_->MemoryBytes() + lexer_->MemoryBytes(); }

 private:
  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const TokenVocab> vocab_;
  std::unique_ptr<Lexer> lexer_;
};

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const CompiledGrammar> g);

  // Writes vocab().mask_words() words. End-of-generation tokens are set iff IsAccepting().
  void ComputeMask(uint64_t* mask);
  // Consumes one token; false (and no change) when it is not allowed. An end-of-generation
  // token is allowed only where the grammar accepts, and finishes the matcher.
  bool Commit(int32_t token);
  // Consumes raw bytes (forced text); false (no change) when they do not fit.
  bool CommitBytes(std::string_view bytes);
  bool IsAccepting() const;
  // An end-of-generation token was committed: nothing more is allowed.
  bool IsFinished() const { return finished_; }
  // Undoes the last `n` commits (false if there are fewer).
  bool Rollback(int n);
  void Reset();

  const CompiledGrammar& compiled() const { return *g_; }
  // Items in the current state (for tests and statistics).
  size_t num_items() const { return items_.size(); }
  // True if a state set overflowed its bound (the matcher then under-approximates).
  bool overflowed() const { return overflow_; }
  size_t MemoryBytes() const;

 private:
  static constexpr uint32_t kBottom = 0xFFFFFFFFu;
  static constexpr size_t kMaxItems = 4096;

  struct Node {
    uint32_t dot, parent;
  };
  struct Row {
    uint32_t scan_begin, scan_count, lex0;
    bool accept;
  };
  struct Item {
    uint32_t lex, row, fresh;
    bool operator==(const Item& o) const {
      return lex == o.lex && row == o.row && fresh == o.fresh;
    }
  };

  uint32_t InternNode(uint32_t dot, uint32_t parent);
  uint32_t Advance(uint32_t node);
  // The row reached from `seeds` (node ids or kBottom) by prediction and completion.
  uint32_t Closure(const std::vector<uint32_t>& seeds);
  // The row after the lexemes accepted in lexer state `lex` end (memoized).
  uint32_t Complete(uint32_t row, uint32_t lex);
  // Appends the items after byte `b` from in[0, n) (read by index; `out` may be `in`'s vector).
  void StepInto(std::vector<Item>& buf, size_t in_begin, size_t in_end, uint8_t b);
  void PushCompletion(std::vector<Item>& out, uint32_t row, uint32_t lex);
  void Step(const std::vector<Item>& in, uint8_t b, std::vector<Item>& out);
  void EvalGroup(const LexGroup& g, const LexEntry& e, uint32_t row, uint64_t* mask);
  // Marks the tokens below trie node `p` that the items at `p` allow.
  void WalkSubtree(const TokenTrie& t, uint32_t p, const std::vector<Item>& at_p, uint64_t* mask);
  void SaveHistory();

  std::shared_ptr<const CompiledGrammar> g_;
  const Grammar& gr_;
  Lexer& lex_;
  const TokenVocab& vocab_;

  std::vector<Node> nodes_;
  absl::flat_hash_map<uint64_t, uint32_t> node_ids_;
  std::vector<std::pair<uint32_t, uint32_t>> scans_;  // (terminal, node)
  std::vector<Row> rows_;
  absl::flat_hash_map<std::vector<uint64_t>, uint32_t, absl::Hash<std::vector<uint64_t>>> row_ids_;
  absl::flat_hash_map<uint64_t, uint32_t> complete_memo_;

  std::vector<Item> items_;
  std::vector<Item> scratch_a_, scratch_b_, walk_buf_;
  std::vector<Item> group_base_, group_first_, group_cur_, group_tmp_;
  std::vector<size_t> walk_off_;
  std::vector<Item> hist_items_;
  std::vector<size_t> hist_off_;
  std::vector<uint8_t> hist_finished_;
  bool finished_ = false;
  bool overflow_ = false;

  // Closure scratch.
  std::vector<uint32_t> mark_;
  uint32_t gen_ = 0;
  std::vector<uint32_t> work_;
  std::vector<std::pair<uint32_t, uint32_t>> found_;
  std::vector<uint64_t> key_;
  std::vector<uint32_t> terms_, seeds_;
  uint32_t initial_row_ = 0;
};

}  // namespace phx::grammar
