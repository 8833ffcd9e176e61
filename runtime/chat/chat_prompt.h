// Turning a rendered chat prompt into token ids so that only the template's own text can become
// control tokens: the bytes that came from the request (message contents, names, tool schemas)
// are tokenized as text even when they spell "<|im_start|>" or "<|eot_id|>".
#pragma once

#include <vector>

#include "runtime/chat/template.h"
#include "runtime/tokenizer/tokenizer.h"

namespace phx::chat {

// Token ids of `prompt`: special tokens are matched only outside its user spans; the text
// between special tokens is tokenized as one piece (the ids equal Encode(prompt.text,
// add_special, /*parse_special=*/true) whenever no user span holds special-token text).
// transformers tokenizes chat prompts without adding special tokens (the template writes
// bos_token itself): pass add_special=false for model templates.
std::vector<tok::TokenId> TokenizePrompt(const tok::Tokenizer& tokenizer,
                                         const RenderedPrompt& prompt, bool add_special);

}  // namespace phx::chat
