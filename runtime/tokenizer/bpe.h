// Byte-level BPE ("gpt2" vocabularies), as llama.cpp's llm_tokenizer_bpe: the pre-tokenizer
// splits the text into words mapped to GPT-2's byte alphabet; within each word, adjacent pieces
// are merged by the rank of their pair in tokenizer.ggml.merges, lowest rank first (ties:
// leftmost). A final piece that is not a token falls back to its single-byte tokens.
#pragma once

#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "runtime/tokenizer/pretokenizer.h"
#include "runtime/tokenizer/vocab.h"

namespace phx::tok {

class BpeTokenizer final : public VocabTokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(const gguf::File& f);

 protected:
  void EncodeFragment(std::string_view text, bool after_special,
                      std::vector<TokenId>* out) const override;
  std::string NormalPiece(TokenId id) const override;

 private:
  explicit BpeTokenizer(PreTokenizer pre) : pretok_(std::move(pre)) {}
  absl::Status LoadMerges(const gguf::File& f);
  // Rank of merging `left` and `right`, or -1.
  int Rank(std::string_view left, std::string_view right) const;
  void EncodeWord(std::string_view word, std::vector<TokenId>* out) const;

  PreTokenizer pretok_;
  // Merge sides are interned; a pair of their ids keys the rank.
  absl::flat_hash_map<std::string, uint32_t> merge_parts_;
  absl::flat_hash_map<uint64_t, int32_t> ranks_;
};

}  // namespace phx::tok
