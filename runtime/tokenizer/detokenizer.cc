// Ids to text: Tokenizer::Decode and the streaming IncrementalDetokenizer.
#include "runtime/tokenizer/tokenizer.h"
#include "runtime/tokenizer/unicode.h"

namespace phx::tok {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

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
  return out;
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
