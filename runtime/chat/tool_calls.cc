#include "runtime/chat/tool_calls.h"

#include "runtime/chat/tool_json_scan.h"
#include "runtime/chat/tool_parse.h"

namespace phx::chat {

using toolparse::Analysis;
using toolparse::PCall;

namespace {

using tooljson::kBad;
using tooljson::kIncomplete;
using tooljson::ParseState;
using tooljson::SkipWs;
using tooljson::StartsWith;
using json = nlohmann::json;

constexpr std::string_view kHermesOpen = "<tool_call>";
constexpr std::string_view kHermesClose = "</tool_call>";
constexpr std::string_view kMistralStart = "[TOOL_CALLS]";
constexpr std::string_view kPythonTag = "<|python_tag|>";
constexpr std::string_view kLlamaStart = "{\"name\"";
// Mistral's [TOOL_CALLS] is a control token that detokenized text may not show: a call list
// at the very start of the answer counts too.
constexpr std::string_view kMistralBare = "[{\"name\"";
constexpr std::string_view kDsCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kDsCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kDsCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kDsCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kDsSep = "<｜tool▁sep｜>";
constexpr std::string_view kDsJson = "\n```json\n";
constexpr std::string_view kDsJsonEnd = "\n```";
constexpr std::string_view kCmdRStart = "Action:";
constexpr std::string_view kCmdRJson = "```json";
constexpr std::string_view kCmdRFence = "```";
constexpr std::string_view kR7BStart = "<|START_ACTION|>";
constexpr std::string_view kR7BEnd = "<|END_ACTION|>";

struct Region {
  std::vector<PCall> calls;
  bool bad = false;  // the text from bad_at on is not a call in the format
  size_t bad_at = 0;
  bool closed = false;  // the call section ended at `end`; what follows is plain text
  size_t end = 0;
};

bool AllWs(std::string_view s) { return SkipWs(s, 0) == s.size(); }

// A call object at s[i]: {"name"|"tool_name": .., "arguments"|"parameters": ..}. Returns the
// object's end, kIncomplete or kBad.
size_t ObjectCall(std::string_view s, size_t i, PCall* c, ParseState* st) {
  if (i >= s.size()) return kIncomplete;
  if (s[i] != '{') return kBad;
  const tooljson::Scan& sc = tooljson::ScanContainer(s, i, &st->memo);
  if (sc.end == kBad) return kBad;
  for (const tooljson::Member& m : sc.members) {
    if (m.key == "name" || m.key == "tool_name") {
      if (m.end == kIncomplete) continue;
      const tooljson::Decoded name = tooljson::DecodeString(s, m.begin, &st->memo);
      if (!name.ok) return kBad;
      c->name = name.text;
      c->name_done = name.closed;
    } else if (m.key == "arguments" || m.key == "parameters") {
      c->args = s.substr(m.begin, (m.end == kIncomplete ? s.size() : m.end) - m.begin);
      c->args_done = m.end != kIncomplete;
    }
  }
  return sc.end;
}

Region Fail(Region r, size_t at) {
  r.bad = true;
  r.bad_at = at;
  return r;
}

// <tool_call>{..}</tool_call> units, blanks between.
Region Hermes(std::string_view s, size_t i, bool final, ParseState* st) {
  Region r;
  while (true) {
    const size_t unit = i;
    const int open = StartsWith(s, i, kHermesOpen);
    if (open == 0) return r;
    if (open < 0) {
      if (r.calls.empty()) return Fail(r, unit);
      r.closed = true;
      r.end = unit;
      return r;
    }
    PCall c;
    c.unit_begin = unit;
    const size_t e = ObjectCall(s, SkipWs(s, i + kHermesOpen.size()), &c, st);
    if (e == kBad) return Fail(r, unit);
    r.calls.push_back(std::move(c));
    if (e == kIncomplete) return r;
    i = SkipWs(s, e);
    const int close = StartsWith(s, i, kHermesClose);
    if (close < 0) {
      r.calls.pop_back();
      return Fail(r, unit);
    }
    if (close == 0) {
      // The answer ended right after the object (no closing tag): a call all the same.
      r.calls.back().complete = final;
      return r;
    }
    r.calls.back().complete = true;
    i += kHermesClose.size();
    const size_t next = SkipWs(s, i);
    if (next == s.size() || StartsWith(s, next, kHermesOpen) >= 0) {
      if (next == s.size()) {
        r.closed = true;
        r.end = next;
        return r;
      }
      i = next;
      continue;
    }
    r.closed = true;
    r.end = i;  // the text after the calls, blanks included
    return r;
  }
}

// `lead` (after blanks), then a JSON array of call objects, then `tail` (after blanks).
Region ArrayCalls(std::string_view s, size_t i, std::string_view lead, std::string_view tail,
                  bool final, ParseState* st) {
  Region r;
  const size_t region = i;
  if (!lead.empty()) {
    i = SkipWs(s, i);
    const int m = StartsWith(s, i, lead);
    if (m <= 0) return m == 0 ? r : Fail(r, region);
    i += lead.size();
  }
  i = SkipWs(s, i);
  if (i >= s.size()) return r;
  if (s[i] != '[') return Fail(r, region);
  i = SkipWs(s, i + 1);
  while (true) {
    PCall c;
    c.unit_begin = i;
    const size_t e = ObjectCall(s, i, &c, st);
    if (e == kBad) return Fail(Region{}, region);
    r.calls.push_back(std::move(c));
    if (e == kIncomplete) return r;
    r.calls.back().complete = true;
    i = SkipWs(s, e);
    if (i >= s.size()) return r;
    if (s[i] == ',') {
      i = SkipWs(s, i + 1);
      continue;
    }
    if (s[i] != ']') return Fail(Region{}, region);
    i = SkipWs(s, i + 1);
    break;
  }
  if (!tail.empty()) {
    const int m = StartsWith(s, i, tail);
    if (m < 0) return Fail(Region{}, region);
    if (m == 0 && !final) return r;
    if (m == 1) i += tail.size();
  }
  r.closed = true;
  r.end = SkipWs(s, i);
  return r;
}

Region DeepSeek(std::string_view s, size_t i, bool final, ParseState* st) {
  Region r;
  i += kDsCallsBegin.size();
  while (true) {
    const size_t unit = i;
    i = SkipWs(s, i);
    const int begin = StartsWith(s, i, kDsCallBegin);
    if (begin == 0) return r;
    if (begin < 0) {
      const int end = StartsWith(s, i, kDsCallsEnd);
      if (end == 0) return r;
      if (end < 0 || r.calls.empty()) return Fail(r, unit);
      r.closed = true;
      r.end = SkipWs(s, i + kDsCallsEnd.size());
      return r;
    }
    i += kDsCallBegin.size();
    PCall c;
    c.unit_begin = unit;
    const size_t sep = s.find(kDsSep, i);
    if (sep == std::string_view::npos) {
      if (s.find('\n', i) != std::string_view::npos) return Fail(r, unit);
      return r;
    }
    const size_t nl = s.find('\n', sep);
    if (nl == std::string_view::npos) return r;
    c.name = s.substr(sep + kDsSep.size(), nl - sep - kDsSep.size());
    c.name_done = true;
    const int fence = StartsWith(s, nl, kDsJson);
    if (fence < 0) return Fail(r, unit);
    r.calls.push_back(c);
    if (fence == 0) return r;
    i = nl + kDsJson.size();
    if (i >= s.size()) return r;
    if (s[i] != '{') {
      r.calls.pop_back();
      return Fail(r, unit);
    }
    const size_t e = tooljson::SkipValue(s, i, &st->memo);
    if (e == kBad) {
      r.calls.pop_back();
      return Fail(r, unit);
    }
    PCall& last = r.calls.back();
    last.args = s.substr(i, (e == kIncomplete ? s.size() : e) - i);
    last.args_done = e != kIncomplete;
    if (e == kIncomplete) return r;
    i = e;
    for (std::string_view lit : {kDsJsonEnd, kDsCallEnd}) {
      const int m = StartsWith(s, i, lit);
      if (m < 0) {
        r.calls.pop_back();
        return Fail(r, unit);
      }
      if (m == 0) {
        last.complete = final;
        return r;
      }
      i += lit.size();
    }
    last.complete = true;
    if (SkipWs(s, i) == s.size()) {
      r.closed = final;
      r.end = s.size();
      if (final) return r;
    }
  }
}

// The generic format: one JSON object, {"tool_calls": [..]} or {"response": ".."}.
Analysis Generic(std::string_view s, ParseState* st) {
  Analysis a;
  const size_t i = SkipWs(s, 0);
  if (i == s.size()) return a;
  if (s[i] != '{') {
    a.content = s;
    return a;
  }
  const tooljson::Scan& root = tooljson::ScanContainer(s, i, &st->memo);
  // Members before a malformed one count (they decode the same as while they streamed).
  bool bad = false, calls = false;
  for (const tooljson::Member& m : root.members) {
    if (bad) break;
    if (m.key == "response" && !a.response) {  // a repeated key: the first one counts
      a.response = true;
      const tooljson::Decoded text = tooljson::DecodeString(s, m.begin, &st->memo);
      bad = !text.ok;
      a.content = text.text;  // a bad string: what decoded before the fault
    } else if (m.key == "tool_calls" && !calls) {
      calls = true;
      if (s[m.begin] != '[') {
        bad = true;
        break;
      }
      const tooljson::Scan& arr = tooljson::ScanContainer(s, m.begin, &st->memo);
      for (const tooljson::Member& e : arr.members) {
        PCall c;
        c.unit_begin = e.begin;
        const size_t end = ObjectCall(s, e.begin, &c, st);
        if (end == kBad) {
          bad = true;
          break;
        }
        c.complete = end != kIncomplete;
        a.calls.push_back(std::move(c));
      }
    }
  }
  return a;
}

// Whether a complete call's arguments are a JSON object.
bool ArgsValid(const PCall& c) {
  if (!c.complete || !c.name_done || !c.args_done || c.name.empty()) return false;
  const json j = json::parse(c.args, nullptr, /*allow_exceptions=*/false);
  return j.is_object();
}

// Where `marker` first occurs in s (npos: nowhere yet), searching only the text that came
// since the last search.
size_t FindMarker(std::string_view s, std::string_view marker, ParseState* st) {
  if (st->marker_at != kIncomplete) return st->marker_at;
  const size_t from = std::min(st->marker_from, s.size());
  const size_t m = s.find(marker, from);
  st->memo.Count(s.size() - from);
  if (m != std::string_view::npos) {
    st->marker_at = m;
    return m;
  }
  // A later match starts no earlier than the longest end of s that begins the marker.
  st->marker_from = s.size() - tooljson::PartialSuffix(s, marker);
  return std::string_view::npos;
}

}  // namespace

Analysis toolparse::Analyze(ToolFormat f, std::string_view s, bool final, ParseState* st) {
  if (f == ToolFormat::kGeneric) {
    Analysis a = Generic(s, st);
    if (final) {
      std::erase_if(a.calls, [](const PCall& c) { return !ArgsValid(c); });
      // Neither a call nor a response (not the format, or cut off): the text as it came.
      if (a.calls.empty() && !a.response) a.content = s;
    }
    return a;
  }
  // Where the call section starts, and the marker text may start with.
  size_t m = std::string_view::npos;
  std::string_view marker;
  switch (f) {
    case ToolFormat::kHermes:
      marker = kHermesOpen;
      break;
    case ToolFormat::kMistral:
      marker = kMistralStart;
      break;
    case ToolFormat::kDeepSeekR1:
      marker = kDsCallsBegin;
      break;
    case ToolFormat::kCommandR:
      marker = kCmdRStart;
      break;
    case ToolFormat::kCommandR7B:
      marker = kR7BStart;
      break;
    case ToolFormat::kLlama3:
    case ToolFormat::kGeneric:
      marker = kPythonTag;
      break;
  }
  Analysis a;
  size_t hold = 0;
  bool bare = false;
  if (f == ToolFormat::kLlama3 || f == ToolFormat::kMistral) {
    // A bare call at the very start of the answer, else one after the marker.
    const size_t i = SkipWs(s, 0);
    const int r = StartsWith(s, i, f == ToolFormat::kLlama3 ? kLlamaStart : kMistralBare);
    if (r == 1) {
      m = i;
      bare = true;
    }
    if (r == 0 && !final) return a;  // maybe a call: hold everything back
  }
  if (m == std::string_view::npos) m = FindMarker(s, marker, st);
  if (m == std::string_view::npos) {
    if (!final) hold = tooljson::PartialSuffix(s, marker);
    a.content = s.substr(0, s.size() - hold);
    return a;
  }
  a.content = s.substr(0, m);
  Region r;
  switch (f) {
    case ToolFormat::kHermes:
      r = Hermes(s, m, final, st);
      break;
    case ToolFormat::kMistral:
      r = ArrayCalls(s, bare ? m : m + kMistralStart.size(), "", "", final, st);
      break;
    case ToolFormat::kCommandR:
      r = ArrayCalls(s, m + kCmdRStart.size(), kCmdRJson, kCmdRFence, final, st);
      break;
    case ToolFormat::kCommandR7B:
      r = ArrayCalls(s, m + kR7BStart.size(), "", kR7BEnd, final, st);
      break;
    case ToolFormat::kDeepSeekR1:
      r = DeepSeek(s, m, final, st);
      break;
    case ToolFormat::kLlama3: {
      const size_t at =
          s.compare(m, kPythonTag.size(), kPythonTag) == 0 ? SkipWs(s, m + kPythonTag.size()) : m;
      PCall c;
      c.unit_begin = m;
      const size_t e = ObjectCall(s, at, &c, st);
      if (e == kBad) {
        r = Fail(r, m);
        break;
      }
      c.complete = e != kIncomplete;
      r.calls.push_back(std::move(c));
      if (e != kIncomplete) {
        r.closed = true;
        r.end = SkipWs(s, e);
      }
      break;
    }
    case ToolFormat::kGeneric:
      break;
  }
  if (final) {
    // Only whole calls with object arguments; the first that is not ends the section.
    for (size_t k = 0; k < r.calls.size(); ++k) {
      if (ArgsValid(r.calls[k])) continue;
      if (!r.bad || r.calls[k].unit_begin < r.bad_at) {
        r.bad = true;
        r.bad_at = r.calls[k].unit_begin;
      }
      r.calls.resize(k);
      break;
    }
    if (r.bad) {
      // Nothing well formed: the section's text from its marker on.
      a.content_tail = s.substr(r.calls.empty() ? m : r.bad_at);
    } else if (r.closed && !AllWs(s.substr(r.end))) {
      a.content_tail = s.substr(r.end);
    }
  }
  a.calls = std::move(r.calls);
  return a;
}

const char* ToolFormatName(ToolFormat f) {
  switch (f) {
    case ToolFormat::kGeneric:
      return "generic";
    case ToolFormat::kHermes:
      return "hermes";
    case ToolFormat::kLlama3:
      return "llama3";
    case ToolFormat::kMistral:
      return "mistral";
    case ToolFormat::kDeepSeekR1:
      return "deepseek-r1";
    case ToolFormat::kCommandR:
      return "command-r";
    case ToolFormat::kCommandR7B:
      return "command-r7b";
  }
  return "generic";
}

ToolFormat DetectToolFormat(std::string_view t) {
  auto has = [t](std::string_view s) { return t.find(s) != std::string_view::npos; };
  // Formats of their own that llama.cpp also handles apart (functionary, firefunction): the
  // generic format until they get theirs.
  if (has(">>>all") || has("<function=") || has("functools[")) return ToolFormat::kGeneric;
  if (has(kDsCallsBegin)) return ToolFormat::kDeepSeekR1;
  if (has(kR7BStart)) return ToolFormat::kCommandR7B;
  if (has(kCmdRStart) && has(kCmdRJson)) return ToolFormat::kCommandR;
  if (has(kMistralStart)) return ToolFormat::kMistral;
  if (has(kHermesOpen)) return ToolFormat::kHermes;
  if (has("<|start_header_id|>") && (has(kPythonTag) || has("\"parameters\": "))) {
    return ToolFormat::kLlama3;
  }
  return ToolFormat::kGeneric;
}

}  // namespace phx::chat
