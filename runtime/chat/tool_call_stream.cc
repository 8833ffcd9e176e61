// ToolCallStream and ParseToolCalls on top of the analysis in tool_calls.cc (tool_parse.h).
#include "runtime/chat/tool_calls.h"
#include "runtime/chat/tool_parse.h"

namespace phx::chat {

using toolparse::Analysis;
using toolparse::PCall;

namespace {

std::string Cat(std::string_view a, std::string_view b) {
  std::string s;
  s.reserve(a.size() + b.size());
  s.append(a);
  s.append(b);
  return s;
}

}  // namespace

ParsedToolOutput ParseToolCalls(ToolFormat f, std::string_view text) {
  tooljson::ParseState st;
  const Analysis a = toolparse::Analyze(f, text, /*final=*/true, &st);
  ParsedToolOutput out;
  out.content = Cat(a.content, a.content_tail);
  for (const PCall& c : a.calls) out.calls.push_back({std::string(c.name), std::string(c.args)});
  return out;
}

ToolCallStream::Delta ToolCallStream::Push(std::string_view text) {
  text_ += text;
  return Diff(false);
}

ToolCallStream::Delta ToolCallStream::Finish() { return Diff(true); }

size_t ToolCallStream::scanned() const { return scanned_before_ + state_.memo.scanned(); }

ToolCallStream::Delta ToolCallStream::Diff(bool final) {
  if (!incremental_) {  // the reference: the whole text analyzed from scratch
    scanned_before_ += state_.memo.scanned();
    state_ = tooljson::ParseState{};
  }
  const Analysis a = toolparse::Analyze(format_, text_, final, &state_);
  Delta d;
  // The content is a.content then a.content_tail: what lies past the part already sent.
  const size_t size = a.content.size() + a.content_tail.size();
  if (size > emitted_content_) {
    if (emitted_content_ < a.content.size()) {
      d.content = Cat(a.content.substr(emitted_content_), a.content_tail);
    } else {
      d.content = std::string(a.content_tail.substr(emitted_content_ - a.content.size()));
    }
    emitted_content_ = size;
  }
  for (size_t k = 0; k < a.calls.size(); ++k) {
    const PCall& c = a.calls[k];
    if (!c.name_done) break;
    CallDelta cd;
    cd.index = k;
    if (k >= emitted_args_.size()) {
      cd.first = true;
      cd.name = std::string(c.name);
      emitted_args_.push_back(0);
    }
    if (c.args.size() > emitted_args_[k]) {
      cd.arguments = std::string(c.args.substr(emitted_args_[k]));
      emitted_args_[k] = c.args.size();
    }
    if (cd.first || !cd.arguments.empty()) d.calls.push_back(std::move(cd));
  }
  return d;
}

}  // namespace phx::chat
