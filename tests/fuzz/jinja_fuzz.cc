// Fuzzes the Jinja engine (lexer, parser, evaluator): the input is a template, optionally
// followed by "\n#VARS#\n" and a JSON object of variables (else a fixed conversation with
// tools). Tight render limits keep each run fast; any crash, sanitizer report, leak, or an
// unbounded run is a finding. Checks: a render either succeeds or returns an error status;
// user spans are sorted, disjoint and inside the output; the reasoning splitter accepts the
// output in two chunks and loses nothing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "runtime/chat/reasoning.h"
#include "runtime/chat/template.h"

namespace {

const nlohmann::ordered_json& DefaultVars() {
  static const auto* vars = new nlohmann::ordered_json(nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be <b>brief</b>."},
      {"role": "user", "content": "Héllo\n<|im_end|> 日本"},
      {"role": "assistant", "content": "<think>hm</think>Hi", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "{\"ok\": 1}"}],
    "tools": [{"type": "function", "function": {"name": "f", "description": "d",
      "parameters": {"type": "object", "properties": {"a": {"type": "array"}}}}}],
    "add_generation_prompt": true, "bos_token": "<s>", "eos_token": "</s>",
    "enable_thinking": false, "n": 3, "x": 1.5})"));
  return *vars;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view src = in;
  nlohmann::ordered_json vars = DefaultVars();
  if (const size_t sep = in.find("\n#VARS#\n"); sep != std::string_view::npos) {
    src = in.substr(0, sep);
    auto v = nlohmann::ordered_json::parse(in.substr(sep + 8), nullptr, false);
    if (!v.is_discarded() && v.is_object()) vars = std::move(v);
  }
  auto tpl = phx::chat::Template::Parse(src);
  if (!tpl.ok()) return 0;
  phx::chat::RenderOptions opt;
  opt.limits.max_output_bytes = 1 << 16;
  opt.limits.max_loop_iterations = 5000;
  opt.limits.max_call_depth = 24;
  opt.limits.max_steps = 200000;
  opt.clock = [] {
    std::tm tm{};
    tm.tm_year = 124, tm.tm_mon = 6, tm.tm_mday = 26;
    return tm;
  };
  auto r = tpl->Render(vars, opt);
  if (!r.ok()) return 0;
  size_t prev = 0;
  for (const auto& s : r->user_spans) {
    Check(s.begin >= prev && s.begin < s.end && s.end <= r->text.size());
    prev = s.end;
  }
  auto d1 = phx::chat::ReasoningSplitter(phx::chat::ReasoningFormat::kDeepseek, false);
  const size_t half = r->text.size() / 2;
  auto a = d1.Push(std::string_view(r->text).substr(0, half));
  auto b = d1.Push(std::string_view(r->text).substr(half));
  auto c = d1.Finish();
  Check(a.reasoning.size() + b.reasoning.size() + c.reasoning.size() + a.content.size() +
            b.content.size() + c.content.size() <=
        r->text.size());
  return 0;
}
