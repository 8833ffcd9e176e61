#include "runtime/grammar/vocab.h"

#include <algorithm>
#include <numeric>

#include "runtime/tokenizer/tokenizer.h"

namespace phx::grammar {

CharSet SliceChars() {
  CharSet s = CharSet::Scalars();
  return s.Minus(CharSet::Range(0, 0x1F))
      .Minus(CharSet::Of('"'))
      .Minus(CharSet::Of('\\'))
      .Minus(CharSet::Of(0x7F));
}

TokenTrie BuildTrie(const std::vector<std::pair<std::string_view, int32_t>>& sorted) {
  TokenTrie t;
  t.toks.reserve(sorted.size());
  for (const auto& it : sorted) t.toks.push_back(it.second);
  t.nodes.push_back(TrieNode{0, 0, 0, 1, 0, 0});
  // path[d] = index of the node at depth d on the current path.
  std::vector<uint32_t> path = {0};
  std::string_view prev;
  for (size_t i = 0; i < sorted.size(); ++i) {
    std::string_view b = sorted[i].first;
    if (i > 0 && b == prev) {
      ++t.nodes[path.back()].tok_count;
      continue;
    }
    size_t common = 0;
    while (common < prev.size() && common < b.size() && prev[common] == b[common]) ++common;
    path.resize(common + 1);
    for (size_t d = common; d < b.size(); ++d) {
      TrieNode n{static_cast<uint8_t>(b[d]), 0, static_cast<uint16_t>(d + 1), 1,
                 static_cast<uint32_t>(i),   0};
      path.push_back(static_cast<uint32_t>(t.nodes.size()));
      t.nodes.push_back(n);
    }
    TrieNode& last = t.nodes[path.back()];
    last.tok_begin = static_cast<uint32_t>(i);
    last.tok_count = 1;
    t.max_depth = std::max<int>(t.max_depth, static_cast<int>(b.size()));
    prev = b;
  }
  // Subtree sizes: nodes are in DFS order, so a node's subtree ends where the next node with
  // depth <= its own begins.
  std::vector<uint32_t> stack;
  for (uint32_t i = 0; i < t.nodes.size(); ++i) {
    while (!stack.empty() && t.nodes[stack.back()].depth >= t.nodes[i].depth) {
      t.nodes[stack.back()].subtree = i - stack.back();
      stack.pop_back();
    }
    stack.push_back(i);
  }
  const uint32_t end = static_cast<uint32_t>(t.nodes.size());
  while (!stack.empty()) {
    t.nodes[stack.back()].subtree = end - stack.back();
    stack.pop_back();
  }
  // Child lists of the fat nodes.
  t.kid_begin.push_back(0);
  for (uint32_t p = 0; p < end; ++p) {
    const uint32_t stop = p + t.nodes[p].subtree;
    size_t kids = 0;
    for (uint32_t q = p + 1; q < stop && kids < TokenTrie::kFatKids; q += t.nodes[q].subtree) {
      ++kids;
    }
    if (kids < TokenTrie::kFatKids) continue;
    t.nodes[p].fat = 1;
    t.fat_nodes.push_back(p);
    for (uint32_t q = p + 1; q < stop; q += t.nodes[q].subtree) {
      t.kid_node.push_back(q);
      t.kid_byte.push_back(t.nodes[q].byte);
    }
    t.kid_begin.push_back(static_cast<uint32_t>(t.kid_node.size()));
  }
  return t;
}

void TokenTrie::FatKids(uint32_t p, uint32_t* begin, uint32_t* end) const {
  const size_t i = std::lower_bound(fat_nodes.begin(), fat_nodes.end(), p) - fat_nodes.begin();
  *begin = kid_begin[i];
  *end = kid_begin[i + 1];
}

namespace {

// Characters of `b` when it is valid UTF-8 made only of slice characters, else -1.
int SliceLength(std::string_view b) {
  int n = 0;
  size_t i = 0;
  while (i < b.size()) {
    const auto c = static_cast<uint8_t>(b[i]);
    int len;
    uint32_t cp;
    if (c < 0x80) {
      len = 1, cp = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07;
    } else {
      return -1;
    }
    if (i + len > b.size()) return -1;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<uint8_t>(b[i + k]);
      if ((cc & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return -1;
    if (cp >= 0xD800 && cp <= 0xDFFF) return -1;
    if (cp < 0x20 || cp == '"' || cp == '\\' || cp == 0x7F) return -1;
    i += len;
    ++n;
  }
  return n;
}

TokenTrie MakeTrie(const std::vector<std::string>& bytes, std::vector<int32_t> ids) {
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    return bytes[a] != bytes[b] ? bytes[a] < bytes[b] : a < b;
  });
  std::vector<std::pair<std::string_view, int32_t>> items;
  items.reserve(ids.size());
  for (int32_t id : ids) items.push_back({bytes[id], id});
  return BuildTrie(items);
}

}  // namespace

std::shared_ptr<const TokenVocab> TokenVocab::FromTokenizer(const tok::Tokenizer& t) {
  auto v = std::make_shared<TokenVocab>();
  const int32_t n = t.vocab_size();
  v->bytes_.resize(n);
  v->eog_flag_.assign(n, 0);
  for (int32_t id = 0; id < n; ++id) {
    if (t.IsEog(id)) {
      v->eog_flag_[id] = 1;
      v->eog_.push_back(id);
      continue;
    }
    const tok::TokenType type = t.token_type(id);
    if (type == tok::TokenType::kControl || type == tok::TokenType::kUnknown ||
        type == tok::TokenType::kUnused) {
      continue;
    }
    v->bytes_[id] = t.TokenToPiece(id, false);
  }
  v->Build();
  return v;
}

std::shared_ptr<const TokenVocab> TokenVocab::FromPieces(std::vector<std::string> pieces,
                                                         std::vector<int32_t> eog) {
  auto v = std::make_shared<TokenVocab>();
  v->bytes_ = std::move(pieces);
  v->eog_flag_.assign(v->bytes_.size(), 0);
  for (int32_t id : eog) {
    v->eog_flag_[id] = 1;
    v->bytes_[id].clear();
  }
  v->eog_ = std::move(eog);
  std::sort(v->eog_.begin(), v->eog_.end());
  v->Build();
  return v;
}

void TokenVocab::Build() {
  // One slice per length up to 16 characters, then 17-24, 25-32, 33+: a string with a few
  // characters left takes whole slices and skips the rest.
  static constexpr int kBounds[][2] = {{1, 1},   {2, 2},   {3, 3},   {4, 4},   {5, 5},
                                       {6, 6},   {7, 7},   {8, 8},   {9, 9},   {10, 10},
                                       {11, 11}, {12, 12}, {13, 13}, {14, 14}, {15, 15},
                                       {16, 16}, {17, 24}, {25, 32}, {33, -1}};
  constexpr int kSlices = sizeof(kBounds) / sizeof(kBounds[0]);
  std::vector<std::vector<int32_t>> slice_ids(kSlices);
  std::vector<int32_t> rest;
  for (int32_t id = 0; id < size(); ++id) {
    if (bytes_[id].empty()) continue;
    max_token_bytes_ = std::max<int>(max_token_bytes_, static_cast<int>(bytes_[id].size()));
    const int len = SliceLength(bytes_[id]);
    int which = -1;
    for (int s = 0; s < kSlices && len > 0; ++s) {
      if (len >= kBounds[s][0] && (kBounds[s][1] < 0 || len <= kBounds[s][1])) which = s;
    }
    if (which >= 0) {
      slice_ids[which].push_back(id);
    } else {
      rest.push_back(id);
    }
  }
  for (int s = 0; s < kSlices; ++s) {
    VocabSlice sl;
    sl.min_chars = kBounds[s][0];
    sl.max_chars = kBounds[s][1];
    sl.bits.assign(mask_words(), 0);
    for (int32_t id : slice_ids[s]) sl.bits[id / 64] |= uint64_t{1} << (id % 64);
    sl.trie = MakeTrie(bytes_, slice_ids[s]);
    sl.upto_bits = sl.bits;
    if (s > 0) {
      for (size_t w = 0; w < sl.upto_bits.size(); ++w)
        sl.upto_bits[w] |= slices_.back().upto_bits[w];
    }
    slices_.push_back(std::move(sl));
  }
  rest_ = MakeTrie(bytes_, rest);
  TerminalSpec one;
  one.Utf8(std::make_shared<CpDfa>(CpDfa::Strings(SliceChars(), 1, 1)));
  slice_char_ = Terminal{one.Key(), std::make_shared<const TerminalSpec>(one), true};
}

size_t TokenVocab::MemoryBytes() const {
  size_t n = 0;
  for (const auto& b : bytes_) n += b.size() + sizeof(std::string);
  auto trie = [](const TokenTrie& t) {
    return t.nodes.size() * sizeof(TrieNode) + t.toks.size() * 4 + t.fat_nodes.size() * 8 +
           t.kid_node.size() * 5;
  };
  for (const auto& s : slices_) n += trie(s.trie) + s.bits.size() * 16;
  return n + trie(rest_);
}

}  // namespace phx::grammar
