// Stop-string detection over a stream of detokenized text. Text that might be the start of a
// stop string is held back until it is known not to be; a matched stop string and everything
// after it are dropped (OpenAI semantics).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace phx::sampler {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Feeds newly decoded text; returns the text that is safe to emit now. After a match,
  // stopped() is true and further input is ignored.
  std::string Push(std::string_view text);
  // End of stream: returns whatever was held back (no stop string can complete any more).
  std::string Flush();
  bool stopped() const { return stopped_; }
  // The stop string that matched, if any.
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace phx::sampler
