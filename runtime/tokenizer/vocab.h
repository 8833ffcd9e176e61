// What the SPM and BPE tokenizers share: loading the tokenizer.ggml.* vocabulary (token texts,
// scores, types, special ids, add_* flags, end-of-generation tokens) the way llama.cpp's
// llama_vocab::load does, the special-token split, and token pieces.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/special_tokens.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::tok {

// Defaults that depend on the tokenizer model and pre-tokenizer.
struct VocabDefaults {
  TokenId bos = kNoToken, eos = kNoToken, unk = kNoToken, sep = kNoToken;
  bool add_bos = false, add_eos = false, add_sep = false, add_space_prefix = false;
  bool clean_spaces = false;
};

class VocabTokenizer : public Tokenizer {
 public:
  std::vector<TokenId> Encode(std::string_view text, bool add_special,
                              bool parse_special) const final;
  std::vector<TokenId> EncodeWithPlainSpans(std::string_view text, bool add_special,
                                            std::span<const TextSpan> plain_spans) const final;
  std::string TokenToPiece(TokenId id, bool render_special) const final;

  // The id whose text is `text` (any type), or kNoToken.
  TokenId Find(std::string_view text) const;
  const SpecialTokens& special_tokens() const { return specials_; }

 protected:
  absl::Status Load(const gguf::File& f, VocabKind kind, const VocabDefaults& defaults);
  std::vector<TokenId> EncodeFragments(const std::vector<Fragment>& frags, bool add_special) const;

  // Tokenizes one stretch of raw text. `after_special`: it starts the input or follows a
  // special token.
  virtual void EncodeFragment(std::string_view text, bool after_special,
                              std::vector<TokenId>* out) const = 0;
  // The bytes of a normal or byte token (TokenToPiece handles the other types).
  virtual std::string NormalPiece(TokenId id) const = 0;

 private:
  absl::Status LoadTokens(const gguf::File& f);
  absl::Status LoadSpecialIds(const gguf::File& f);
  void FindEndOfGeneration();
  void BuildSpecialTokens(const gguf::File& f);

  absl::flat_hash_map<std::string, TokenId> token_to_id_;
  SpecialTokens specials_;
  std::vector<std::string> pieces_;  // TokenToPiece(id, true)
  TokenId eom_ = kNoToken, fim_pad_ = kNoToken, fim_rep_ = kNoToken, fim_sep_ = kNoToken;
};

}  // namespace phx::tok
