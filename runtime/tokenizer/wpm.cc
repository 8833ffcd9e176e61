#include "runtime/tokenizer/wpm.h"

#include <algorithm>

#include "base/status.h"
#include "base/strings.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581: starts a word's first piece

// CJK ideographs, with the ranges of HF's BERT (and llama.cpp's is_chinese_char).
bool IsChineseChar(uint32_t cp) {
  return (cp >= 0x04E00 && cp <= 0x09FFF) || (cp >= 0x03400 && cp <= 0x04DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0x0F900 && cp <= 0x0FAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> WpmTokenizer::Create(const gguf::File& f) {
  std::unique_ptr<WpmTokenizer> t(new WpmTokenizer());
  VocabDefaults d;  // llama.cpp's "bert" defaults
  d.bos = 101;      // [CLS]
  d.unk = 100;      // [UNK]
  d.sep = 102;      // [SEP]
  d.add_bos = true;
  d.add_sep = true;
  d.clean_spaces = true;
  PHX_RETURN_IF_ERROR(t->Load(f, VocabKind::kWpm, d));
  t->pre_ = "default";
  if (auto pre = f.GetString("tokenizer.ggml.pre"); pre.ok()) t->pre_ = *pre;
  for (TokenId id = 0; id < t->vocab_size(); ++id) {
    t->max_token_len_ = std::max(t->max_token_len_, t->texts_[id].size());
  }
  return std::unique_ptr<Tokenizer>(std::move(t));
}

std::vector<std::string> WpmTokenizer::Words(std::string_view text) {
  std::vector<std::string> words(1);
  for (uint32_t cp : DecodeUtf8Lenient(text)) {
    cp = NfdFirst(cp);
    const uint16_t cls = CpClass(cp);
    if (cls & kCpWhitespace) {
      if (!words.back().empty()) words.emplace_back();
      continue;
    }
    if (cp == 0 || cp == kReplacementChar || (cls & kCpCategoryMask) == kCpControl) continue;
    std::string s;
    AppendUtf8(ToLowerFirst(cp), &s);
    const uint16_t cat = cls & kCpCategoryMask;
    if (cat == kCpPunctuation || (cp < 0x7F && cat == kCpSymbol) || IsChineseChar(cp)) {
      if (!words.back().empty()) words.emplace_back();
      words.back() = std::move(s);  // a word of its own
      words.emplace_back();
    } else {
      words.back() += s;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void WpmTokenizer::EncodeFragment(std::string_view text, bool /*after_special*/,
                                  std::vector<TokenId>* out) const {
  for (const std::string& word : Words(text)) {
    const std::string w = StrCat(kSpace, word);
    const size_t n = w.size();
    const size_t start = out->size();
    for (size_t i = 0; i < n;) {
      // The longest token at i.
      TokenId id = kNoToken;
      size_t j = std::min(n, i + max_token_len_);
      for (; j > i; --j) {
        id = Find(std::string_view(w).substr(i, j - i));
        if (id != kNoToken) break;
      }
      if (id == kNoToken) {  // a position nothing covers: the whole word is unknown
        out->resize(start);
        break;
      }
      out->push_back(id);
      i = j;
    }
    if (out->size() == start && unk_ != kNoToken) out->push_back(unk_);
  }
}

std::string WpmTokenizer::NormalPiece(TokenId id) const {
  const std::string& text = texts_[id];
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kSpace.size(), kSpace) == 0) {
      out.push_back(' ');
      i += kSpace.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

}  // namespace phx::tok
