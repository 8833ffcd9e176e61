// WordPiece ("bert" vocabularies: bge, e5, all-MiniLM), as llama.cpp's llm_tokenizer_wpm. The
// text is split into words on white space, each code point reduced to the first code point of its
// NFD form (accents drop) and lowercased; control characters, NUL and U+FFFD are dropped;
// punctuation, ASCII symbols and CJK ideographs are words of their own. Each word, prefixed with
// U+2581 (llama.cpp's converter writes word-initial pieces with it and strips the "##" of the
// continuation pieces), is covered greedily by the longest token from the left; a word with a
// position no token matches becomes the unknown token. With add_special the text is framed by
// the BOS/CLS token and the SEP token (tokenizer.ggml.add_bos_token / add_sep_token, default on).
// Pieces turn U+2581 back into spaces, and Decode cleans spaces before punctuation and
// contractions as llama.cpp's detokenizer does (clean_spaces).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/vocab.h"

namespace phx::tok {

class WpmTokenizer final : public VocabTokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(const gguf::File& f);

  // Words of `text` after WordPiece's normalization (exposed for tests).
  static std::vector<std::string> Words(std::string_view text);

 protected:
  void EncodeFragment(std::string_view text, bool after_special,
                      std::vector<TokenId>* out) const override;
  std::string NormalPiece(TokenId id) const override;

 private:
  WpmTokenizer() = default;

  size_t max_token_len_ = 0;  // longest token text, in bytes
};

}  // namespace phx::tok
