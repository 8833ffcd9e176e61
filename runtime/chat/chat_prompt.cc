#include "runtime/chat/chat_prompt.h"

namespace phx::chat {

std::vector<tok::TokenId> TokenizePrompt(const tok::Tokenizer& tokenizer,
                                         const RenderedPrompt& prompt, bool add_special) {
  std::vector<tok::TextSpan> spans;
  spans.reserve(prompt.user_spans.size());
  for (const ByteRange& r : prompt.user_spans) spans.push_back({r.begin, r.end});
  return tokenizer.EncodeWithPlainSpans(prompt.text, add_special, spans);
}

}  // namespace phx::chat
