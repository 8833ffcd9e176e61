// Ids to text: Tokenizer::Decode and the streaming IncrementalDetokenizer.
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// llama.cpp's clean_spaces passes over detokenized text, in place as it runs them: no space
// before ? ! . , ; an apostrophe between spaces loses both; " 's", " 'm", " 're", " 've" lose
// the space.
std::string CleanSpaces(std::string t) {
  size_t total = t.size();
  const size_t total1 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total1; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) --total;
    t[total++] = x;
  }
  const size_t total2 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total2; ++i) {
    const char x = t[i];
    if (x == '\'' && i + 1 < total2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
      --total;        // the space before
      t[++i] = '\0';  // the space after
    }
    t[total++] = x;
  }
  const size_t total3 = total;
  total = total ? 1 : 0;
  for (size_t i = 1; i < total3; ++i) {
    const char x = t[i];
    if (t[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
      const char x1 = t[i + 1];
      if (x1 == 's' || x1 == 'm') {
        --total;
      } else if (x1 != 't' && x1 != 'd' && i + 2 < total3) {
        const char x2 = t[i + 2];
        if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) --total;
      }
    }
    t[total++] = x;
  }
  t.resize(total);
  return t;
}

}  // namespace

std::string Tokenizer::Decode(std::span<const TokenId> ids, bool render_special,
                              bool strip_leading_space) const {
  std::string out;
  bool strip = strip_leading_space && add_space_prefix_;
  for (const TokenId id : ids) {
    std::string piece = TokenToPiece(id, render_special);
    if (strip && !piece.empty()) {
      if (piece[0] == ' ') piece.erase(0, 1);
      strip = false;
    }
    out += piece;
  }
  return clean_spaces_ ? CleanSpaces(out) : out;
}

std::string IncrementalDetokenizer::Push(TokenId id) {
  std::string piece = tok_.TokenToPiece(id, render_special_);
  if (first_ && !piece.empty()) {
    // The first piece loses the dummy-prefix space exactly as in Decode().
    first_ = false;
    piece = tok_.Decode(std::span<const TokenId>(&id, 1), render_special_);
  }
  pending_ += piece;
  // Emit every complete character; replace bytes that can never start one.
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const int len = Utf8Complete(std::string_view(pending_).substr(i));
    if (len == 0) break;  // an incomplete character at the end: hold it back
    if (len < 0) {
      out += kReplacement;
      i += 1;
    } else {
      out.append(pending_, i, len);
      i += len;
    }
  }
  pending_.erase(0, i);
  return out;
}

std::string IncrementalDetokenizer::Flush() {
  std::string out;
  for (size_t i = 0; i < pending_.size(); ++i) out += kReplacement;
  pending_.clear();
  return out;
}

}  // namespace phx::tok
