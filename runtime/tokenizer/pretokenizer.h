// The pre-tokenizers of byte-level BPE vocabularies: tokenizer.ggml.pre selects a list of
// patterns that split the text into words, applied one after another to the pieces the
// previous ones left (llama.cpp's unicode_regex_split). The GPT-2, Llama-3 and Qwen2 patterns run
// as hand-written splitters (custom_split.cc), the others on the regex engine (regex.h).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/tokenizer/regex.h"

namespace phx::tok {

// What a pre-tokenizer name implies besides its patterns (llama.cpp's vocab loader).
struct PreTokenizerTraits {
  bool ignore_merges = false;  // a word that is a whole token is not merged (Llama 3)
  bool add_bos = false;        // default of add_bos_token
  bool no_bos = false;         // the vocabulary has no BOS token (GLM-4)
};

class PreTokenizer {
 public:
  // `pre` is tokenizer.ggml.pre; "" (absent) means "default". Unknown names are errors.
  static absl::StatusOr<PreTokenizer> Create(std::string_view pre);

  const PreTokenizerTraits& traits() const { return traits_; }

  // Splits `text` into words, each mapped to GPT-2's byte-level alphabet. Invalid UTF-8 becomes
  // U+FFFD, as in llama.cpp.
  std::vector<std::string> Split(std::string_view text) const;

 private:
  struct Step {
    enum class Kind { kGpt2, kLlama3, kQwen2, kRegex } kind;
    std::optional<Regex> re;  // kRegex only
  };

  std::vector<Step> steps_;
  PreTokenizerTraits traits_;
};

// The hand-written splitters, on code points and their class bits (unicode.h), splitting each
// segment of `offsets` (segment lengths). Exposed for tests.
std::vector<size_t> SplitGpt2(std::span<const uint32_t> cpts, std::span<const uint16_t> bits,
                              std::span<const size_t> offsets);
std::vector<size_t> SplitLlama3(std::span<const uint32_t> cpts, std::span<const uint16_t> bits,
                                std::span<const size_t> offsets);
// Llama 3's with single digits (\p{N} instead of \p{N}{1,3}).
std::vector<size_t> SplitQwen2(std::span<const uint32_t> cpts, std::span<const uint16_t> bits,
                               std::span<const size_t> offsets);

}  // namespace phx::tok
