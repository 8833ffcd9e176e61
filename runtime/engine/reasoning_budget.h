// A reasoning (thinking) token budget: how many tokens a sequence may spend inside the think
// block of a reasoning model (Qwen3, DeepSeek R1...) before the engine closes the block itself.
// llama-server calls it --reasoning-budget, vLLM thinking_token_budget, Anthropic
// thinking.budget_tokens. Pure host code: the engine asks Forced() before it samples and tells
// Accept() every token it appends.
//
// States: before the block (the output must start with the open marker, else there is no
// block and nothing to count), inside it (each token counts; the model's own close marker ends
// it untouched), forcing (the budget is spent: the next tokens are the close sequence, one per
// step, not sampled), done.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace phx::engine {

struct ReasoningBudget {
  int32_t max_tokens = -1;     // tokens allowed inside the block; < 0: no budget (off)
  bool prompt_opens = false;   // the prompt ends inside the block (chat::PromptOpensThink)
  std::vector<int32_t> open;   // the open marker ("<think>"): starts the block as first output
  std::vector<int32_t> close;  // the close marker ("</think>"): the model closed it itself
  // Forced when the budget is spent ("\n</think>\n\n" for Qwen3 and DeepSeek R1). Empty: off.
  std::vector<int32_t> force;

  bool enabled() const { return max_tokens >= 0 && !force.empty(); }
};

class ReasoningBudgetState {
 public:
  explicit ReasoningBudgetState(ReasoningBudget b);

  // The token the next step must produce instead of sampling, or -1 (sample as usual).
  int32_t Forced() const;
  // A token the sequence produced (forced or sampled). A sampled token where one was forced
  // (the caller could not force: a grammar in force) abandons the force.
  void Accept(int32_t token);

  bool thinking() const { return state_ == State::kThinking; }
  bool forcing() const { return state_ == State::kForcing; }
  // Tokens counted inside the block so far (the model's own close marker included).
  int32_t reasoning_tokens() const { return count_; }

 private:
  enum class State { kOff, kBefore, kThinking, kForcing };
  void Enter();

  ReasoningBudget b_;
  State state_ = State::kOff;
  std::size_t matched_ = 0;    // kBefore: open marker tokens matched; kForcing: tokens forced
  std::vector<int32_t> tail_;  // kThinking: the last close.size() tokens
  int32_t count_ = 0;
};

}  // namespace phx::engine
