#include "runtime/engine/reasoning_budget.h"

#include <utility>

namespace phx::engine {

ReasoningBudgetState::ReasoningBudgetState(ReasoningBudget b) : b_(std::move(b)) {
  if (!b_.enabled()) return;
  if (b_.prompt_opens) {
    Enter();
  } else if (!b_.open.empty()) {
    state_ = State::kBefore;
  }
}

void ReasoningBudgetState::Enter() {
  state_ = b_.max_tokens == 0 ? State::kForcing : State::kThinking;
  matched_ = 0;
}

int32_t ReasoningBudgetState::Forced() const {
  return state_ == State::kForcing ? b_.force[matched_] : -1;
}

void ReasoningBudgetState::Accept(int32_t token) {
  switch (state_) {
    case State::kOff:
      return;
    case State::kBefore:
      if (token != b_.open[matched_]) {
        state_ = State::kOff;  // the output does not start with the block: nothing to count
        return;
      }
      if (++matched_ == b_.open.size()) Enter();
      return;
    case State::kThinking: {
      ++count_;
      const std::vector<int32_t>& close = b_.close;
      if (!close.empty()) {
        tail_.push_back(token);
        if (tail_.size() > close.size()) tail_.erase(tail_.begin());
        if (tail_ == close) {  // the model closed the block itself
          state_ = State::kOff;
          return;
        }
      }
      if (count_ >= b_.max_tokens) {
        state_ = State::kForcing;
        matched_ = 0;
      }
      return;
    }
    case State::kForcing:
      if (token != b_.force[matched_] || ++matched_ == b_.force.size()) state_ = State::kOff;
      return;
  }
}

}  // namespace phx::engine
