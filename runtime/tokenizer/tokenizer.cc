#include "runtime/tokenizer/tokenizer.h"

#include <algorithm>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/tokenizer/bpe.h"
#include "runtime/tokenizer/spm.h"
#include "runtime/tokenizer/wpm.h"

namespace phx::tok {

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const gguf::File& f) {
  if (!f.Has("tokenizer.ggml.model")) {
    return absl::InvalidArgumentError(
        "no tokenizer in this file (tokenizer.ggml.model is missing)");
  }
  PHX_ASSIGN_OR_RETURN(std::string model, f.GetString("tokenizer.ggml.model"));
  if (model == "llama") return SpmTokenizer::Create(f);
  if (model == "gpt2") return BpeTokenizer::Create(f);
  if (model == "bert") return WpmTokenizer::Create(f);
  for (const char* known : {"t5", "rwkv", "plamo2", "no_vocab", "none"}) {
    if (model == known) {
      return absl::UnimplementedError(StrCat("tokenizer model '", model, "' is not supported"));
    }
  }
  return absl::InvalidArgumentError(StrCat("unknown tokenizer model '", model, "'"));
}

bool Tokenizer::IsEog(TokenId id) const {
  return id != kNoToken && std::binary_search(eog_ids_.begin(), eog_ids_.end(), id);
}

bool Tokenizer::IsControl(TokenId id) const {
  return id >= 0 && id < vocab_size() && types_[id] == TokenType::kControl;
}

}  // namespace phx::tok
