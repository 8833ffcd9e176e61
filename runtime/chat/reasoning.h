// Reasoning models (Qwen3, DeepSeek R1...): splitting generated text into the reasoning inside
// a leading <think>...</think> block and the answer after it, as vLLM and llama-server return
// them (message.reasoning_content / delta.reasoning_content, and content). Incremental and
// streaming-safe: a tag split across tokens is held back until it is whole.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/chat/template.h"

namespace phx::chat {

// --reasoning-format: none (everything is content) or deepseek (the think block is reasoning).
enum class ReasoningFormat { kNone, kDeepseek };
absl::StatusOr<ReasoningFormat> ParseReasoningFormat(std::string_view name);

// Whether a template is one of a thinking model: it writes or parses a <think> block.
bool TemplateThinks(std::string_view template_source);
// Whether the rendered prompt ends inside a think block that the template opened (DeepSeek R1's
// generation prompt "<think>\n"; not Qwen3's "<think>\n\n</think>" with enable_thinking=false).
// A "<think>" typed by the user does not count.
bool PromptOpensThink(const RenderedPrompt& prompt);

class ReasoningSplitter {
 public:
  // `in_reasoning`: the prompt already opened the think block (PromptOpensThink); otherwise a
  // block counts only when the output starts with "<think>" (after white space).
  ReasoningSplitter(ReasoningFormat format, bool in_reasoning);

  struct Delta {
    std::string reasoning;
    std::string content;
    bool empty() const { return reasoning.empty() && content.empty(); }
  };
  // The newly generated text; returns what can be attributed so far.
  Delta Push(std::string_view text);
  // End of generation: whatever was held back (an unclosed think block stays reasoning).
  Delta Finish();

  // Whole-text helper: Push(text) + Finish().
  static Delta Split(ReasoningFormat format, bool in_reasoning, std::string_view text);

  // Bytes examined so far (the work done): each byte of the text a bounded number of times, and
  // a few more per Push for a tag cut in two, however long the white space held back grows.
  size_t scanned() const { return scanned_; }

 private:
  enum class State { kStart, kReasoning, kAfterThink, kContent };
  void Drain(Delta* d, bool final);

  State state_;
  std::string pending_;             // text not attributed yet
  size_t held_ws_ = 0;              // pending_'s first bytes, white space already examined
  bool reasoning_started_ = false;  // leading white space of the reasoning is dropped
  size_t scanned_ = 0;
};

}  // namespace phx::chat
