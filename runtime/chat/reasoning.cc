#include "runtime/chat/reasoning.h"

#include "base/strings.h"

namespace phx::chat {
namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

bool IsWs(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

// Length of the longest suffix of `s` that is a proper prefix of `tag`, a tag whose only '<' is
// its first byte: the suffix starts at the last '<' of the final tag.size() - 1 bytes.
// `*scanned` counts the bytes examined.
size_t PartialTagSuffix(std::string_view s, std::string_view tag, size_t* scanned) {
  const size_t window = std::min(s.size(), tag.size() - 1);
  for (size_t n = 1; n <= window; ++n) {
    ++*scanned;
    if (s[s.size() - n] != '<') continue;
    *scanned += n;
    return s.substr(s.size() - n) == tag.substr(0, n) ? n : 0;
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
    : state_(format == ReasoningFormat::kNone ? State::kContent
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

// pending_ starts with held_ws_ bytes of white space already examined (no tag starts there):
// a later Push looks at its new bytes and at most a partial tag before them, never again at the
// held white space, however long it grows.
void ReasoningSplitter::Drain(Delta* d, bool final) {
  // Past pending_'s white space from `from` on: the index of its first other byte (or size()).
  auto skip_ws = [&](size_t from) {
    size_t i = from;
    while (i < pending_.size() && IsWs(pending_[i])) ++i;
    scanned_ += i - from + (i < pending_.size() ? 1 : 0);
    return i;
  };
  while (!pending_.empty()) {
    switch (state_) {
      case State::kContent:
        d->content += pending_;
        scanned_ += pending_.size();
        pending_.clear();
        held_ws_ = 0;
        return;
      case State::kStart: {
        // White space, then "<think>" opens the block; anything else is the answer.
        const size_t i = skip_ws(held_ws_);
        held_ws_ = i;
        const std::string_view rest = std::string_view(pending_).substr(i);
        scanned_ += std::min(rest.size(), kOpen.size());
        if (rest.substr(0, kOpen.size()) == kOpen) {
          pending_.erase(0, i + kOpen.size());
          held_ws_ = 0;
          state_ = State::kReasoning;
          continue;
        }
        if (!final && (rest.empty() || kOpen.substr(0, rest.size()) == rest)) return;
        held_ws_ = 0;  // the white space is content, examined again only as content
        state_ = State::kContent;
        continue;
      }
      case State::kReasoning: {
        if (!reasoning_started_) {
          pending_.erase(0, skip_ws(0));
          held_ws_ = 0;
          if (pending_.empty()) return;
          reasoning_started_ = true;
        }
        const size_t from = held_ws_;
        const size_t close = pending_.find(kClose, from);
        scanned_ += (close == std::string::npos ? pending_.size() : close + kClose.size()) - from;
        // The text up to `limit` without its trailing white space (held back: dropped if the
        // close tag follows); the held white space needs no second look.
        auto trimmed_end = [&](size_t limit) {
          size_t end = limit;
          while (end > from && IsWs(pending_[end - 1])) --end;
          scanned_ += limit - end + (end > from ? 1 : 0);
          return end == from ? 0 : end;
        };
        if (close != std::string::npos) {
          d->reasoning.append(pending_, 0, trimmed_end(close));
          pending_.erase(0, close + kClose.size());
          held_ws_ = 0;
          state_ = State::kAfterThink;
          continue;
        }
        // Hold back a partial "</think>" and trailing white space (dropped if the tag follows).
        const size_t keep =
            final ? 0
                  : PartialTagSuffix(std::string_view(pending_).substr(from), kClose, &scanned_);
        const size_t end = trimmed_end(pending_.size() - keep);
        d->reasoning.append(pending_, 0, end);
        if (final) {
          pending_.clear();
          held_ws_ = 0;
        } else {
          held_ws_ = pending_.size() - keep - end;
          pending_.erase(0, end);
        }
        return;
      }
      case State::kAfterThink: {
        pending_.erase(0, skip_ws(0));
        held_ws_ = 0;
        if (pending_.empty()) return;
        state_ = State::kContent;
        continue;
      }
    }
  }
}

}  // namespace phx::chat
