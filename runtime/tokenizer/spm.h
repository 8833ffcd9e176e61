// SentencePiece-style BPE ("llama" vocabularies), as llama.cpp's llm_tokenizer_spm: spaces
// become U+2581, a dummy-prefix space starts the input and each text after a special token,
// the text is split into UTF-8 characters, and adjacent pieces are merged while their
// concatenation is a token, highest score first (ties: leftmost). Pieces that are not tokens
// fall back to byte tokens <0xNN>, else to the unknown token.
#pragma once

#include <array>
#include <memory>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/vocab.h"

namespace phx::tok {

class SpmTokenizer final : public VocabTokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Create(const gguf::File& f);

 protected:
  void EncodeFragment(std::string_view text, bool after_special,
                      std::vector<TokenId>* out) const override;
  std::string NormalPiece(TokenId id) const override;

 private:
  SpmTokenizer() = default;

  std::array<TokenId, 256> byte_tokens_{};  // <0xNN>, else the one-byte token, else kNoToken
};

}  // namespace phx::tok
