// Splitting text on special-token texts before tokenization, as llama.cpp's
// tokenizer_st_partition: special tokens (control, user-defined, unknown) are tried longest
// text first; each one splits every stretch of raw text that earlier ones left. Control and
// unknown tokens are only matched with parse_special; user-defined ones always are.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::tok {

// Token attributes beyond TokenType (llama.cpp's LLAMA_TOKEN_ATTR_LSTRIP / _RSTRIP): white
// space before (lstrip) or after (rstrip) a matched special token is dropped.
inline constexpr uint8_t kAttrLstrip = 1;
inline constexpr uint8_t kAttrRstrip = 2;

// A piece of the input: a special token, or raw text (token == kNoToken).
struct Fragment {
  TokenId token = kNoToken;
  std::string_view text;
};

class SpecialTokens {
 public:
  struct Entry {
    TokenId id = kNoToken;
    std::string_view text;            // must outlive this object (the tokenizer's token texts)
    bool needs_parse_special = true;  // control or unknown
    uint8_t attrs = 0;
  };

  // `entries` in matching order (longest text first).
  explicit SpecialTokens(std::vector<Entry> entries = {});

  // Updates the attributes of token `id` if it is one of the entries.
  void SetAttrs(TokenId id, uint8_t attrs);
  const std::vector<Entry>& entries() const { return entries_; }

  // Splits `text` on special-token texts. With `plain_spans` (byte ranges of `text`, sorted and
  // disjoint), a token that needs parse_special is not matched where its text overlaps a span.
  std::vector<Fragment> Partition(std::string_view text, bool parse_special,
                                  std::span<const TextSpan> plain_spans = {}) const;

 private:
  // Marks the entries whose text occurs somewhere in `text` (a trie walk from every offset).
  std::vector<bool> Present(std::string_view text) const;

  std::vector<Entry> entries_;
  // Trie over the entries' texts: edges keyed by (node << 8 | byte); node 0 is the root.
  absl::flat_hash_map<uint64_t, uint32_t> edges_;
  std::vector<std::vector<uint32_t>> ends_;  // per node: entries whose text ends there
};

}  // namespace phx::tok
