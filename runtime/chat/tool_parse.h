// The tool-call parser's analysis of an answer (whole or as far as it streamed), shared by
// ParseToolCalls and ToolCallStream (tool_calls.cc, tool_call_stream.cc). Internal.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "runtime/chat/tool_calls.h"
#include "runtime/chat/tool_json_scan.h"

namespace phx::chat::toolparse {

// A call as far as the text goes.
struct PCall {
  std::string_view name;  // in the text or the scan memo
  bool name_done = false;
  std::string_view args;
  bool args_done = false;
  bool complete = false;  // the call's whole unit (closing tags included) is there
  size_t unit_begin = 0;  // where its text starts (a malformed call's text becomes content)
};

// Views into the text or the scan memo (nothing is copied: a streamed analysis costs what its
// scans cost).
struct Analysis {
  std::string_view content, content_tail;  // the content is the two, one after the other
  std::vector<PCall> calls;
  bool response = false;  // generic: the answer is a {"response": ..}
};

// The answer `s` split into content and calls; `final`: the answer is whole (malformed calls
// become content), else what the text allows so far (a possible call start is held back).
// `st` holds what earlier analyses of the same growing text found (a fresh one: from scratch).
Analysis Analyze(ToolFormat f, std::string_view s, bool final, tooljson::ParseState* st);

}  // namespace phx::chat::toolparse
