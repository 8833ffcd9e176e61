// Fuzzes the tokenizers: arbitrary bytes are encoded with a SentencePiece vocabulary, a
// byte-level BPE one (GPT-2's or DeepSeek's) and a WordPiece one (bert-bge) (from ../shared/vocab,
// or $PHX_FUZZ_VOCAB_DIR), then decoded, whole and through the incremental detokenizer. Checks: ids
// in range, streamed text is valid UTF-8 and equals Decode() once held-back bytes are flushed as
// U+FFFD, and well-formed text round-trips (WordPiece, lossy by design and cleaned of spaces by
// Decode, only decodes to valid UTF-8).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/gguf/gguf.h"
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"

namespace {

using phx::tok::TokenId;
using phx::tok::Tokenizer;

std::unique_ptr<Tokenizer> LoadVocab(const char* name) {
  const char* dir = std::getenv("PHX_FUZZ_VOCAB_DIR");
  const std::string path =
      std::string(dir ? dir : PHX_SHARED_DIR "/vocab") + "/ggml-vocab-" + name + ".gguf";
  auto f = phx::gguf::File::Open(path);
  if (!f.ok()) {
    std::fprintf(stderr, "cannot open %s\n", path.c_str());
    std::abort();
  }
  auto t = Tokenizer::FromGguf(**f);
  if (!t.ok()) {
    std::fprintf(stderr, "cannot load %s\n", path.c_str());
    std::abort();
  }
  return std::move(*t);
}

bool WellFormed(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const int n = phx::tok::Utf8Complete(s.substr(i));
    if (n <= 0) return false;
    i += n;
  }
  return true;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", what);
    std::abort();
  }
}

void Exercise(const Tokenizer& tok, std::string_view text, uint8_t flags) {
  const bool add_special = flags & 1, parse_special = flags & 2, render = flags & 4;
  const std::vector<TokenId> ids = tok.Encode(text, add_special, parse_special);
  for (TokenId id : ids) Check(id >= 0 && id < tok.vocab_size(), "id out of range");
  const std::string decoded = tok.Decode(ids, render);
  if (tok.kind() == phx::tok::VocabKind::kWpm) {
    Check(WellFormed(decoded), "WordPiece decoded text is not UTF-8");
    if (add_special) Check(ids.size() >= 2 && ids.front() == tok.bos(), "no [CLS] first");
    return;
  }
  phx::tok::IncrementalDetokenizer detok(tok, render);
  std::string streamed;
  for (TokenId id : ids) streamed += detok.Push(id);
  streamed += detok.Flush();
  Check(WellFormed(streamed), "streamed text is not UTF-8");
  if (WellFormed(decoded)) Check(streamed == decoded, "streamed text differs from Decode()");
  for (TokenId id : ids) (void)tok.TokenToPiece(id, render);
  (void)tok.TokenToPiece(-1, true);
  (void)tok.TokenToPiece(tok.vocab_size(), true);
  if (!add_special && !parse_special) {
    const std::string back = tok.Decode(ids, /*render_special=*/true);
    // As in llama.cpp, ill-formed UTF-8 does not survive (BPE reads it as U+FFFD; SPM may split
    // an escaped space), nor does SentencePiece's own space mark U+2581 (read back as a space).
    if (WellFormed(text) && (tok.kind() == phx::tok::VocabKind::kBpe ||
                             text.find("\xE2\x96\x81") == std::string_view::npos)) {
      Check(back == text, "decode(encode(x)) != x");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::unique_ptr<Tokenizer> spm = LoadVocab("llama-spm");
  static const std::unique_ptr<Tokenizer> gpt2 = LoadVocab("gpt-2");  // hand-written splitter
  static const std::unique_ptr<Tokenizer> deepseek = LoadVocab("deepseek-llm");  // regex engine
  static const std::unique_ptr<Tokenizer> bert = LoadVocab("bert-bge");          // WordPiece
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  Exercise(*spm, text, data[0]);
  Exercise(data[0] & 0x80 ? *gpt2 : *deepseek, text, data[0] >> 3);
  Exercise(*bert, text, data[0] >> 4);
  return 0;
}
