#include "runtime/chat/reasoning.h"

#include "base/strings.h"

namespace phx::chat {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool IsWs(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t PartialTagSuffix(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

absl::StatusOr<ReasoningFormat> ParseReasoningFormat(std::string_view name) {
  if (name == "none") return ReasoningFormat::kNone;
  if (name == "deepseek") return ReasoningFormat::kDeepseek;
  return absl::InvalidArgumentError(
      StrCat("--reasoning-format: '", name, "' is not one of none, deepseek"));
}

bool TemplateThinks(std::string_view src) {
  return src.find(kOpen) != std::string_view::npos || src.find(kClose) != std::string_view::npos;
}

bool PromptOpensThink(const RenderedPrompt& p) {
  const std::string& t = p.text;
  auto template_written = [&](size_t at, size_t len) {
    for (const ByteRange& r : p.user_spans) {
      if (r.begin < at + len && at < r.end) return false;
    }
    return true;
  };
  size_t open = std::string::npos;
  for (size_t at = t.rfind(kOpen); at != std::string::npos;
       at = at == 0 ? std::string::npos : t.rfind(kOpen, at - 1)) {
    if (template_written(at, kOpen.size())) {
      open = at;
      break;
    }
  }
  if (open == std::string::npos) return false;
  for (size_t at = t.find(kClose, open); at != std::string::npos; at = t.find(kClose, at + 1)) {
    if (template_written(at, kClose.size())) return false;
  }
  // Only what follows the template's last text can be generated inside it: the block must be
  // open at the very end (nothing but white space after it, or user text never follows it).
  for (const ByteRange& r : p.user_spans) {
    if (r.begin > open) return false;
  }
  return true;
}

ReasoningSplitter::ReasoningSplitter(ReasoningFormat format, bool in_reasoning)
    : format_(format),
      state_(format == ReasoningFormat::kNone ? State::kContent
             : in_reasoning                   ? State::kReasoning
                                              : State::kStart) {}

ReasoningSplitter::Delta ReasoningSplitter::Push(std::string_view text) {
  Delta d;
  pending_.append(text);
  Drain(&d, false);
  return d;
}

ReasoningSplitter::Delta ReasoningSplitter::Finish() {
  Delta d;
  Drain(&d, true);
  return d;
}

ReasoningSplitter::Delta ReasoningSplitter::Split(ReasoningFormat format, bool in_reasoning,
                                                  std::string_view text) {
  ReasoningSplitter s(format, in_reasoning);
  Delta d = s.Push(text);
  Delta f = s.Finish();
  d.reasoning += f.reasoning;
  d.content += f.content;
  return d;
}

void ReasoningSplitter::Drain(Delta* d, bool final) {
  while (!pending_.empty()) {
    switch (state_) {
      case State::kContent:
        d->content += pending_;
        pending_.clear();
        return;
      case State::kStart: {
        // White space, then "<think>" opens the block; anything else is the answer.
        size_t i = 0;
        while (i < pending_.size() && IsWs(pending_[i])) ++i;
        const std::string_view rest = std::string_view(pending_).substr(i);
        if (rest.substr(0, kOpen.size()) == kOpen) {
          pending_.erase(0, i + kOpen.size());
          state_ = State::kReasoning;
          continue;
        }
        if (!final && (rest.empty() || kOpen.substr(0, rest.size()) == rest)) return;
        state_ = State::kContent;
        continue;
      }
      case State::kReasoning: {
        if (!reasoning_started_) {
          size_t i = 0;
          while (i < pending_.size() && IsWs(pending_[i])) ++i;
          pending_.erase(0, i);
          if (pending_.empty()) return;
          reasoning_started_ = true;
        }
        const size_t close = pending_.find(kClose);
        if (close != std::string::npos) {
          std::string_view body = std::string_view(pending_).substr(0, close);
          while (!body.empty() && IsWs(body.back())) body.remove_suffix(1);
          d->reasoning.append(body);
          pending_.erase(0, close + kClose.size());
          state_ = State::kAfterThink;
          continue;
        }
        // Hold back a partial "</think>" and trailing white space (dropped if the tag follows).
        size_t keep = final ? 0 : PartialTagSuffix(pending_, kClose);
        size_t end = pending_.size() - keep;
        if (!final) {
          while (end > 0 && IsWs(pending_[end - 1])) --end;
        } else {
          while (end > 0 && IsWs(pending_[end - 1])) --end;
        }
        d->reasoning.append(pending_, 0, end);
        pending_.erase(0, final ? pending_.size() : end);
        return;
      }
      case State::kAfterThink: {
        size_t i = 0;
        while (i < pending_.size() && IsWs(pending_[i])) ++i;
        pending_.erase(0, i);
        if (pending_.empty()) return;
        state_ = State::kContent;
        continue;
      }
    }
  }
}

}  // namespace phx::chat
