// The vocabulary as the grammar engine sees it: each token's bytes, the end-of-generation
// tokens, and byte tries laid out flat in depth-first order (built once per tokenizer, before
// any grammar is compiled). The tokens are split into "slices" (llguidance's idea): tokens that
// are plain JSON-string text of each length up to 16 characters, 17-24, 25-32 and 33+, and the
// rest. A lexer state that can take any such text skips the slice's trie and adds its bitset;
// one that can take no text that long skips the slice altogether.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/grammar/terminal.h"

namespace phx::tok {
class Tokenizer;
}

namespace phx::grammar {

struct TrieNode {
  uint8_t byte;
  uint8_t fat;         // 1: the node has many children, listed in TokenTrie::kid_*
  uint16_t depth;      // bytes on the path from the root (root: 0)
  uint32_t subtree;    // nodes in this subtree, this node included
  uint32_t tok_begin;  // tokens whose bytes end here: toks[tok_begin, tok_begin + tok_count)
  uint32_t tok_count;
};

struct TokenTrie {
  std::vector<TrieNode> nodes;  // nodes[0] is the root
  std::vector<int32_t> toks;    // token ids in trie order
  int max_depth = 0;
  // The children of fat nodes (kFatKids or more) as compact lists, so that a walk that knows
  // which bytes can follow skips the others without touching their nodes: fat node
  // fat_nodes[i] has children kid_node/kid_byte[kid_begin[i], kid_begin[i + 1]).
  static constexpr size_t kFatKids = 4;
  std::vector<uint32_t> fat_nodes;  // sorted
  std::vector<uint32_t> kid_begin;
  std::vector<uint32_t> kid_node;
  std::vector<uint8_t> kid_byte;
  // The children of fat node `p` (nodes[p].fat != 0): [*begin, *end) in kid_node/kid_byte.
  void FatKids(uint32_t p, uint32_t* begin, uint32_t* end) const;
};

struct VocabSlice {
  int max_chars = -1;  // the slice's tokens are 1..max_chars string characters (-1: any)
  int min_chars = 1;
  TokenTrie trie;
  std::vector<uint64_t> bits;       // the slice's tokens as a mask
  std::vector<uint64_t> upto_bits;  // the tokens of this slice and every shorter one
};

class TokenVocab {
 public:
  // Token bytes from Tokenizer::TokenToPiece; control and unknown tokens have none (they are
  // never allowed, except end-of-generation tokens where the grammar accepts).
  static std::shared_ptr<const TokenVocab> FromTokenizer(const tok::Tokenizer& t);
  // For tests: token i has bytes pieces[i]; `eog` are the end-of-generation ids.
  static std::shared_ptr<const TokenVocab> FromPieces(std::vector<std::string> pieces,
                                                      std::vector<int32_t> eog);

  int32_t size() const { return static_cast<int32_t>(bytes_.size()); }
  int32_t mask_words() const { return (size() + 63) / 64; }
  std::string_view bytes(int32_t id) const { return bytes_[id]; }
  bool is_eog(int32_t id) const { return eog_flag_[id] != 0; }
  const std::vector<int32_t>& eog() const { return eog_; }
  // The longest token, in bytes.
  int max_token_bytes() const { return max_token_bytes_; }
  // slices(): JSON-string text by length; rest(): every other token with bytes.
  const std::vector<VocabSlice>& slices() const { return slices_; }
  const TokenTrie& rest() const { return rest_; }
  // One character of slice text as UTF-8 (the containment check walks it).
  const Terminal& slice_char() const { return slice_char_; }
  size_t MemoryBytes() const;

 private:
  void Build();
  std::vector<std::string> bytes_;
  std::vector<uint8_t> eog_flag_;
  std::vector<int32_t> eog_;
  int max_token_bytes_ = 0;
  std::vector<VocabSlice> slices_;
  TokenTrie rest_;
  Terminal slice_char_;
};

// A trie of (bytes, token) items sorted by bytes (then id).
TokenTrie BuildTrie(const std::vector<std::pair<std::string_view, int32_t>>& sorted);

// The characters of slice text: every scalar value except '"', '\\' and U+0000-U+001F, U+007F.
CharSet SliceChars();

}  // namespace phx::grammar
