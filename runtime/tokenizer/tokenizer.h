// Tokenizers built from GGUF vocabulary metadata (tokenizer.ggml.*), matching llama.cpp:
//  - "llama": SentencePiece BPE with scores, byte fallback (<0xNN> tokens), dummy-prefix space;
//  - "gpt2":  byte-level BPE with merges and the pre-tokenizer chosen by tokenizer.ggml.pre;
//  - "bert":  WordPiece (wpm.h), framed by [CLS] ... [SEP].
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/gguf/gguf.h"

namespace phx::tok {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

// tokenizer.ggml.token_type values.
enum class TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

enum class VocabKind { kSpm, kBpe, kWpm };

// A byte range [begin, end) of a text.
struct TextSpan {
  size_t begin = 0, end = 0;
};

class Tokenizer {
 public:
  // Builds the tokenizer described by `f`'s tokenizer.ggml.* keys. Unknown tokenizer models or
  // pre-tokenizers are errors naming the value.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromGguf(const gguf::File& f);
  virtual ~Tokenizer() = default;

  // Text to ids. `add_special`: add BOS (and EOS, or WordPiece's SEP) as
  // tokenizer.ggml.add_bos_token / add_eos_token / add_sep_token say (llama.cpp's defaults when
  // absent). `parse_special`: text matching a
  // control or user-defined token's text becomes that token instead of being tokenized.
  virtual std::vector<TokenId> Encode(std::string_view text, bool add_special,
                                      bool parse_special) const = 0;

  // Encode with parse_special, except inside `plain_spans` (byte ranges of `text`, sorted and
  // disjoint: the user text of a chat prompt): a control or unknown token's text that overlaps
  // one of them is not matched there, so a user cannot type a control token. User-defined tokens
  // are matched everywhere (as with parse_special=false). The text between two matched special
  // tokens is tokenized as one piece across span boundaries, so without spans (or when no span
  // holds special-token text) the ids are exactly Encode(text, add_special, true).
  virtual std::vector<TokenId> EncodeWithPlainSpans(
      std::string_view text, bool add_special, std::span<const TextSpan> plain_spans) const = 0;

  // The bytes one token stands for (SPM's "▁" as a space, byte tokens as their byte, BPE's
  // byte-level alphabet mapped back). Control tokens give "" unless `render_special`.
  virtual std::string TokenToPiece(TokenId id, bool render_special) const = 0;

  // Ids to text (concatenated pieces; SPM drops the leading space that the dummy prefix added
  // when `strip_leading_space`: one space off the first non-empty piece, so also after a BOS).
  // WordPiece then cleans spaces as llama.cpp's detokenizer does (" ." -> ".", " 's" -> "'s").
  // May hold incomplete UTF-8 if the ids end mid-character.
  std::string Decode(std::span<const TokenId> ids, bool render_special = false,
                     bool strip_leading_space = true) const;

  VocabKind kind() const { return kind_; }
  int32_t vocab_size() const { return static_cast<int32_t>(texts_.size()); }
  std::string_view token_text(TokenId id) const { return texts_[id]; }
  TokenType token_type(TokenId id) const { return types_[id]; }
  TokenId bos() const { return bos_; }
  TokenId eos() const { return eos_; }
  TokenId eot() const { return eot_; }
  TokenId unk() const { return unk_; }
  TokenId sep() const { return sep_; }  // WordPiece's [SEP] (kNoToken elsewhere)
  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  // End of generation: EOS, EOT, or another token the vocabulary marks as ending a turn.
  bool IsEog(TokenId id) const;
  bool IsControl(TokenId id) const;
  const std::string& pre() const { return pre_; }

 protected:
  Tokenizer() = default;

  VocabKind kind_ = VocabKind::kSpm;
  std::string pre_;
  std::vector<std::string> texts_;
  std::vector<float> scores_;
  std::vector<TokenType> types_;
  TokenId bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, unk_ = kNoToken, sep_ = kNoToken;
  std::vector<TokenId> eog_ids_;
  bool add_bos_ = false, add_eos_ = false, add_sep_ = false;
  bool add_space_prefix_ = true;
  bool clean_spaces_ = false;  // Decode's space clean-up (llama.cpp's clean_spaces)
};

// Turns a stream of token ids into text pieces that are always whole UTF-8 characters: bytes
// of a character split across tokens are held back until it is complete. The leading space of
// the first SPM piece is dropped like Decode() does, unless `strip_leading_space` is false: pass
// false when the ids continue a text (a prompt with words), as llama.cpp's output keeps it there.
class IncrementalDetokenizer {
 public:
  explicit IncrementalDetokenizer(const Tokenizer& tok, bool render_special = false,
                                  bool strip_leading_space = true)
      : tok_(tok), render_special_(render_special), first_(strip_leading_space) {}
  // Returns the newly completed text (possibly empty).
  std::string Push(TokenId id);
  // Returns whatever is held back (an incomplete sequence becomes U+FFFD per byte).
  std::string Flush();

 private:
  const Tokenizer& tok_;
  bool render_special_;
  bool first_;  // the next non-empty piece is the first one, and loses its leading space
  std::string pending_;
};

}  // namespace phx::tok
